/**
 * PartitionHost with a real SDK endpoint: two hosts on one log (the local loglet), each with its own store, as a
 * leader and a hot standby; a leader change with a later epoch; invocation ids chosen by the caller.
 */
import { createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import * as restate from '@restatedev/restate-sdk';
import {
  type IngressRequest,
  InputError,
  type InvocationOutcome,
  NotLeaderError,
  newInvocationId,
  parseInvocationId,
  partitionKeyOf,
  RESTATE_INVOCATION_DEFAULTS,
  type SchemaView,
} from '@stead/core';
import { LocalLogStore, type Loglet } from '@stead/log';
import type { PartitionStore, StorageEngine } from '@stead/storage';
import { waitFor } from '@stead/testing';
import { PartitionHost, type PartitionHostOptions } from '../src/host.ts';
import { planInvocation } from '../src/invocation-ids.ts';
import { SupersededError } from '../src/processor.ts';
import { PartitionReader } from '../src/state-machine.ts';
import { openPartitionStorage } from '../src/tables.ts';
import type { Command } from '../src/types.ts';
import { tempDirPerTest } from './helpers.ts';

// ---------- the SDK side ----------

let greeted = 0;
let gateEntered = 0;
let gate = Promise.withResolvers<void>();
const svc = restate.service({
  name: 'G',
  handlers: {
    greet: async (ctx: restate.Context, name: string) => {
      await ctx.run('count', () => {
        greeted++;
      });
      return `hello ${name}`;
    },
    /** Runs until the test opens the gate. */
    gate: async (ctx: restate.Context, name: string) => {
      await ctx.run('wait', async () => {
        gateEntered++;
        await gate.promise;
      });
      return `through ${name}`;
    },
  },
});

let uri = '';
let h2: Http2Server;
beforeAll(async () => {
  h2 = createServer(restate.endpoint().bind(svc).http2Handler());
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  uri = `http://127.0.0.1:${(h2.address() as AddressInfo).port}`;
});
afterAll(async () => {
  gate.resolve();
  await new Promise<void>((r) => h2.close(() => r()));
});

const schema: SchemaView = {
  service: (name) =>
    name === 'G'
      ? {
          name: 'G',
          ty: 'SERVICE',
          handlers: [{ name: 'greet' }, { name: 'gate' }],
          revision: 1,
          deploymentId: 'dp_1',
          public: true,
        }
      : name === 'Obj'
        ? { name: 'Obj', ty: 'VIRTUAL_OBJECT', handlers: [], revision: 1, deploymentId: 'dp_1', public: true }
        : name === 'Wf'
          ? {
              name: 'Wf',
              ty: 'WORKFLOW',
              handlers: [{ name: 'run', ty: 'WORKFLOW' }],
              revision: 1,
              deploymentId: 'dp_1',
              public: true,
            }
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
          services: [{ name: 'G', revision: 1 }],
        }
      : undefined,
};

const request = (handler: string, name: string, over: Partial<IngressRequest> = {}): IngressRequest => ({
  target: { service: 'G', handler },
  body: Buffer.from(JSON.stringify(name)),
  headers: [['content-type', 'application/json']],
  ...over,
});
const text = (o: InvocationOutcome) => (o.ok ? JSON.parse(Buffer.from(o.value).toString()) : `failed: ${o.message}`);

// ---------- planInvocation ----------

describe('planInvocation', () => {
  const plan = (req: IngressRequest) => planInvocation(req, schema, RESTATE_INVOCATION_DEFAULTS);

  it('uses the caller’s id for a plain invocation, else a fresh one', () => {
    const id = newInvocationId(42n).toString();
    expect(plan(request('greet', 'x', { invocationId: id }))).toMatchObject({
      id,
      partitionKey: 42n,
      dedupable: false,
    });
    const a = plan(request('greet', 'x'));
    const b = plan(request('greet', 'x'));
    expect(a.id).not.toBe(b.id);
    expect(a.partitionKey).toBe(parseInvocationId(a.id).partitionKey);
  });

  it('refuses a given id that does not parse or that another partition key owns', () => {
    expect(() => plan(request('greet', 'x', { invocationId: 'inv_nope' }))).toThrow(InputError);
    const keyed = { target: { service: 'Obj', handler: 'h', key: 'k' }, body: new Uint8Array(), headers: [] };
    const wrong = newInvocationId(partitionKeyOf('other')).toString();
    expect(() => plan({ ...keyed, invocationId: wrong })).toThrow(/does not belong to the key 'k'/);
    const right = newInvocationId(partitionKeyOf('k')).toString();
    expect(plan({ ...keyed, invocationId: right }).id).toBe(right);
  });

  it('keeps derived ids: a given id must equal the workflow’s or the idempotent request’s', () => {
    const wf = { target: { service: 'Wf', handler: 'run', key: 'w1' }, body: new Uint8Array(), headers: [] };
    const derived = plan(wf);
    expect(derived.dedupable).toBe(true);
    expect(plan({ ...wf, invocationId: derived.id }).id).toBe(derived.id);
    expect(() => plan({ ...wf, invocationId: newInvocationId(partitionKeyOf('w1')).toString() })).toThrow(
      /does not match the id/,
    );
    const idem = plan(request('greet', 'x', { idempotencyKey: 'k1' }));
    expect(plan(request('greet', 'y', { idempotencyKey: 'k1' })).id).toBe(idem.id);
  });
});

// ---------- hosts ----------

describe('partition hosts on one log', () => {
  const tempDir = tempDirPerTest('stead-host-');
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    gate.resolve();
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
    gate = Promise.withResolvers<void>();
    gateEntered = 0;
  });

  /** One log store shared by the hosts of the test (partition 0's log). */
  async function sharedLog(): Promise<Loglet> {
    const log = await LocalLogStore.open(join(tempDir(), 'log'));
    cleanups.push(() => log.close());
    return log.loglet(0);
  }

  interface TestHost {
    host: PartitionHost;
    store: PartitionStore;
    lost: [number, number, number][];
    fatal: unknown[];
  }

  /** A host of partition 0 (of 1) following `loglet` into its own store. */
  async function startHost(name: string, loglet: Loglet, extra: Partial<PartitionHostOptions> = {}) {
    const storage: StorageEngine = await openPartitionStorage(join(tempDir(), name));
    const store = await storage.openPartition(0);
    const lost: [number, number, number][] = [];
    const fatal: unknown[] = [];
    const host = new PartitionHost({
      partitions: 1,
      schema,
      instance: name,
      log: () => {},
      onFatal: (err) => fatal.push(err),
      onLeadershipLost: (p, epoch, by) => lost.push([p, epoch, by]),
      commitIntervalMs: 20,
      ...extra,
    });
    await host.addPartition(0, loglet, store);
    cleanups.push(async () => {
      await host.close();
      await storage.close();
    });
    const t: TestHost = { host, store, lost, fatal };
    return t;
  }

  /** Every row of a store but its applied offset (written when the store commits, which is each replica's own). */
  async function rows(store: PartitionStore): Promise<[string, string][]> {
    const all = [...(await store.scan('')), ...(await store.scan('J'))];
    return all
      .filter(([k]) => k !== 'mapplied')
      .map(([k, v]) => [Buffer.from(k, 'latin1').toString('hex'), Buffer.from(v).toString('hex')]);
  }

  /** Waits until every host has applied the whole log (its tail read again at each check). */
  const caughtUp = (hosts: TestHost[], loglet: Loglet) =>
    waitFor(
      async () => {
        const tail = await loglet.tail();
        return hosts.every((t) => t.host.status()[0].appliedOffset === tail - 1n);
      },
      { what: 'the hosts to apply the whole log' },
    );

  it('a follower applies what the leader applies, and refuses requests; the leader answers them', async () => {
    const loglet = await sharedLog();
    const a = await startHost('a', loglet);
    const b = await startHost('b', loglet);
    await a.host.lead(0, 1);
    expect(a.host.status()).toEqual([
      expect.objectContaining({ partition: 0, role: 'leader', epoch: 1, backlog: expect.any(Number) }),
    ]);
    expect(b.host.status()[0]).toMatchObject({ role: 'follower', epoch: 0 });

    const greetedBefore = greeted;
    const r1 = await a.host.call(request('greet', 'ann'));
    expect(text(r1.outcome)).toBe('hello ann');
    const sent = await a.host.send(request('greet', 'bob'));
    expect(sent.status).toBe('Accepted');
    // (Completed invocations are kept for their retention.)
    await waitFor(async () => (await new PartitionReader(a.store).status(sent.invocationId))?.phase === 'completed', {
      what: 'the sent invocation to complete',
    });

    const refused = b.host.call(request('greet', 'eve'));
    await expect(refused).rejects.toThrow(NotLeaderError);
    await expect(refused).rejects.toMatchObject({ partition: 0, code: 'NOT_LEADER', status: 503 });
    await expect(b.host.attach({ invocationId: r1.invocationId }, 'output')).rejects.toThrow(NotLeaderError);
    await expect(b.host.pinnedInvocations('dp_1')).resolves.toBe(0);

    await caughtUp([a, b], loglet);
    // Only the leader performed effects: each handler ran once, though both replicas applied its Invoke.
    expect(greeted - greetedBefore).toBe(2);
    const leaderRows = await rows(a.store);
    expect(leaderRows.length).toBeGreaterThan(3);
    expect(await rows(b.store)).toEqual(leaderRows);
    expect([a.fatal, b.fatal, a.lost, b.lost]).toEqual([[], [], [], []]);
  });

  it('a later epoch takes over: the old leader steps down and its waiting requests get NotLeaderError; the new one finishes the work', async () => {
    const loglet = await sharedLog();
    const a = await startHost('a', loglet);
    const b = await startHost('b', loglet);
    await a.host.lead(0, 1);

    // A request on the old leader that waits until after the change.
    const id = newInvocationId(7n).toString();
    const first = a.host.call(request('gate', 'x', { invocationId: id }));
    await waitFor(() => gateEntered > 0, { what: 'the handler to run on the first leader' });
    const entered = gateEntered;

    await b.host.lead(0, 2);
    await expect(first).rejects.toThrow(NotLeaderError);
    expect(a.lost).toEqual([[0, 1, 2]]);
    expect(a.host.status()[0]).toMatchObject({ role: 'follower', epoch: 1 });
    expect(b.host.status()[0]).toMatchObject({ role: 'leader', epoch: 2 });
    await expect(a.host.call(request('greet', 'late'))).rejects.toThrow(NotLeaderError);

    // The new leader runs the invocation again (a new attempt)...
    await waitFor(() => gateEntered > entered, { what: 'the new leader to start the invocation' });
    // ...and an effect the old leader appends now, under its epoch, is dropped by every replica.
    const stale: Command = {
      kind: 'Effect',
      ts: Date.now(),
      epoch: 1,
      invocationId: id,
      effect: { kind: 'fail', failure: { code: 500, message: 'stale' } },
    };
    const at = await a.host.processor(0)!.append(stale);
    await waitFor(() => b.host.status()[0].appliedOffset >= at, { what: 'the stale effect to be applied' });
    expect((await new PartitionReader(b.store).status(id))?.phase).toBe('invoked');

    // The forwarding ingress retries on the new leader with the same id: it attaches to the same invocation.
    const retried = b.host.call(request('gate', 'x', { invocationId: id }));
    await waitFor(async () => (await new PartitionReader(b.store).status(id))?.sinks.length === 2, {
      what: 'the retry to attach',
    });
    gate.resolve();
    expect(text((await retried).outcome)).toBe('through x');

    await caughtUp([a, b], loglet);
    expect(await rows(a.store)).toEqual(await rows(b.store));
    expect([a.fatal, b.fatal, b.lost]).toEqual([[], [], []]);
  });

  it('lead rejects when a later epoch is already in the log, and stepDown rejects waiting requests', async () => {
    const loglet = await sharedLog();
    const a = await startHost('a', loglet);
    const b = await startHost('b', loglet);
    await b.host.lead(0, 5);
    await caughtUp([a], loglet);
    await expect(a.host.lead(0, 4)).rejects.toThrow(SupersededError);
    expect(a.host.status()[0].role).toBe('follower');
    expect(b.host.status()[0].role).toBe('leader');

    const waiting = b.host.call(request('gate', 'y'));
    await waitFor(() => gateEntered > 0, { what: 'the handler to run' });
    await b.host.stepDown(0);
    await expect(waiting).rejects.toThrow(NotLeaderError);
    expect(b.host.status()[0]).toMatchObject({ role: 'follower', epoch: 5 });
    expect(b.lost).toEqual([]);

    // Leading again later (a new epoch) works on the same processor.
    await b.host.lead(0, 6);
    expect(b.host.status()[0]).toMatchObject({ role: 'leader', epoch: 6 });
  });

  it('two calls with the same invocation id make one invocation, and both callers get its result', async () => {
    const loglet = await sharedLog();
    const a = await startHost('a', loglet);
    await a.host.lead(0, 1);
    const id = newInvocationId(99n).toString();
    const first = a.host.call(request('gate', 'same', { invocationId: id }));
    await waitFor(() => gateEntered > 0, { what: 'the handler to run' });
    const second = a.host.call(request('gate', 'same', { invocationId: id }));
    await waitFor(async () => (await new PartitionReader(a.store).status(id))?.sinks.length === 2, {
      what: 'the second call to attach',
    });
    gate.resolve();
    const [r1, r2] = await Promise.all([first, second]);
    expect([r1.invocationId, r2.invocationId]).toEqual([id, id]);
    expect([text(r1.outcome), text(r2.outcome)]).toEqual(['through same', 'through same']);
    expect(gateEntered).toBe(1);

    // The same with a handler that finishes at once: the second call finds it completed or running.
    const before = greeted;
    const gid = newInvocationId(100n).toString();
    const [g1, g2] = await Promise.all([
      a.host.call(request('greet', 'g', { invocationId: gid })),
      a.host.call(request('greet', 'g', { invocationId: gid })),
    ]);
    expect([text(g1.outcome), text(g2.outcome)]).toEqual(['hello g', 'hello g']);
    expect(greeted - before).toBe(1);
  });

  it('removePartition stops following and rejects what waits on the partition', async () => {
    const loglet = await sharedLog();
    const a = await startHost('a', loglet);
    await a.host.lead(0, 1);
    const waiting = a.host.call(request('gate', 'z'));
    await waitFor(() => gateEntered > 0, { what: 'the handler to run' });
    await a.host.removePartition(0);
    await expect(waiting).rejects.toThrow(NotLeaderError);
    expect(a.host.status()).toEqual([]);
    await expect(a.host.lead(0, 2)).rejects.toThrow(/not hosted/);
  });
});
