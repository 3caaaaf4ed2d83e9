import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PartitionStore, StorageEngine } from '@stead/storage';
import * as J from '../src/journal.ts';
import { PartitionReader, PartitionStateMachine } from '../src/state-machine.ts';
import { openPartitionStorage, PartitionTables } from '../src/tables.ts';
import type { Command, Effect } from '../src/types.ts';
import { callCmd, outputCmd, promiseCmd, setStateCmd, sleepCmd } from './sdk-commands.ts';

describe('partition state machine', () => {
  let dir: string;
  let engine: StorageEngine;
  let store: PartitionStore;
  let sm: PartitionStateMachine;
  let reader: PartitionReader;
  const pkOf = (id: string) => (id.startsWith('child') ? 7n : 1n);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stead-sm-'));
    engine = await openPartitionStorage(dir);
    store = engine.partition(0);
    sm = new PartitionStateMachine(store, {
      partitionId: 0,
      partitionKeyOfInvocation: pkOf,
      childId: (parent, index) => `child-${parent}-${index}`,
      awakeable: (id) => {
        const [inv, idx] = id.split('#');
        if (!idx) throw new Error('malformed');
        return { invocationId: inv, signalIndex: Number(idx) };
      },
      idempotentId: (svc, key, handler, ik) => `idem-${svc}-${key}-${handler}-${ik}`,
      workflowId: (name, key) => `wf-${name}-${key}`,
    });
    reader = new PartitionReader(store);
  });
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const invoke = (id: string, extra: Partial<Extract<Command, { kind: 'Invoke' }>['inv']> = {}): Command => ({
    kind: 'Invoke',
    ts: 1000,
    inv: {
      id,
      target: { service: 'Greeter', handler: 'greet' },
      input: Buffer.from('"hi"'),
      headers: [['x-a', 'b']],
      sink: { kind: 'ingress', node: 'local' },
      ...extra,
    },
  });
  const effect = (id: string, e: Extract<Command, { kind: 'Effect' }>['effect'], epoch = 1): Command => ({
    kind: 'Effect',
    ts: 1001,
    epoch,
    invocationId: id,
    effect: e,
  });
  const kinds = (effects: Effect[]) => effects.map((e) => e.kind);

  it('runs an invocation to its output and answers the ingress sink', async () => {
    expect(kinds(await sm.apply(invoke('inv1')))).toEqual(['invoke']);
    const st = await reader.status('inv1');
    expect(st?.phase).toBe('invoked');
    const journal = await reader.journal(st!);
    expect(journal.map((e) => e.type)).toEqual([J.T.Input]);
    await sm.apply(effect('inv1', { kind: 'pin', deploymentId: 'dp_1', protocolVersion: 6 }));
    await sm.apply(effect('inv1', { kind: 'command', entry: outputCmd('"hello"') }));
    const end = await sm.apply(effect('inv1', { kind: 'end' }));
    expect(kinds(end)).toEqual(['respond', 'stopAttempt']);
    const respond = end[0] as Extract<Effect, { kind: 'respond' }>;
    expect(respond.outcome).toEqual({ ok: true, value: Buffer.from('"hello"') });
    expect(await reader.status('inv1')).toBeUndefined();
    expect(await store.scan('J')).toEqual([]);
  });

  it('pins an invocation that starts at once to the deployment its Invoke carries; a waiting one is pinned later', async () => {
    const pin = { deploymentId: 'dp_7', protocolVersion: 6 };
    const tables = new PartitionTables(store);
    await sm.apply(invoke('now', { pin }));
    expect(await reader.status('now')).toMatchObject({ phase: 'invoked', deploymentId: 'dp_7', protocolVersion: 6 });
    // Delayed, or queued behind a busy object key: not pinned yet (the invoker pins it when it starts).
    await sm.apply(invoke('later', { pin, executionTime: 5000, sink: undefined }));
    await sm.apply(invoke('holder', { target: obj(), pin }));
    await sm.apply(invoke('queued', { target: obj(), pin }));
    expect((await reader.status('later'))?.deploymentId).toBeUndefined();
    expect((await reader.status('holder'))?.deploymentId).toBe('dp_7');
    expect((await reader.status('queued'))?.deploymentId).toBeUndefined();
    expect(await tables.pinnedCount('dp_7')).toBe(2);
  });

  it('schedules delayed invocations on a timer', async () => {
    const effects = await sm.apply(invoke('inv2', { executionTime: 5000, sink: undefined }));
    expect(kinds(effects)).toEqual(['timer']);
    expect((await reader.status('inv2'))?.phase).toBe('scheduled');
    const timer = (effects[0] as Extract<Effect, { kind: 'timer' }>).timer;
    expect(kinds(await sm.apply({ kind: 'TimerFired', ts: 5000, timer }))).toEqual(['invoke']);
    // The same timer firing twice is a no-op.
    expect(await sm.apply({ kind: 'TimerFired', ts: 5001, timer })).toEqual([]);
  });

  it('sleeps, suspends and resumes when the timer fires', async () => {
    await sm.apply(invoke('inv3'));
    const e1 = await sm.apply(effect('inv3', { kind: 'command', entry: sleepCmd(9000, 1) }));
    expect(kinds(e1)).toEqual(['timer']);
    await sm.apply(effect('inv3', { kind: 'suspend', waiting: { completions: [1], signals: [], names: [] } }));
    expect((await reader.status('inv3'))?.phase).toBe('suspended');
    const timer = (e1[0] as Extract<Effect, { kind: 'timer' }>).timer;
    expect(kinds(await sm.apply({ kind: 'TimerFired', ts: 9000, timer }))).toEqual(['invoke']);
    const st = await reader.status('inv3');
    expect(st?.phase).toBe('invoked');
    expect((await reader.journal(st!)).map((e) => e.type)).toEqual([J.T.Input, J.T.Sleep, J.T.SleepN]);
  });

  it('resumes at once when a suspension waits on something already there', async () => {
    await sm.apply(invoke('inv4'));
    await sm.apply(effect('inv4', { kind: 'runCompletion', completionId: 1, value: Buffer.from('1') }));
    const e = await sm.apply(
      effect('inv4', { kind: 'suspend', waiting: { completions: [1, 2], signals: [], names: [] } }),
    );
    expect(kinds(e)).toEqual(['invoke']);
    expect((await reader.status('inv4'))?.phase).toBe('invoked');
  });

  it('calls another service through the outbox and completes the caller exactly once', async () => {
    await sm.apply(invoke('inv5'));
    const e = await sm.apply(effect('inv5', { kind: 'command', entry: callCmd('Other', 'run', '"x"', 1, 2) }));
    expect(kinds(e)).toEqual(['notify', 'outbox']);
    const out = e[1] as Extract<Effect, { kind: 'outbox' }>;
    expect(out.partitionKey).toBe(7n);
    expect(out.command.kind).toBe('Invoke');
    const child = (out.command as Extract<Command, { kind: 'Invoke' }>).inv;
    expect(child.id).toBe('child-inv5-1');
    expect(child.sink).toEqual({ kind: 'invocation', invocationId: 'inv5', completionId: 2 });

    // The child runs here too (same store for the test) and ends: a Notify goes to the caller.
    await sm.apply({ ...out.command, dedup: { producer: 'outbox/3', seq: 1 } } as Command);
    await sm.apply(effect(child.id, { kind: 'command', entry: outputCmd('"child"') }));
    const end = await sm.apply(effect(child.id, { kind: 'end' }));
    const notify = end.find((x) => x.kind === 'outbox') as Extract<Effect, { kind: 'outbox' }>;
    expect(notify.command.kind).toBe('Notify');
    const delivered = { ...notify.command, dedup: { producer: 'outbox/9', seq: 4 } } as Command;
    expect(kinds(await sm.apply(delivered))).toEqual(['notify']);
    // A duplicate delivery (same producer and sequence number) is dropped.
    expect(await sm.apply(delivered)).toEqual([]);
    const st = await reader.status('inv5');
    expect((await reader.journal(st!)).map((x) => x.type)).toEqual([
      J.T.Input,
      J.T.Call,
      J.T.CallInvocationIdN,
      J.T.CallN,
    ]);
  });

  it('ignores effects of a deposed leader', async () => {
    await sm.apply({ kind: 'AnnounceLeader', ts: 1, epoch: 5 });
    await sm.apply(invoke('inv6'));
    expect(await sm.apply(effect('inv6', { kind: 'end' }, 4))).toEqual([]);
    expect((await reader.status('inv6'))?.phase).toBe('invoked');
  });

  it('keeps object state per key', async () => {
    await sm.apply(invoke('inv7', { target: { service: 'Counter', handler: 'add', key: 'k1' } }));
    await sm.apply(effect('inv7', { kind: 'command', entry: setStateCmd('count', '3') }));
    const state = await reader.stateOf({ service: 'Counter', handler: 'add', key: 'k1' });
    expect(state.map(([k, v]) => [Buffer.from(k).toString(), Buffer.from(v).toString()])).toEqual([['count', '3']]);
    expect(await reader.stateOf({ service: 'Counter', handler: 'add', key: 'k2' })).toEqual([]);
  });

  it('survives a store reopen with the applied offset', async () => {
    await sm.apply(invoke('inv8'));
    new PartitionTables(store).putAppliedOffset(41n);
    await store.commit();
    await engine.close();
    engine = await openPartitionStorage(dir);
    store = engine.partition(0);
    expect(await new PartitionTables(store).appliedOffset()).toBe(41n);
    expect((await new PartitionReader(store).status('inv8'))?.phase).toBe('invoked');
  });

  const obj = (handlerType: 'EXCLUSIVE' | 'SHARED' = 'EXCLUSIVE', key = 'k1') => ({
    service: 'Counter',
    handler: handlerType === 'SHARED' ? 'get' : 'add',
    key,
    serviceType: 'VIRTUAL_OBJECT' as const,
    handlerType,
  });

  it('runs exclusive handlers one at a time per key, in arrival order; shared ones at once', async () => {
    expect(kinds(await sm.apply(invoke('a', { target: obj() })))).toEqual(['invoke']);
    expect(kinds(await sm.apply(invoke('b', { target: obj() })))).toEqual([]);
    expect(kinds(await sm.apply(invoke('c', { target: obj() })))).toEqual([]);
    expect(kinds(await sm.apply(invoke('other-key', { target: obj('EXCLUSIVE', 'k2') })))).toEqual(['invoke']);
    expect(kinds(await sm.apply(invoke('shared', { target: obj('SHARED') })))).toEqual(['invoke']);
    expect((await reader.status('b'))?.phase).toBe('inboxed');
    await sm.apply(effect('a', { kind: 'command', entry: outputCmd('1') }));
    const endA = await sm.apply(effect('a', { kind: 'end' }));
    expect(endA.filter((e) => e.kind === 'invoke')).toEqual([{ kind: 'invoke', invocationId: 'b' }]);
    expect((await reader.status('c'))?.phase).toBe('inboxed');
    // Killing the holder hands the key to the next in line.
    const kill = await sm.apply({ kind: 'Control', ts: 2000, invocationId: 'b', op: 'kill' });
    expect(kill.filter((e) => e.kind === 'invoke')).toEqual([{ kind: 'invoke', invocationId: 'c' }]);
    expect(kill.find((e) => e.kind === 'respond')).toMatchObject({ outcome: { ok: false, code: 409 } });
  });

  it('cancels a queued invocation at once and a running one through the CANCEL signal', async () => {
    await sm.apply(invoke('a', { target: obj() }));
    await sm.apply(invoke('b', { target: obj() }));
    const cb = await sm.apply({ kind: 'Control', ts: 2000, invocationId: 'b', op: 'cancel' });
    expect(cb.find((e) => e.kind === 'respond')).toMatchObject({
      outcome: { ok: false, code: 409, message: 'cancelled' },
    });
    expect(await reader.status('b')).toBeUndefined();
    // a is running and waits on a call: the cancel is journaled as a signal and sent on to the callee.
    await sm.apply(effect('a', { kind: 'command', entry: callCmd('Other', 'run', '1', 1, 2) }));
    await sm.apply(effect('a', { kind: 'suspend', waiting: { completions: [2], signals: [], names: [] } }));
    const ca = await sm.apply({ kind: 'Control', ts: 2001, invocationId: 'a', op: 'cancel' });
    expect(kinds(ca)).toEqual(['outbox', 'invoke']);
    const toChild = ca[0] as Extract<Effect, { kind: 'outbox' }>;
    expect(toChild.command).toMatchObject({ kind: 'Control', invocationId: 'child-a-1', op: 'cancel' });
    const st = await reader.status('a');
    expect((await reader.journal(st!)).at(-1)?.type).toBe(J.T.SignalN);
  });

  it('keeps idempotent results for the retention period and answers re-submissions from them', async () => {
    await sm.apply(invoke('i1', { retentionMs: 60_000, idempotencyKey: 'k' }));
    await sm.apply(effect('i1', { kind: 'command', entry: outputCmd('"once"') }));
    const end = await sm.apply(effect('i1', { kind: 'end' }));
    const timer = (end.find((e) => e.kind === 'timer') as Extract<Effect, { kind: 'timer' }>).timer;
    expect(timer.wakeAt).toBe(1001 + 60_000);
    const again = await sm.apply(invoke('i1', { reportSubmit: true }));
    expect(kinds(again)).toEqual(['submitted', 'respond']);
    expect(again[0]).toMatchObject({ previouslyAccepted: true });
    expect(again[1]).toMatchObject({ outcome: { ok: true, value: Buffer.from('"once"') } });
    const out = await sm.apply({
      kind: 'Attach',
      ts: 3000,
      invocationId: 'i1',
      sink: { kind: 'ingress', node: 'local' },
      mode: 'output',
    });
    expect(out[0]).toMatchObject({ kind: 'respond', outcome: { ok: true } });
    await sm.apply({ kind: 'TimerFired', ts: timer.wakeAt, timer });
    expect(await reader.status('i1')).toBeUndefined();
    const gone = await sm.apply({
      kind: 'Attach',
      ts: 3000,
      invocationId: 'i1',
      sink: { kind: 'ingress', node: 'local' },
      mode: 'attach',
    });
    expect(gone[0]).toMatchObject({ kind: 'respond', outcome: { ok: false, code: 404 } });
  });

  it('answers output of a running invocation with not-ready and attach when it completes', async () => {
    await sm.apply(invoke('r1', { sink: undefined }));
    const out = await sm.apply({
      kind: 'Attach',
      ts: 1,
      invocationId: 'r1',
      sink: { kind: 'ingress', node: 'local' },
      mode: 'output',
    });
    expect(out[0]).toMatchObject({ kind: 'respond', outcome: { ok: false, code: 470 } });
    expect(
      await sm.apply({
        kind: 'Attach',
        ts: 1,
        invocationId: 'r1',
        sink: { kind: 'ingress', node: 'local' },
        mode: 'attach',
      }),
    ).toEqual([]);
    await sm.apply(effect('r1', { kind: 'command', entry: outputCmd('"done"') }));
    const end = await sm.apply(effect('r1', { kind: 'end' }));
    expect(end[0]).toMatchObject({ kind: 'respond', outcome: { ok: true, value: Buffer.from('"done"') } });
  });

  it('completes workflow promises once and wakes the waiting run', async () => {
    const wf = (handlerType: 'WORKFLOW' | 'SHARED') => ({
      service: 'Signup',
      handler: handlerType === 'WORKFLOW' ? 'run' : 'confirm',
      key: 'u1',
      serviceType: 'WORKFLOW' as const,
      handlerType,
    });
    await sm.apply(invoke('run', { target: wf('WORKFLOW') }));
    expect(
      kinds(await sm.apply(effect('run', { kind: 'command', entry: promiseCmd(J.T2.GetPromise, 'email', 1) }))),
    ).toEqual([]);
    await sm.apply(invoke('sig', { target: wf('SHARED') }));
    const peek = await sm.apply(effect('sig', { kind: 'command', entry: promiseCmd(J.T2.PeekPromise, 'email', 1) }));
    expect(peek[0]).toMatchObject({ kind: 'notify', entry: { type: J.T2.PeekPromiseN } });
    const done = await sm.apply(
      effect('sig', { kind: 'command', entry: promiseCmd(J.T2.CompletePromise, 'email', 2, 'yes') }),
    );
    expect(kinds(done)).toEqual(['outbox', 'notify']);
    expect((done[0] as Extract<Effect, { kind: 'outbox' }>).command).toMatchObject({
      kind: 'Notify',
      invocationId: 'run',
    });
    const twice = await sm.apply(
      effect('sig', { kind: 'command', entry: promiseCmd(J.T2.CompletePromise, 'email', 3, 'no') }),
    );
    const n = twice[0] as Extract<Effect, { kind: 'notify' }>;
    expect(J.fields(n.entry.bytes).has(6)).toBe(true); // failure: already completed
  });
});
