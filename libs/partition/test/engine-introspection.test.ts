/**
 * SQL introspection of the one-process engine (two partitions, real SDK endpoint over HTTP/2): the leader's
 * invoker shows how often a failing step was retried, which step fails with what error and when the next retry
 * is; an attempt that runs shows as running; rows come from every partition, with one limit over all of them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as restate from '@restatedev/restate-sdk';
import {
  type IntrospectionRow,
  type IntrospectionSource,
  parseInvocationId,
  partitionKeyOf,
  partitionOf,
  RESTATE_INVOCATION_DEFAULTS,
  type SchemaView,
} from '@stead/core';
import { waitFor } from '@stead/testing';
import { Engine } from '../src/engine.ts';
import { sdkEndpointPerSuite } from './helpers.ts';

let gate = Promise.withResolvers<void>();
const flaky = restate.service({
  name: 'Flaky',
  handlers: {
    charge: async (ctx: restate.Context) => {
      await ctx.run('charge card', () => {
        throw new Error('card declined');
      });
    },
    /** Runs until the test opens the gate. */
    hold: async (ctx: restate.Context) => {
      await ctx.run('wait', () => gate.promise);
      return 'done';
    },
  },
});
const counter = restate.object({
  name: 'Counter',
  handlers: {
    set: async (ctx: restate.ObjectContext, n: number) => {
      ctx.set('count', n);
    },
  },
});
const endpoint = sdkEndpointPerSuite(flaky, counter);

function schemaFor(uri: string): SchemaView {
  const service = (name: string, ty: 'SERVICE' | 'VIRTUAL_OBJECT') => ({
    name,
    ty,
    handlers: [],
    revision: 1,
    deploymentId: 'dp_1',
    public: true,
  });
  return {
    service: (name) =>
      name === 'Flaky'
        ? service('Flaky', 'SERVICE')
        : name === 'Counter'
          ? service('Counter', 'VIRTUAL_OBJECT')
          : undefined,
    deployment: (id) =>
      id === 'dp_1'
        ? {
            id,
            uri,
            protocolType: 'BidiStream',
            minProtocolVersion: 5,
            maxProtocolVersion: 6,
            manifestVersion: 3,
            additionalHeaders: {},
            useHttp11: false,
            createdAt: '2024-01-01T00:00:00Z',
            services: [],
          }
        : undefined,
  } as SchemaView;
}

async function all(source: IntrospectionSource, table: string, limit = 1000): Promise<IntrospectionRow[]> {
  const rows: IntrospectionRow[] = [];
  for await (const batch of source.scan(table, { limit })) rows.push(...batch);
  return rows;
}

describe('introspection of the one-process engine', () => {
  let dir: string;
  let engine: Engine;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stead-engine-sql-'));
    let epoch = 0;
    engine = await Engine.start({
      dataDir: dir,
      partitions: 2,
      schema: schemaFor(endpoint()),
      // Retries 400 ms apart: a scan sees the invocation between two attempts.
      defaults: {
        ...RESTATE_INVOCATION_DEFAULTS,
        retry: { initialIntervalMs: 400, factor: 1, maxIntervalMs: 400, maxAttempts: undefined, onMaxAttempts: 'KILL' },
      },
      epochs: { next: async () => ++epoch },
      log: () => {},
      onFatal: (err) => {
        throw err;
      },
    });
  });
  afterEach(async () => {
    gate.resolve();
    await engine.close();
    gate = Promise.withResolvers<void>();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = (service: string, handler: string, body: unknown = null, key?: string) =>
    engine.send({
      target: key === undefined ? { service, handler } : { service, handler, key },
      body: Buffer.from(JSON.stringify(body)),
      headers: [['content-type', 'application/json']],
    });

  it('shows the retries of a failing step, its error and the next retry, and a running attempt', async () => {
    const failing = (await send('Flaky', 'charge')).invocationId;
    const held = (await send('Flaky', 'hold')).invocationId;
    const stateOf = async (id: string) =>
      (await all(engine.introspection, 'sys_invocation_state')).find((r) => r.id === id);
    // Between two attempts (not in flight), after at least two retries.
    const backingOff = await waitFor(
      async () => {
        const r = await stateOf(failing);
        return r && Number(r.retry_count) >= 2 && r.in_flight === false ? r : undefined;
      },
      { what: 'the failing invocation to be retried twice', timeoutMs: 20_000 },
    );
    expect(backingOff).toMatchObject({
      last_attempt_deployment_id: 'dp_1',
      last_failure_related_command_name: 'charge card',
      last_failure_related_command_type: 'Run',
      // Input is command 0 and entry 0; the run is command 1, journaled as entry 1 after the first attempt.
      last_failure_related_command_index: 1,
      last_failure_related_entry_index: 1,
      last_failure_related_entry_type: 'Command: Run',
      partition_key: parseInvocationId(failing).partitionKey,
    });
    expect(String(backingOff.last_failure)).toMatch(/card declined/);
    expect(Number(backingOff.next_retry_at)).toBeGreaterThan(Number(backingOff.last_start_at));

    const invocations = await waitFor(
      async () => {
        const rows = await all(engine.introspection, 'sys_invocation');
        const byId = new Map(rows.map((r) => [r.id, r]));
        return byId.get(failing)?.status === 'backing-off' && byId.get(held)?.status === 'running' ? byId : undefined;
      },
      { what: 'one invocation backing off and one running', timeoutMs: 20_000 },
    );
    expect(invocations.get(failing)).toMatchObject({ target: 'Flaky/charge', target_service_ty: 'service' });
    expect(Number(invocations.get(failing)?.retry_count)).toBeGreaterThanOrEqual(2);
    const journal = (await all(engine.introspection, 'sys_journal')).filter((r) => r.id === failing);
    expect(journal.map((r) => r.entry_type)).toEqual(['Command: Input', 'Command: Run']);
    expect(journal[1]).toMatchObject({ name: 'charge card', completed: false });
  });

  it('reads every partition, with one row limit over all of them', async () => {
    // Keys until both partitions hold an object.
    const keys: string[] = [];
    for (let i = 0; new Set(keys.map((k) => partitionOf(partitionKeyOf(k), 2))).size < 2; i++) keys.push(`k${i}`);
    for (const [i, key] of keys.entries()) await engine.call(reqSet(key, i), undefined);
    const state = await all(engine.introspection, 'state');
    expect(state.map((r) => [r.service_key, r.key, r.value_utf8]).sort()).toEqual(
      keys.map((k, i) => [k, 'count', String(i)]).sort(),
    );
    expect(new Set(state.map((r) => partitionOf(r.partition_key as bigint, 2)))).toEqual(new Set([0, 1]));
    expect(await all(engine.introspection, 'state', 1)).toHaveLength(1);
    const aborted = new AbortController();
    aborted.abort(new Error('gone'));
    const scan = engine.introspection.scan('state', { limit: 10, signal: aborted.signal });
    await expect(scan[Symbol.asyncIterator]().next()).rejects.toThrow('gone');
  });
});

function reqSet(key: string, n: number) {
  return {
    target: { service: 'Counter', handler: 'set', key },
    body: Buffer.from(JSON.stringify(n)),
    headers: [['content-type', 'application/json']] as [string, string][],
  };
}
