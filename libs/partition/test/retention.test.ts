/**
 * Retention of completed invocations in the partition state machine: status and result for `retentionMs`, the
 * journal for `journalRetentionMs` (Restate keeps every completed invocation for the journal retention).
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { PartitionStore } from '@stead/storage';
import * as J from '../src/journal.ts';
import type { PartitionReader, PartitionStateMachine } from '../src/state-machine.ts';
import { readStrKey } from '../src/tables.ts';
import {
  type Command,
  type Effect,
  type JournalEntry,
  type NewInvocation,
  TIMER_PURGE_JOURNAL,
  type TimerKey,
} from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';

function outputCmd(value: string): JournalEntry {
  const w = new BinaryWriter();
  w.uint32((14 << 3) | WireType.LengthDelimited).fork();
  w.uint32((1 << 3) | WireType.LengthDelimited).bytes(Buffer.from(value));
  w.join();
  return { type: J.T.Output, bytes: w.finish() };
}

describe('retention of completed invocations', () => {
  let p: TestPartition;
  let store: PartitionStore;
  let sm: PartitionStateMachine;
  let reader: PartitionReader;

  beforeEach(async () => {
    p = await openTestPartition('stead-retention-');
    ({ store, sm, reader } = p);
  });
  afterEach(() => p.close());

  const invoke = (id: string, extra: Partial<NewInvocation>): Command => ({
    kind: 'Invoke',
    ts: 1000,
    inv: { id, target: { service: 'Greeter', handler: 'greet' }, input: Buffer.from('"hi"'), headers: [], ...extra },
  });
  const effect = (id: string, e: Extract<Command, { kind: 'Effect' }>['effect']): Command => ({
    kind: 'Effect',
    ts: 2000,
    epoch: 1,
    invocationId: id,
    effect: e,
  });
  const output = (id: string): Command => ({
    kind: 'Attach',
    ts: 2500,
    invocationId: id,
    sink: { kind: 'ingress', node: 'n' },
    mode: 'output',
  });
  const timers = (effects: Effect[]): TimerKey[] =>
    effects.flatMap((e) => (e.kind === 'timer' ? [e.timer] : [])).sort((a, b) => a.wakeAt - b.wakeAt);
  // Journal rows of the invocation as stored (table tag 'J', u64 creation time, then the id; see src/tables.ts).
  const journalKeys = async (id: string) =>
    (await store.scan('J')).filter(([key]) => readStrKey(key, 9).value === id).length;
  const runToEnd = async (id: string, extra: Partial<NewInvocation>) => {
    await sm.apply(invoke(id, extra));
    await sm.apply(effect(id, { kind: 'command', entry: outputCmd('"done"') }));
    return sm.apply(effect(id, { kind: 'end' }));
  };

  it('keeps a plain invocation with its journal for the journal retention, then purges both', async () => {
    const end = await runToEnd('p1', { retentionMs: 5_000, journalRetentionMs: 5_000 });
    const [purge] = timers(end);
    expect(timers(end)).toHaveLength(1);
    expect(purge.wakeAt).toBe(2000 + 5_000);
    const st = await reader.status('p1');
    expect(st).toMatchObject({ phase: 'completed', completedAt: 2000, journalLength: 2 });
    expect((await reader.journal(st!)).map((e) => e.type)).toEqual([J.T.Input, J.T.Output]);
    const out = await sm.apply(output('p1'));
    expect(out[0]).toMatchObject({ kind: 'respond', outcome: { ok: true, value: Buffer.from('"done"') } });

    await sm.apply({ kind: 'TimerFired', ts: purge.wakeAt, timer: purge });
    expect(await reader.status('p1')).toBeUndefined();
    expect(await journalKeys('p1')).toBe(0);
    expect((await sm.apply(output('p1')))[0]).toMatchObject({ outcome: { ok: false, code: 404 } });
  });

  it('drops the journal when its retention ends and keeps the result until the longer retention ends', async () => {
    const end = await runToEnd('i1', { retentionMs: 60_000, journalRetentionMs: 1_000, idempotencyKey: 'k' });
    const [dropJournal, purge] = timers(end);
    expect([dropJournal.wakeAt, purge.wakeAt]).toEqual([3000, 62_000]);
    expect(await journalKeys('i1')).toBe(2);

    await sm.apply({ kind: 'TimerFired', ts: dropJournal.wakeAt, timer: dropJournal });
    const st = await reader.status('i1');
    expect(st).toMatchObject({ phase: 'completed', journalLength: 0 });
    expect(await journalKeys('i1')).toBe(0);
    expect((await sm.apply(output('i1')))[0]).toMatchObject({ outcome: { ok: true } });

    await sm.apply({ kind: 'TimerFired', ts: purge.wakeAt, timer: purge });
    expect(await reader.status('i1')).toBeUndefined();
  });

  it('purges a retained journal with the invocation on an explicit purge', async () => {
    await runToEnd('p2', { retentionMs: 5_000, journalRetentionMs: 5_000 });
    const res = await sm.apply({
      kind: 'Control',
      ts: 2600,
      invocationId: 'p2',
      op: 'purge',
      sink: { kind: 'ingress', node: 'n' },
    });
    expect(res[0]).toMatchObject({ kind: 'respond', outcome: { ok: true } });
    expect(await reader.status('p2')).toBeUndefined();
    expect(await journalKeys('p2')).toBe(0);
  });

  it('purge-journal drops only the journal of a completed invocation', async () => {
    const sink = { kind: 'ingress' as const, node: 'n' };
    await sm.apply(invoke('p4', { retentionMs: 5_000, journalRetentionMs: 5_000 }));
    const early = await sm.apply({ kind: 'Control', ts: 1500, invocationId: 'p4', op: 'purge-journal', sink });
    expect(early[0]).toMatchObject({ outcome: { ok: false, code: 409 } });
    await sm.apply(effect('p4', { kind: 'command', entry: outputCmd('"done"') }));
    await sm.apply(effect('p4', { kind: 'end' }));
    const res = await sm.apply({ kind: 'Control', ts: 2600, invocationId: 'p4', op: 'purge-journal', sink });
    expect(res[0]).toMatchObject({ outcome: { ok: true } });
    expect(await reader.status('p4')).toMatchObject({ phase: 'completed', journalLength: 0 });
    expect(await journalKeys('p4')).toBe(0);
    expect((await sm.apply(output('p4')))[0]).toMatchObject({ outcome: { ok: true } });
  });

  it('keeps the input once: in the retained journal, or in the status once there is no journal', async () => {
    const sink = { kind: 'ingress' as const, node: 'n' };
    const restart = async (id: string, newInvocationId: string) =>
      (
        await sm.apply({ kind: 'Control', ts: 9000, invocationId: id, op: 'restart-as-new', sink, newInvocationId })
      ).find((e) => e.kind === 'respond');
    const inputOf = async (id: string) => (await reader.journal((await reader.status(id))!))[0];
    // The input command an Invoke of `body` (no headers) journals, as hex for comparison.
    const hex = (e: JournalEntry | undefined) => (e ? Buffer.from(e.bytes).toString('hex') : 'none');
    const inputWith = (body: string) => hex(J.inputCommand([], Buffer.from(body)));

    // Journal retained: the status holds no copy; restart-as-new reads journal entry 0.
    await runToEnd('r1', { retentionMs: 60_000, journalRetentionMs: 1_000, input: Buffer.from('"one"') });
    expect((await reader.status('r1'))?.input).toBeUndefined();
    expect(await restart('r1', 'r1-new')).toMatchObject({ outcome: { ok: true } });
    expect(hex(await inputOf('r1-new'))).toBe(inputWith('"one"'));

    // The journal retention ends first: the input moves into the status, restart-as-new still works.
    await sm.apply({
      kind: 'TimerFired',
      ts: 3000,
      timer: { wakeAt: 3000, invocationId: 'r1', completionId: TIMER_PURGE_JOURNAL },
    });
    const dropped = await reader.status('r1');
    expect(dropped).toMatchObject({ journalLength: 0 });
    expect(hex(dropped?.input)).toBe(inputWith('"one"'));
    expect(await restart('r1', 'r1-again')).toMatchObject({ outcome: { ok: true } });
    expect(hex(await inputOf('r1-again'))).toBe(inputWith('"one"'));

    // No journal retention at all: the status keeps the input from the start.
    await runToEnd('r2', { retentionMs: 60_000, journalRetentionMs: 0, input: Buffer.from('"two"') });
    expect(await journalKeys('r2')).toBe(0);
    expect(hex((await reader.status('r2'))?.input)).toBe(inputWith('"two"'));
    expect(await restart('r2', 'r2-new')).toMatchObject({ outcome: { ok: true } });
  });

  it('keeps an invocation restarted as new as long as the one it copies', async () => {
    await runToEnd('r3', { retentionMs: 60_000, journalRetentionMs: 5_000 });
    const sink = { kind: 'ingress' as const, node: 'n' };
    await sm.apply({
      kind: 'Control',
      ts: 9000,
      invocationId: 'r3',
      op: 'restart-as-new',
      sink,
      newInvocationId: 'r3-new',
    });
    await sm.apply(effect('r3-new', { kind: 'command', entry: outputCmd('"again"') }));
    const end = await sm.apply(effect('r3-new', { kind: 'end' }));
    // Completed, it stays (a copy without retention was forgotten at once: the CLI's new id led nowhere).
    expect(await reader.status('r3-new')).toMatchObject({ phase: 'completed', retentionMs: 60_000 });
    expect(await journalKeys('r3-new')).toBe(2);
    expect(timers(end).map((t) => t.wakeAt - 2000)).toEqual([5_000, 60_000]);
    expect((await sm.apply(output('r3-new')))[0]).toMatchObject({ outcome: { ok: true } });
  });

  it('forgets status and journal at once when there is no retention', async () => {
    const end = await runToEnd('p3', { retentionMs: 0, journalRetentionMs: 0 });
    expect(timers(end)).toEqual([]);
    expect(await reader.status('p3')).toBeUndefined();
    expect(await journalKeys('p3')).toBe(0);
  });
});
