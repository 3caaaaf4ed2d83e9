import { afterEach, describe, expect, it } from '@jest/globals';
import {
  type IngressRequest,
  InputError,
  type IntrospectionRow,
  type InvocationOutcome,
  NotLeaderError,
  OverloadedError,
  partitionKeyOf,
  type RestartOptions,
  type ScheduleDefinition,
  type ScheduleOperation,
  type StateReplacement,
} from '@stead/core';
import type { ServingGrpc } from '@stead/runtime';
import { type LeaderDirectory, RemoteBackend, serveWorker, type WorkerBackend, WorkerClient } from '../src/index.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A worker's engine for these tests: records what reached it and answers as told. */
class ScriptedBackend implements WorkerBackend {
  readonly calls: IngressRequest[] = [];
  readonly cancelled: string[] = [];
  readonly nodeId: string;
  private readonly onCall: (req: IngressRequest, signal?: AbortSignal) => Promise<InvocationOutcome>;
  constructor(nodeId: string, onCall: (req: IngressRequest, signal?: AbortSignal) => Promise<InvocationOutcome>) {
    this.nodeId = nodeId;
    this.onCall = onCall;
  }
  async call(req: IngressRequest, signal?: AbortSignal) {
    this.calls.push(req);
    signal?.addEventListener('abort', () => this.cancelled.push(req.invocationId ?? ''));
    return { invocationId: req.invocationId ?? 'none', outcome: await this.onCall(req, signal) };
  }
  async send(req: IngressRequest) {
    this.calls.push(req);
    return { invocationId: req.invocationId ?? 'none', status: 'Accepted' as const };
  }
  async attach(): Promise<never> {
    throw new InputError('invocation not found', 404);
  }
  async completeAwakeable(): Promise<void> {
    throw new OverloadedError('too many waiters', { status: 429, retryAfterSeconds: 3 });
  }
  async control(): Promise<InvocationOutcome> {
    return { ok: false, code: 409, message: 'already completed', metadata: { why: 'done' } };
  }
  readonly restarts: (RestartOptions | undefined)[] = [];
  async restartAsNew(_id: string, opts?: RestartOptions): Promise<InvocationOutcome> {
    this.restarts.push(opts);
    return { ok: true, value: enc('inv_new'), contentType: 'text/plain' };
  }
  readonly replaced: StateReplacement[] = [];
  async replaceState(req: StateReplacement): Promise<InvocationOutcome> {
    this.replaced.push(req);
    return req.version === undefined ? { ok: true, value: new Uint8Array() } : { ok: false, code: 409, message: 'v' };
  }
  readonly scheduled: { partitionKey: bigint; op: ScheduleOperation }[] = [];
  async schedule(partitionKey: bigint, op: ScheduleOperation): Promise<InvocationOutcome> {
    this.scheduled.push({ partitionKey, op });
    return op.op === 'delete'
      ? { ok: false, code: 404, message: 'no such schedule' }
      : { ok: true, value: enc('created') };
  }
  async pinned() {
    return { count: 2, partitions: [0, 1] };
  }
  scan(): AsyncIterable<IntrospectionRow[]> {
    throw new InputError('this scripted worker keeps no tables');
  }
  status() {
    return { nodeId: this.nodeId, instance: 'i1', partitions: [] };
  }
}

/** A directory whose leader the test moves by hand. */
class MovableDirectory implements LeaderDirectory {
  readonly partitions = 2;
  private current: { nodeId: string; address: string } | undefined;
  private readonly listeners = new Set<() => void>();
  leader() {
    return this.current;
  }
  move(to: { nodeId: string; address: string } | undefined): void {
    this.current = to;
    for (const l of this.listeners) l();
  }
  onChange(listener: () => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const servers: ServingGrpc[] = [];
const clients = new Map<string, WorkerClient>();
const backends: RemoteBackend[] = [];

afterEach(async () => {
  for (const b of backends.splice(0)) b.close();
  for (const c of clients.values()) c.close();
  clients.clear();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function worker(backend: WorkerBackend): Promise<{ nodeId: string; address: string }> {
  const s = await serveWorker(backend, { host: '127.0.0.1', port: 0 });
  servers.push(s);
  return { nodeId: backend.status().nodeId, address: `127.0.0.1:${s.port}` };
}

function remote(dir: LeaderDirectory, unavailableAfterMs = 5_000): RemoteBackend {
  let n = 0;
  const b = new RemoteBackend({
    leaders: dir,
    connect: (address) => {
      let c = clients.get(address);
      if (!c) {
        c = new WorkerClient(address);
        clients.set(address, c);
      }
      return c;
    },
    plan: (req) => ({ invocationId: `inv_${++n}`, partitionKey: partitionKeyOf(req.target.key ?? 'x') }),
    partitionKeyOfQuery: () => 0n,
    partitionKeyOfInvocation: () => 0n,
    partitionKeyOfAwakeable: () => 0n,
    unavailableAfterMs,
  });
  backends.push(b);
  return b;
}

const request: IngressRequest = {
  target: { service: 'Counter', handler: 'add', key: 'k1' },
  body: enc('{"n":1}'),
  headers: [['x-a', 'b']],
  idempotencyKey: 'ik',
};

describe('forwarding to partition leaders', () => {
  it('carries requests, outcomes and errors across gRPC unchanged', async () => {
    const w = new ScriptedBackend('w1', async (req) => ({
      ok: true,
      value: req.body,
      contentType: 'application/json',
    }));
    const dir = new MovableDirectory();
    dir.move(await worker(w));
    const r = remote(dir);
    const called = await r.call(request);
    expect(called.invocationId).toBe('inv_1');
    expect(called.outcome).toEqual({ ok: true, value: expect.anything(), contentType: 'application/json' });
    expect(dec((called.outcome as { value: Uint8Array }).value)).toBe('{"n":1}');
    expect(w.calls[0]).toMatchObject({
      target: request.target,
      headers: [['x-a', 'b']],
      idempotencyKey: 'ik',
      invocationId: 'inv_1',
    });
    await expect(r.attach({ invocationId: 'inv_1' }, 'output')).rejects.toMatchObject({
      name: 'InputError',
      status: 404,
      message: 'invocation not found',
    });
    await expect(r.completeAwakeable('sign_1', { value: enc('x') })).rejects.toMatchObject({
      name: 'OverloadedError',
      status: 429,
      retryAfterSeconds: 3,
    });
    expect(await r.control('inv_1', 'kill')).toEqual({
      ok: false,
      code: 409,
      message: 'already completed',
      metadata: { why: 'done' },
    });
    const restarted = await r.restartAsNew('inv_1');
    expect(restarted.ok && dec(restarted.value)).toBe('inv_new');
    // from and each form of deployment cross the worker RPC.
    await r.restartAsNew('inv_1', { from: 3, deployment: 'keep' });
    await r.restartAsNew('inv_1', { from: 4, deployment: { id: 'dp_x' } });
    await r.restartAsNew('inv_1', { from: 5 });
    expect(w.restarts).toEqual([
      { from: undefined },
      { from: 3, deployment: 'keep' },
      { from: 4, deployment: { id: 'dp_x' } },
      { from: 5 },
    ]);
    expect(await r.pinnedInvocations('dp_1')).toBe(2);
    const replacement: StateReplacement = {
      service: 'Counter',
      key: 'a',
      serviceType: 'VIRTUAL_OBJECT',
      state: [[enc('v'), enc('5')]],
    };
    expect((await r.replaceState(replacement)).ok).toBe(true);
    expect(await r.replaceState({ ...replacement, state: [], version: 'v1' })).toMatchObject({ ok: false, code: 409 });
    expect(w.replaced.map((x) => ({ ...x, state: x.state.map(([k, v]) => [dec(k), dec(v)]) }))).toEqual([
      { service: 'Counter', key: 'a', serviceType: 'VIRTUAL_OBJECT', state: [['v', '5']] },
      { service: 'Counter', key: 'a', serviceType: 'VIRTUAL_OBJECT', state: [], version: 'v1' },
    ]);
    // A schedule's definition and its partition key (a full 64-bit one) cross the worker RPC intact.
    const definition: ScheduleDefinition = {
      id: 'nightly',
      cron: '0 30 2 * * *',
      timeZone: 'Europe/Berlin',
      target: { service: 'Counter', handler: 'add', key: 'a', serviceType: 'VIRTUAL_OBJECT', handlerType: 'EXCLUSIVE' },
      input: enc('{"n":1}'),
      contentType: 'application/json',
      overlap: 'queue',
      retentionMs: 86_400_000,
      journalRetentionMs: 0,
    };
    const pk = 0xfedcba9876543210n;
    expect(await r.schedule(pk, { op: 'create', definition })).toEqual({ ok: true, value: enc('created') });
    expect(await r.schedule(pk, { op: 'delete', id: 'nightly' })).toMatchObject({ ok: false, code: 404 });
    expect(w.scheduled).toEqual([
      { partitionKey: pk, op: { op: 'create', definition } },
      { partitionKey: pk, op: { op: 'delete', id: 'nightly' } },
    ]);
  });

  it('retries on the new leader with the same invocation id after "not the leader"', async () => {
    const dir = new MovableDirectory();
    const next = new ScriptedBackend('w2', async () => ({ ok: true, value: enc('done') }));
    const nextAddr = await worker(next);
    const old = new ScriptedBackend('w1', async () => {
      dir.move(nextAddr);
      throw new NotLeaderError(0);
    });
    dir.move(await worker(old));
    const r = remote(dir);
    const res = await r.call(request);
    expect(res.invocationId).toBe('inv_1');
    expect(old.calls.map((c) => c.invocationId)).toEqual(['inv_1']);
    expect(next.calls.map((c) => c.invocationId)).toEqual(['inv_1']);
    expect(r.retries).toBeGreaterThanOrEqual(1);
  });

  it('cancels a request stuck on a replaced leader and sends it to the new one', async () => {
    const dir = new MovableDirectory();
    const stuck = new ScriptedBackend('w1', () => new Promise<never>(() => {}));
    const next = new ScriptedBackend('w2', async () => ({ ok: true, value: enc('done') }));
    dir.move(await worker(stuck));
    const nextAddr = await worker(next);
    const r = remote(dir);
    const pending = r.call(request);
    const deadline = Date.now() + 5_000;
    while (stuck.calls.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    expect(stuck.calls).toHaveLength(1);
    dir.move(nextAddr);
    const res = await pending;
    expect(res.outcome.ok).toBe(true);
    expect(next.calls.map((c) => c.invocationId)).toEqual(['inv_1']);
    while (stuck.cancelled.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    expect(stuck.cancelled).toEqual(['inv_1']);
  });

  it('answers 503 when a partition has no reachable leader for too long', async () => {
    const dir = new MovableDirectory();
    dir.move({ nodeId: 'gone', address: '127.0.0.1:1' });
    const r = remote(dir, 300);
    await expect(r.send(request)).rejects.toMatchObject({ name: 'OverloadedError', status: 503 });
    expect(r.retries).toBeGreaterThanOrEqual(1);
  });
});
