/**
 * Durable formats: log records and store values are protobuf (proto/stead/partition/v1) and decode to what
 * was encoded; what does not decode is an error saying what is wrong. Also the indexes that spare full scans
 * (pinned deployments, outbox truncation).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { newInvocationId } from '@stead/core';
import { partition as P } from '@stead/proto';
import { CorruptValueError, type PartitionStore, type StorageEngine } from '@stead/storage';
import { decodeCommand, encodeCommand, FormatError } from '../src/codec.ts';
import { ids } from '../src/engine.ts';
import { PartitionReader, PartitionStateMachine } from '../src/state-machine.ts';
import { openPartitionStorage, PartitionTables } from '../src/tables.ts';
import type { Command, InvocationStatus } from '../src/types.ts';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const sinkInv = { kind: 'invocation' as const, invocationId: 'inv_caller', completionId: 4, entryType: 0x8012 };

const commands: Command[] = [
  {
    kind: 'Invoke',
    ts: 1_700_000_000_123,
    inv: {
      id: 'inv_a',
      target: { service: 'S', handler: 'h', key: '', serviceType: 'VIRTUAL_OBJECT', handlerType: 'SHARED' },
      input: bytes('{"x":1}'),
      headers: [
        ['a', 'b'],
        ['a', 'c'],
      ],
      sink: { kind: 'ingress', node: 'n/1' },
      executionTime: 1_700_000_001_000,
      idempotencyKey: 'idem',
      retentionMs: 86_400_000,
      reportSubmit: true,
    },
    dedup: { producer: 'outbox/3', seq: 2 ** 40 },
  },
  {
    kind: 'Invoke',
    ts: 0,
    inv: { id: 'inv_b', target: { service: 'S', handler: 'h' }, input: bytes(''), headers: [] },
  },
  {
    kind: 'Effect',
    ts: 5,
    epoch: 9,
    invocationId: 'inv_a',
    effect: { kind: 'pin', deploymentId: 'dp_1', protocolVersion: 6 },
  },
  {
    kind: 'Effect',
    ts: 5,
    epoch: 9,
    invocationId: 'inv_a',
    effect: {
      kind: 'command',
      entry: { type: 0x0c00, bytes: bytes('call') },
      target: { serviceType: 'WORKFLOW', handlerType: 'WORKFLOW' },
    },
  },
  {
    kind: 'Effect',
    ts: 5,
    epoch: 9,
    invocationId: 'inv_a',
    effect: { kind: 'command', entry: { type: 2, bytes: bytes('') } },
  },
  {
    kind: 'Effect',
    ts: 5,
    epoch: 9,
    invocationId: 'inv_a',
    effect: { kind: 'runCompletion', completionId: 3, value: bytes('v') },
  },
  {
    kind: 'Effect',
    ts: 5,
    epoch: 9,
    invocationId: 'inv_a',
    effect: { kind: 'runCompletion', completionId: 3, failure: { code: 500, message: 'boom' } },
  },
  {
    kind: 'Effect',
    ts: 5,
    epoch: 9,
    invocationId: 'inv_a',
    effect: { kind: 'suspend', waiting: { completions: [1, 2], signals: [17], names: ['x'] } },
  },
  { kind: 'Effect', ts: 5, epoch: 9, invocationId: 'inv_a', effect: { kind: 'end' } },
  {
    kind: 'Effect',
    ts: 5,
    epoch: 9,
    invocationId: 'inv_a',
    effect: { kind: 'fail', failure: { code: 400, message: 'bad' } },
  },
  { kind: 'Effect', ts: 5, epoch: 9, invocationId: 'inv_a', effect: { kind: 'pause', reason: 'asked' } },
  { kind: 'TimerFired', ts: 6, timer: { wakeAt: 1_800_000_000_000, invocationId: 'inv_a', completionId: -2 } },
  {
    kind: 'Notify',
    ts: 7,
    invocationId: 'inv_a',
    entry: { type: 0x8001, bytes: bytes('n') },
    id: { completionId: 0 },
    dedup: { producer: 'leader/0/1/a', seq: 1 },
  },
  { kind: 'Notify', ts: 7, invocationId: 'inv_a', entry: { type: 0x8001, bytes: bytes('') }, id: { signalId: 1 } },
  { kind: 'Notify', ts: 7, invocationId: 'inv_a', entry: { type: 0x8001, bytes: bytes('') }, id: { signalName: '' } },
  { kind: 'AnnounceLeader', ts: 8, epoch: 1_700_000_000_000 },
  { kind: 'OutboxTruncate', ts: 9, upTo: 12 },
  { kind: 'Control', ts: 10, invocationId: 'inv_a', op: 'restart-as-new', sink: sinkInv, newInvocationId: 'inv_n' },
  {
    kind: 'Control',
    ts: 10,
    invocationId: 'inv_a',
    op: 'restart-as-new',
    newInvocationId: 'inv_n',
    restartFrom: 4,
    restartOn: 'keep',
  },
  {
    kind: 'Control',
    ts: 10,
    invocationId: 'inv_a',
    op: 'restart-as-new',
    newInvocationId: 'inv_n',
    restartFrom: 7,
    restartOn: { deploymentId: 'dp_x', protocolVersion: 6 },
  },
  { kind: 'Control', ts: 10, invocationId: 'inv_a', op: 'kill', dedup: { producer: 'outbox/1', seq: 5 } },
  { kind: 'Attach', ts: 11, invocationId: 'inv_a', sink: { kind: 'ingress', node: 'x' }, mode: 'output' },
  {
    kind: 'ReplaceState',
    ts: 12,
    service: 'Counter',
    key: 'k',
    serviceType: 'WORKFLOW',
    state: [[bytes('a'), bytes('1')]],
    version: 'v',
    sink: { kind: 'ingress', node: 'x' },
  },
  { kind: 'ReplaceState', ts: 12, service: 'Counter', key: '', serviceType: 'VIRTUAL_OBJECT', state: [] },
];

describe('log records', () => {
  it.each(commands.map((c, i) => [`${i} ${c.kind}`, c] as const))('round-trip: %s', (_name, cmd) => {
    const decoded = decodeCommand(encodeCommand(cmd));
    expect(JSON.parse(JSON.stringify(decoded, bufferAsText))).toEqual(JSON.parse(JSON.stringify(cmd, bufferAsText)));
  });

  it('rejects what is not a command, saying what is missing or wrong', () => {
    expect(() => decodeCommand(new Uint8Array([0xff, 0xff, 0xff]))).toThrow();
    expect(() => decodeCommand(P.LogRecord.encode({ ts: 1n }).finish())).toThrow(new FormatError('command is missing'));
    const badOp = P.LogRecord.encode({
      ts: 1n,
      command: { $case: 'control', value: { invocationId: 'i', op: 'explode', restartKeepDeployment: false } },
    }).finish();
    expect(() => decodeCommand(badOp)).toThrow(/control operation 'explode' is not one of/);
    const noTarget = P.LogRecord.encode({
      ts: 1n,
      command: {
        $case: 'invoke',
        value: { inv: { id: 'i', input: Buffer.alloc(0), headers: [], reportSubmit: false } },
      },
    }).finish();
    expect(() => decodeCommand(noTarget)).toThrow(/target is missing/);
  });
});

/** Compares bytes by content whatever their class (Buffer from the decoder, Uint8Array in the test). */
function bufferAsText(this: unknown, _key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString('hex') };
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer')
    return { bytes: Buffer.from((value as { data: number[] }).data).toString('hex') };
  return value;
}

describe('partition store tables', () => {
  let dir: string;
  let engine: StorageEngine;
  let store: PartitionStore;
  let tables: PartitionTables;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stead-formats-'));
    engine = await openPartitionStorage(dir);
    store = engine.partition(0);
    tables = new PartitionTables(store);
  });
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an invocation status reads back as written, after a commit and a reopen', async () => {
    const st: InvocationStatus = {
      id: 'inv_x',
      target: { service: 'W', handler: 'run', key: 'wf-1', serviceType: 'WORKFLOW', handlerType: 'WORKFLOW' },
      phase: 'completed',
      createdAt: 1,
      modifiedAt: 2,
      executionTime: 3,
      journalLength: 0,
      deploymentId: 'dp_1',
      protocolVersion: 5,
      sinks: [{ kind: 'ingress', node: 'a' }, sinkInv],
      waiting: { completions: [1], signals: [], names: ['n'] },
      arrived: { completions: [1, 2], signals: [3], names: [] },
      output: { ok: false, code: 409, message: 'killed', metadata: { k: 'v' } },
      idempotencyKey: 'ik',
      retentionMs: 1000,
      completedAt: 4,
      input: { type: 1, bytes: bytes('input') },
      locked: true,
      inboxSeq: 7,
    };
    tables.putStatus(st);
    await store.commit();
    await engine.close();
    engine = await openPartitionStorage(dir);
    store = engine.partition(0);
    const back = await new PartitionTables(store).status('inv_x');
    expect(JSON.parse(JSON.stringify(back, bufferAsText))).toEqual(JSON.parse(JSON.stringify(st, bufferAsText)));
  });

  it('a value that does not decode is an error naming its key', async () => {
    tables.putStatus({
      id: 'inv_y',
      target: { service: 'S', handler: 'h' },
      phase: 'invoked',
      createdAt: 0,
      modifiedAt: 0,
      journalLength: 0,
      sinks: [],
      arrived: { completions: [], signals: [], names: [] },
    });
    await store.commit();
    const [[key]] = await store.scan('i');
    store.putRaw(
      key,
      P.InvocationStatus.encode({ ...P.InvocationStatus.fromPartial({ id: 'inv_y' }), phase: 'dancing' }).finish(),
    );
    const err = await tables.status('inv_y').catch((e) => e);
    expect(err).toBeInstanceOf(CorruptValueError);
    expect(err.message).toContain('inv_y');
    expect(err.message).toContain('target is missing');
    // The state machine does not turn a corrupt store into a failed invocation: it stops.
    const sm = new PartitionStateMachine(store, { partitionId: 0, ...ids });
    await expect(sm.apply({ kind: 'Control', ts: 1, invocationId: 'inv_y', op: 'kill' })).rejects.toThrow(
      CorruptValueError,
    );
  });

  it('counts the unfinished invocations pinned to a deployment from an index, not from every status', async () => {
    const sm = new PartitionStateMachine(store, { partitionId: 0, ...ids });
    const reader = new PartitionReader(store);
    const invoke = (id: string): Command => ({
      kind: 'Invoke',
      ts: 1,
      inv: { id, target: { service: 'S', handler: 'h', serviceType: 'SERVICE' }, input: new Uint8Array(), headers: [] },
    });
    const effect = (id: string, e: Extract<Command, { kind: 'Effect' }>['effect']): Command => ({
      kind: 'Effect',
      ts: 2,
      epoch: 0,
      invocationId: id,
      effect: e,
    });
    for (let i = 0; i < 300; i++) await sm.apply(invoke(`other-${i}`));
    for (const id of ['a', 'b', 'c']) {
      await sm.apply(invoke(id));
      await sm.apply(effect(id, { kind: 'pin', deploymentId: id === 'c' ? 'dp_2' : 'dp_1', protocolVersion: 6 }));
    }
    await store.commit();
    const before = store.entriesScanned;
    expect(await reader.pinnedCount('dp_1')).toBe(2);
    expect(await reader.pinnedCount('dp_2')).toBe(1);
    expect(await reader.pinnedCount('dp_3')).toBe(0);
    expect(store.entriesScanned - before).toBeLessThanOrEqual(3);

    await sm.apply(effect('a', { kind: 'suspend', waiting: { completions: [9], signals: [], names: [] } }));
    expect(await reader.pinnedCount('dp_1')).toBe(2); // suspended is unfinished
    await sm.apply(effect('b', { kind: 'end' }));
    expect(await reader.pinnedCount('dp_1')).toBe(1);
    await sm.apply({ kind: 'Control', ts: 3, invocationId: 'a', op: 'kill' });
    expect(await reader.pinnedCount('dp_1')).toBe(0);
    await store.commit();
    expect(await reader.pinnedCount('dp_1')).toBe(0);
    expect(await reader.pinnedCount('dp_2')).toBe(1);
  });

  it('truncates the outbox by key, without scanning it', async () => {
    const sm = new PartitionStateMachine(store, { partitionId: 0, ...ids });
    const reader = new PartitionReader(store);
    const caller = newInvocationId(42n).toString();
    // Attaching to unknown invocations answers the (calling) invocation through the outbox.
    for (let i = 0; i < 4; i++) {
      const effects = await sm.apply({
        kind: 'Attach',
        ts: 1,
        invocationId: `unknown-${i}`,
        sink: { kind: 'invocation', invocationId: caller, completionId: i },
        mode: 'attach',
      });
      expect(effects.map((e) => e.kind)).toEqual(['outbox']);
    }
    await store.commit();
    expect((await reader.outbox()).map((o) => [o.seq, o.partitionKey])).toEqual([
      [1, 42n],
      [2, 42n],
      [3, 42n],
      [4, 42n],
    ]);
    const before = store.entriesScanned;
    await sm.apply({ kind: 'OutboxTruncate', ts: 2, upTo: 2 });
    await sm.apply({ kind: 'OutboxTruncate', ts: 2, upTo: 1 }); // already done: nothing
    expect(store.entriesScanned).toBe(before);
    expect((await reader.outbox()).map((o) => o.seq)).toEqual([3, 4]);
    await sm.apply({ kind: 'OutboxTruncate', ts: 3, upTo: 100 });
    await store.commit();
    expect(await reader.outbox()).toEqual([]);
  });
});
