// Exactly-once over a log whose appends may be retried: a record tagged (producer, seq) that lands twice applies
// once, whatever its command kind; untagged, only the kinds that are idempotent by themselves do. Also the older
// formats of the tag (a u32 partition inside the command, `d <u32>` store keys) still decode and count.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { partition as P } from '@stead/proto';
import * as C from '../src/codec.ts';
import { decodeCommand, encodeCommand } from '../src/codec.ts';
import * as J from '../src/journal.ts';
import { PartitionTables, STORE_LAYOUT, strKey, u32Key } from '../src/tables.ts';
import type { Command, Dedup } from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';
import { callCmd, setStateCmd } from './sdk-commands.ts';

const ID = 'inv-dup';
const objectTarget = {
  service: 'Counter',
  handler: 'add',
  key: 'k',
  serviceType: 'VIRTUAL_OBJECT' as const,
  handlerType: 'EXCLUSIVE' as const,
};
const invoke = (over: Partial<Extract<Command, { kind: 'Invoke' }>['inv']> = {}): Command => ({
  kind: 'Invoke',
  ts: 1000,
  inv: { id: ID, target: objectTarget, input: Buffer.from('{}'), headers: [], ...over },
});
const effect = (e: Extract<Command, { kind: 'Effect' }>['effect']): Command => ({
  kind: 'Effect',
  ts: 1001,
  epoch: 0,
  invocationId: ID,
  effect: e,
  attempt: 1,
});
const WAKE = 5000;

interface Case {
  name: string;
  /** Records applied before the one that lands twice. */
  setup: Command[];
  record: Command;
  /** Applying it twice untagged leaves the store as applying it once (no tag needed). */
  idempotentUntagged: boolean;
}

/** One case per command kind (and per variant whose safety differs). */
const cases: Case[] = [
  { name: 'Invoke', setup: [], record: invoke({ sink: { kind: 'ingress', node: 'n/1' } }), idempotentUntagged: true },
  {
    name: 'Effect (a journaled command)',
    setup: [invoke()],
    record: effect({ kind: 'command', entry: setStateCmd('a', '1') }),
    idempotentUntagged: false,
  },
  {
    name: 'Effect (a call: a second child would start)',
    setup: [invoke()],
    record: effect({ kind: 'command', entry: callCmd('Other', 'run', '{}', 1, 2) }),
    idempotentUntagged: false,
  },
  {
    name: 'TimerFired',
    setup: [invoke({ executionTime: WAKE })],
    record: { kind: 'TimerFired', ts: WAKE, timer: { wakeAt: WAKE, invocationId: ID, completionId: -1 } },
    idempotentUntagged: true,
  },
  {
    name: 'Notify (a completion)',
    setup: [invoke()],
    record: {
      kind: 'Notify',
      ts: 1002,
      invocationId: ID,
      entry: J.completionNotification(J.T2.GetPromiseN, 1, { void: true }),
      id: { completionId: 1 },
    },
    idempotentUntagged: true,
  },
  {
    name: 'Notify (a named signal)',
    setup: [invoke()],
    record: {
      kind: 'Notify',
      ts: 1002,
      invocationId: ID,
      entry: J.signalNotification({ name: 's' }, { void: true }),
      id: { signalName: 's' },
    },
    idempotentUntagged: false,
  },
  { name: 'AnnounceLeader', setup: [], record: { kind: 'AnnounceLeader', ts: 1, epoch: 3 }, idempotentUntagged: true },
  {
    name: 'OutboxTruncate',
    setup: [invoke(), effect({ kind: 'command', entry: callCmd('Other', 'run', '{}', 1, 2) })],
    record: { kind: 'OutboxTruncate', ts: 1003, upTo: 1 },
    idempotentUntagged: true,
  },
  {
    name: 'Control',
    setup: [invoke()],
    record: { kind: 'Control', ts: 1004, invocationId: ID, op: 'cancel', sink: { kind: 'ingress', node: 'n/2' } },
    idempotentUntagged: true,
  },
  {
    name: 'Attach',
    setup: [invoke()],
    record: { kind: 'Attach', ts: 1005, invocationId: ID, sink: { kind: 'ingress', node: 'n/3' }, mode: 'attach' },
    idempotentUntagged: true,
  },
];

const TAG: Dedup = { producer: 'leader/0/4/proc-a', seq: 7 };

/** Every row of a partition store: its own database and its journal rows in the shared one. */
async function dump(p: TestPartition): Promise<[string, string][]> {
  const rows = [...(await p.store.scan('')), ...(await p.store.scan('J'))];
  return rows.map(([k, v]) => [Buffer.from(k, 'latin1').toString('hex'), Buffer.from(v).toString('hex')]);
}

/** Applies records as the processor does: through their log encoding. */
async function applyAll(p: TestPartition, records: Command[]): Promise<number> {
  let effects = 0;
  for (const r of records) effects = (await p.sm.apply(decodeCommand(encodeCommand(r)))).length;
  return effects;
}

describe('a record that lands twice in the log', () => {
  let once: TestPartition;
  let twice: TestPartition;
  beforeEach(async () => {
    once = await openTestPartition('stead-dedup-once-');
    twice = await openTestPartition('stead-dedup-twice-');
  });
  afterEach(async () => {
    await once.close();
    await twice.close();
  });

  it.each(cases.map((c) => [c.name, c] as const))('applies once when tagged: %s', async (_name, c) => {
    const tagged = { ...c.record, dedup: TAG } as Command;
    await applyAll(once, c.setup);
    const before = await dump(once);
    await applyAll(once, [tagged]);
    expect(await dump(once)).not.toEqual(before); // the record does something
    await applyAll(twice, [...c.setup, tagged]);
    // The second copy is dropped whole: no effect, no write.
    expect(await applyAll(twice, [tagged])).toBe(0);
    expect(await dump(twice)).toEqual(await dump(once));
    // A copy with a lower number from the same producer is as old: dropped too.
    expect(await applyAll(twice, [{ ...c.record, dedup: { ...TAG, seq: 3 } } as Command])).toBe(0);
    expect(await dump(twice)).toEqual(await dump(once));
  });

  it.each(cases.map((c) => [c.name, c] as const))(
    'untagged, is idempotent only if its kind makes it so: %s',
    async (_name, c) => {
      await applyAll(once, c.setup);
      const before = await dump(once);
      await applyAll(once, [c.record]);
      expect(await dump(once)).not.toEqual(before); // the record does something
      await applyAll(twice, [...c.setup, c.record, c.record]);
      if (c.idempotentUntagged) expect(await dump(twice)).toEqual(await dump(once));
      else expect(await dump(twice)).not.toEqual(await dump(once));
    },
  );

  it('keeps producers apart: the same number from another producer applies', async () => {
    const first = { ...effect({ kind: 'command', entry: setStateCmd('a', '1') }), dedup: TAG } as Command;
    const other = {
      ...effect({ kind: 'command', entry: setStateCmd('b', '2') }),
      dedup: { producer: 'leader/0/5/proc-b', seq: TAG.seq },
    } as Command;
    await applyAll(twice, [invoke(), first, other]);
    const st = await twice.reader.status(ID);
    expect(st?.journalLength).toBe(3);
  });
});

describe('older formats of the producer tag', () => {
  let p: TestPartition;
  beforeEach(async () => {
    p = await openTestPartition('stead-dedup-old-');
  });
  afterEach(async () => {
    await p.close();
  });

  /** A Notify as written before producer names: the tag inside the command, the producer a u32 partition. */
  const legacyNotify = (seq: number, completionId: number) =>
    P.LogRecord.encode({
      ts: 10n,
      command: {
        $case: 'notify',
        value: {
          invocationId: ID,
          entry: { type: J.T2.GetPromiseN, bytes: Buffer.alloc(0) },
          id: { id: { $case: 'completionId', value: completionId } },
          dedup: { producer: 3, seq: BigInt(seq) },
        },
      },
    }).finish();

  it('decodes a tag inside the command as the outbox producer of that partition', () => {
    expect(decodeCommand(legacyNotify(5, 1)).dedup).toEqual({ producer: 'outbox/3', seq: 5 });
    for (const kind of ['invoke', 'control', 'attach'] as const) {
      const value = {
        invoke: { inv: { id: ID, target: objectTarget, input: Buffer.alloc(0), headers: [], reportSubmit: false } },
        control: { invocationId: ID, op: 'kill' },
        attach: { invocationId: ID, sink: { sink: { $case: 'ingress', value: { node: 'n' } } }, mode: 'attach' },
      }[kind];
      const bytes = P.LogRecord.encode({
        ts: 1n,
        command: { $case: kind, value: { ...value, dedup: { producer: 9, seq: 2n } } } as P.LogRecord['command'],
      }).finish();
      expect(decodeCommand(bytes).dedup).toEqual({ producer: 'outbox/9', seq: 2 });
    }
  });

  it('writes the tag on the envelope for any kind, and an envelope tag wins over an old one', () => {
    const cmd: Command = {
      kind: 'TimerFired',
      ts: 1,
      timer: { wakeAt: 1, invocationId: ID, completionId: 1 },
      dedup: TAG,
    };
    const record = P.LogRecord.decode(encodeCommand(cmd));
    expect(record.dedup).toEqual({ producer: 0, producerName: TAG.producer, seq: BigInt(TAG.seq) });
    expect(decodeCommand(encodeCommand(cmd)).dedup).toEqual(TAG);
    const both = P.LogRecord.decode(legacyNotify(5, 1));
    both.dedup = { producer: 0, producerName: 'outbox/4', seq: 6n };
    expect(decodeCommand(P.LogRecord.encode(both).finish()).dedup).toEqual({ producer: 'outbox/4', seq: 6 });
  });

  it('an outbox entry stored with an old tag reads back with its producer name', async () => {
    const old = P.OutboxEntry.encode({ partitionKey: 7n, command: P.LogRecord.decode(legacyNotify(4, 2)) }).finish();
    expect(C.outboxEntry.decode(old).command.dedup).toEqual({ producer: 'outbox/3', seq: 4 });
  });

  it('moves layout-2 dedup rows to producer names when the store opens; old tags go on counting', async () => {
    // What layout 2 wrote: `d <u32 partition>` = the highest seq applied from partition 3's outbox.
    p.store.put(`d${u32Key(3)}`, 7n, C.counter);
    p.store.put('mlayout', 2n, C.counter);
    await p.store.commit();
    const tables = new PartitionTables(p.store);
    await tables.upgradeLayout();
    expect(await p.store.get('mlayout', C.counter)).toBe(BigInt(STORE_LAYOUT));
    expect(await p.store.getRaw(`d${u32Key(3)}`)).toBeUndefined();
    expect(await p.store.get(`D${strKey('outbox/3')}`, C.counter)).toBe(7n);

    await p.sm.apply(invoke());
    // An old record at or below the count is a duplicate; the next one applies.
    expect(await p.sm.apply(decodeCommand(legacyNotify(7, 1)))).toEqual([]);
    expect((await p.reader.status(ID))?.arrived.completions).toEqual([]);
    await p.sm.apply(decodeCommand(legacyNotify(8, 1)));
    expect((await p.reader.status(ID))?.arrived.completions).toEqual([1]);
    expect(await tables.dedupSeq('outbox/3')).toBe(8);
  });
});
