/**
 * Applying a command is total: a command that cannot be applied (a malformed invocation id passed to
 * ctx.attach, a journal entry that does not decode, a log record that is not a command) fails its invocation
 * or is skipped, deterministically, and never stops the processor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { newInvocationId, partitionKeyOf } from '@stead/core';
import { LocalLogStore } from '@stead/log';
import type { PartitionStore, StorageEngine } from '@stead/storage';
import { ids } from '../src/engine.ts';
import * as J from '../src/journal.ts';
import { type EffectSink, PartitionProcessor } from '../src/processor.ts';
import { PartitionReader, PartitionStateMachine } from '../src/state-machine.ts';
import { openPartitionStorage } from '../src/tables.ts';
import type { Command, Effect, JournalEntry, Target } from '../src/types.ts';

const MALFORMED = 'inv_1thisIsNotAnInvocationId';

/** ctx.attach(invocationId): AttachInvocationCommandMessage (field 1 invocation id, 11 completion id). */
function attachCmd(invocationId: string, completionId: number): JournalEntry {
  const w = new BinaryWriter();
  w.uint32((1 << 3) | WireType.LengthDelimited).string(invocationId);
  w.uint32((11 << 3) | WireType.Varint).uint32(completionId);
  return { type: J.T2.AttachInvocation, bytes: w.finish() };
}

const counter = (key: string): Target => ({
  service: 'Counter',
  handler: 'add',
  key,
  serviceType: 'VIRTUAL_OBJECT',
  handlerType: 'EXCLUSIVE',
});
const idFor = (key: string) => newInvocationId(partitionKeyOf(key)).toString();

const invoke = (id: string, target: Target, node = id): Command => ({
  kind: 'Invoke',
  ts: 1000,
  inv: { id, target, input: Buffer.from('{}'), headers: [], sink: { kind: 'ingress', node } },
});
const effect = (id: string, e: Extract<Command, { kind: 'Effect' }>['effect'], epoch = 1): Command => ({
  kind: 'Effect',
  ts: 1001,
  epoch,
  invocationId: id,
  effect: e,
});

function failureOf(effects: Effect[], id: string) {
  const r = effects.find((e) => e.kind === 'respond' && e.invocationId === id);
  if (!r || r.kind !== 'respond')
    throw new Error(`no response for ${id} in ${JSON.stringify(effects.map((e) => e.kind))}`);
  return r.outcome;
}

describe('the state machine applies every command', () => {
  let dir: string;
  let engine: StorageEngine;
  let store: PartitionStore;
  let sm: PartitionStateMachine;
  let reader: PartitionReader;
  const logged: string[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stead-total-'));
    engine = await openPartitionStorage(dir);
    store = engine.partition(0);
    sm = new PartitionStateMachine(store, { partitionId: 0, ...ids, log: (_l, msg) => logged.push(msg) });
    reader = new PartitionReader(store);
  });
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails the invocation whose ctx.attach names a malformed id, rolls back its writes, releases its lock', async () => {
    const a = idFor('k');
    const b = idFor('k');
    await sm.apply(invoke(a, counter('k')));
    await sm.apply(invoke(b, counter('k'))); // queued behind a
    expect((await reader.status(b))?.phase).toBe('inboxed');
    const before = (await reader.status(a))!.journalLength;
    expect(before).toBe(1);

    const effects = await sm.apply(effect(a, { kind: 'command', entry: attachCmd(MALFORMED, 1) }));

    const outcome = failureOf(effects, a);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.code).toBe(500);
      expect(outcome.message).toContain(MALFORMED);
      expect(outcome.message).toContain('not an invocation id');
    }
    expect(effects.map((e) => e.kind)).toEqual(expect.arrayContaining(['stopAttempt', 'invoke']));
    expect(await reader.status(a)).toBeUndefined(); // completed, nothing retained
    expect(await store.scan('J')).toHaveLength(1); // only b's input remains
    // The lock went to the next in line.
    expect((await reader.status(b))?.phase).toBe('invoked');
    expect(effects).toContainEqual({ kind: 'invoke', invocationId: b });
    expect(sm.rejectedCommands).toBe(1);
  });

  it('answers every waiter of the failed invocation (attach) and the same for ctx.getOutput', async () => {
    const a = idFor('k2');
    await sm.apply(invoke(a, counter('k2')));
    await sm.apply({
      kind: 'Attach',
      ts: 1000,
      invocationId: a,
      sink: { kind: 'ingress', node: 'attacher' },
      mode: 'attach',
    });
    const output: JournalEntry = { ...attachCmd(MALFORMED, 2), type: J.T2.GetInvocationOutput };
    const effects = await sm.apply(effect(a, { kind: 'command', entry: output }));
    const responses = effects.filter((e) => e.kind === 'respond');
    expect(responses.map((e) => e.kind === 'respond' && e.sink)).toEqual([
      { kind: 'ingress', node: a },
      { kind: 'ingress', node: 'attacher' },
    ]);
    for (const r of responses) if (r.kind === 'respond') expect(r.outcome).toMatchObject({ ok: false, code: 500 });
  });

  it('fails the invocation of a journal entry that does not decode', async () => {
    const a = idFor('k3');
    await sm.apply(invoke(a, counter('k3')));
    const effects = await sm.apply(
      effect(a, { kind: 'command', entry: { type: J.T.Call, bytes: new Uint8Array([0x0a, 0xff, 0xff]) } }),
    );
    expect(failureOf(effects, a)).toMatchObject({ ok: false, code: 500 });
    expect(await reader.status(a)).toBeUndefined();
  });

  it('completes an invocation whose caller id is malformed (the response has nowhere to go)', async () => {
    const a = idFor('k4');
    await sm.apply({
      kind: 'Invoke',
      ts: 1000,
      inv: {
        id: a,
        target: counter('k4'),
        input: Buffer.from('{}'),
        headers: [],
        sink: { kind: 'invocation', invocationId: MALFORMED, completionId: 3 },
      },
    });
    const effects = await sm.apply(effect(a, { kind: 'end' }));
    expect(effects).toContainEqual({ kind: 'stopAttempt', invocationId: a, ended: 'failed' });
    expect(await reader.status(a)).toBeUndefined();
    expect(logged).toContain('dropping a response to a malformed invocation id');
  });

  it('is deterministic: a replica applying the same commands ends in the same store', async () => {
    const a = idFor('k5');
    const cmds = [invoke(a, counter('k5')), effect(a, { kind: 'command', entry: attachCmd(MALFORMED, 1) })];
    const dir2 = mkdtempSync(join(tmpdir(), 'stead-total-'));
    const engine2 = await openPartitionStorage(dir2);
    try {
      const store2 = engine2.partition(0);
      const sm2 = new PartitionStateMachine(store2, { partitionId: 0, ...ids });
      for (const c of cmds) expect(await sm.apply(c)).toEqual(await sm2.apply(c));
      expect(await store2.scan('')).toEqual(await store.scan(''));
    } finally {
      await engine2.close();
      rmSync(dir2, { recursive: true, force: true });
    }
  });
});

describe('the processor survives poison records (real log and LevelDB)', () => {
  let dir: string;
  const open = async () => {
    const log = await LocalLogStore.open(join(dir, 'log'));
    const storage = await openPartitionStorage(join(dir, 'partitions'));
    const loglet = await log.loglet(0);
    const effects: Effect[] = [];
    const fatal: unknown[] = [];
    const died = Promise.withResolvers<never>();
    const logged: { msg: string; fields?: Record<string, unknown> }[] = [];
    const sink: EffectSink = {
      activate: async () => {},
      execute: (e) => effects.push(...e),
      deactivate: async () => {},
    };
    const processor = new PartitionProcessor({
      partitionId: 0,
      loglet,
      store: storage.partition(0),
      ...ids,
      log: (_level, msg, fields) => logged.push({ msg, fields }),
      onFatal: (err) => {
        fatal.push(err);
        died.reject(err);
      },
    });
    await processor.start(7, sink);
    await processor.whenLeading();
    const close = async () => {
      await processor.close();
      await log.close();
      await storage.close();
    };
    /** Resolves once `offset` is applied; rejects at once if the apply loop dies instead. */
    const applied = (offset: bigint) => Promise.race([processor.waitApplied(offset), died.promise]);
    return { processor, loglet, effects, fatal, logged, close, applied };
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stead-poison-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('skips undecodable records, fails the invocation of an unappliable command, keeps applying', async () => {
    let p = await open();
    const a = idFor('p1');
    const c = idFor('p2');
    await p.processor.append(invoke(a, counter('p1')));
    await p.loglet.append([new Uint8Array([0xff, 0x01, 0x02]), Buffer.from('not a record')]);
    await p.processor.append(effect(a, { kind: 'command', entry: attachCmd(MALFORMED, 1) }, 7));
    const last = await p.processor.append(invoke(c, counter('p2')));
    await p.applied(last);

    expect(p.fatal).toEqual([]);
    expect(p.processor.skippedRecords).toBe(2);
    expect(p.processor.rejectedCommands).toBe(1);
    const skipped = p.logged.filter((l) => l.msg === 'skipping a log record that does not decode');
    expect(skipped.map((l) => [l.fields?.partition, l.fields?.offset])).toEqual([
      [0, '2'],
      [0, '3'],
    ]);
    expect(failureOf(p.effects, a)).toMatchObject({ ok: false, code: 500 });
    expect(p.effects).toContainEqual({ kind: 'invoke', invocationId: c });
    const reader = new PartitionReader(p.processor.store);
    expect(await reader.status(a)).toBeUndefined();
    expect((await reader.status(c))?.phase).toBe('invoked');
    await p.close();

    // A restart that replays the whole log (the partition store lost): no crash loop, same state.
    rmSync(join(dir, 'partitions'), { recursive: true, force: true });
    p = await open();
    expect(p.processor.skippedRecords).toBe(2);
    expect(p.processor.rejectedCommands).toBe(1);
    expect(p.fatal).toEqual([]);
    const reader2 = new PartitionReader(p.processor.store);
    expect(await reader2.status(a)).toBeUndefined();
    expect((await reader2.status(c))?.phase).toBe('invoked');
    await p.close();
  });
});
