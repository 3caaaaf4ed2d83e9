/**
 * The figures a one-process engine reports (invocation counts, attempt durations by outcome, replicas, lag and
 * backlog), driven by a real SDK endpoint and read back from a Prometheus registry as a scrape would.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import * as restate from '@restatedev/restate-sdk';
import { RESTATE_INVOCATION_DEFAULTS, type SchemaView } from '@stead/core';
import { createRegistry } from '@stead/observability';
import { waitFor } from '@stead/testing';
import { Engine } from '../src/engine.ts';
import { registerHostMetrics, registerInvocationMetrics } from '../src/metrics.ts';
import { sdkEndpointPerSuite, tempDirPerTest } from './helpers.ts';

let flakyCalls = 0;
const svc = restate.service({
  name: 'M',
  handlers: {
    ok: async (_ctx: restate.Context, x: string) => x,
    fail: async () => {
      throw new restate.TerminalError('no', { errorCode: 409 });
    },
    /** Fails its first attempt with a retryable error. */
    flaky: async () => {
      flakyCalls++;
      if (flakyCalls === 1) throw new Error('try again');
      return 'ok';
    },
    /** Suspends on a durable sleep (longer than the inactivity timeout), then ends. */
    nap: async (ctx: restate.Context) => {
      await ctx.sleep(300);
      return 'rested';
    },
  },
});

const endpoint = sdkEndpointPerSuite(svc);
const dir = tempDirPerTest('stead-metrics-');

function schema(): SchemaView {
  return {
    service: (name) =>
      name === 'M'
        ? {
            name: 'M',
            ty: 'SERVICE',
            handlers: [{ name: 'ok' }, { name: 'fail' }, { name: 'flaky' }, { name: 'nap' }],
            revision: 1,
            deploymentId: 'dp_1',
            public: true,
          }
        : undefined,
    deployment: (id) =>
      id === 'dp_1'
        ? {
            id,
            uri: endpoint(),
            protocolType: 'BidiStream',
            minProtocolVersion: 5,
            maxProtocolVersion: 6,
            manifestVersion: 3,
            additionalHeaders: {},
            useHttp11: false,
            createdAt: '2024-01-01T00:00:00Z',
            services: [{ name: 'M', revision: 1 }],
          }
        : undefined,
  };
}

/** The value of the sample of `name` whose labels include every one of `labels` (e.g. `role="leader"`). */
function sample(text: string, name: string, ...labels: string[]): number {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const have = (m[2] ?? '').split(',');
    if (labels.every((l) => have.includes(l))) return Number(m[3]);
  }
  throw new Error(`no sample ${name}{${labels.join(',')}} in\n${text}`);
}

describe('engine metrics', () => {
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
  });

  it('counts invocations and times attempts by outcome; reports replicas, lag and backlog', async () => {
    const registry = createRegistry({ component: 'server', node: 'n1' });
    let epoch = 0;
    engine = await Engine.start({
      dataDir: dir(),
      partitions: 2,
      schema: schema(),
      defaults: {
        ...RESTATE_INVOCATION_DEFAULTS,
        inactivityTimeoutMs: 100,
        retry: { ...RESTATE_INVOCATION_DEFAULTS.retry, initialIntervalMs: 10 },
      },
      epochs: { next: async () => ++epoch },
      log: () => {},
      onFatal: (err) => {
        throw err;
      },
      metrics: { invocations: registerInvocationMetrics(registry) },
    });
    registerHostMetrics(registry, engine.host);
    const call = (handler: string) =>
      engine!.call({
        target: { service: 'M', handler },
        body: Buffer.from(JSON.stringify('x')),
        headers: [['content-type', 'application/json']],
      });
    for (let i = 0; i < 3; i++) expect((await call('ok')).outcome.ok).toBe(true);
    expect((await call('fail')).outcome).toMatchObject({ ok: false, code: 409 });
    expect((await call('flaky')).outcome.ok).toBe(true);
    expect((await call('nap')).outcome.ok).toBe(true);

    const text = await registry.metrics();
    expect(sample(text, 'stead_invocations_started_total')).toBe(6);
    // The terminal error ends its invocation with a failure; its attempt ended normally (End).
    expect(sample(text, 'stead_invocations_completed_total')).toBe(5);
    expect(sample(text, 'stead_invocations_failed_total')).toBe(1);
    expect(sample(text, 'stead_invocations_retried_total')).toBe(1);
    const attempts = (outcome: string) =>
      sample(text, 'stead_invoker_attempt_duration_seconds_count', `outcome="${outcome}"`);
    // ok ×3, fail, flaky's second attempt, nap's second attempt
    expect(attempts('completed')).toBe(6);
    expect(attempts('suspended')).toBe(1);
    expect(attempts('retry')).toBe(1);
    expect(attempts('failed')).toBe(0);
    expect(sample(text, 'stead_partition_replicas', 'role="leader"')).toBe(2);
    expect(sample(text, 'stead_partition_replicas', 'role="follower"')).toBe(0);
    for (const p of ['0', '1']) {
      expect(sample(text, 'stead_partition_backlog_records', `partition="${p}"`)).toBeGreaterThanOrEqual(0);
    }
    // Every record appended so far gets applied: the lag of both partitions goes back to 0.
    await waitFor(
      async () => {
        const now = await registry.metrics();
        return ['0', '1'].every((p) => sample(now, 'stead_partition_applied_lag_records', `partition="${p}"`) === 0);
      },
      { what: 'both partitions applied up to their tails' },
    );
    expect(sample(text, 'stead_invoker_running_invocations', 'component="server"', 'node="n1"')).toBe(0);
  });
});
