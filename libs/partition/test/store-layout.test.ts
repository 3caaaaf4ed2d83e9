// The partition store's key layout: journal keys in creation-time order, and the upgrade of layout-1 stores.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { PartitionStore } from '@stead/storage';
import * as C from '../src/codec.ts';
import * as J from '../src/journal.ts';
import type { PartitionReader, PartitionStateMachine } from '../src/state-machine.ts';
import { PartitionTables, readStrKey, STORE_LAYOUT, strKey, u32Key } from '../src/tables.ts';
import type { Command, InvocationStatus } from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';

describe('partition store layout', () => {
  let p: TestPartition;
  let store: PartitionStore;
  let sm: PartitionStateMachine;
  let reader: PartitionReader;

  beforeEach(async () => {
    p = await openTestPartition('stead-layout-');
    ({ store, sm, reader } = p);
  });
  afterEach(() => p.close());

  const invoke = (id: string, ts: number): Command => ({
    kind: 'Invoke',
    ts,
    inv: { id, target: { service: 'S', handler: 'h' }, input: Buffer.from(`"${id}"`), headers: [] },
  });

  it('keys journal entries by creation time, so that new entries land after all older ones', async () => {
    // Ids in the reverse order of their creation: key order must follow time, not ids.
    const created = [
      ['zz', 1_000],
      ['mm', 2_000],
      ['aa', 3_000],
      ['bb', 3_000],
    ] as const;
    for (const [id, ts] of created) {
      await sm.apply(invoke(id, ts));
      await store.commit();
    }
    const keys = (await store.scan('J')).map(([k]) => k);
    expect(keys).toHaveLength(created.length); // one input entry each
    expect([...keys].sort()).toEqual(keys); // scan order is key order
    const times = keys.map((k) => Number(Buffer.from(k.slice(1, 9), 'latin1').readBigUInt64BE(0)));
    expect(times).toEqual([1_000, 2_000, 3_000, 3_000]);
    expect(keys.map((k) => readStrKey(k, 9).value)).toEqual(['zz', 'mm', 'aa', 'bb']);
  });

  it('moves a layout-1 journal to the time-ordered keys when the store opens, and drops orphans', async () => {
    const st: InvocationStatus = {
      id: 'old',
      target: { service: 'S', handler: 'h' },
      phase: 'invoked',
      createdAt: 5_000,
      modifiedAt: 5_000,
      journalLength: 2,
      sinks: [],
      arrived: { completions: [], signals: [], names: [] },
    };
    const entries = [J.inputCommand([], Buffer.from('"x"')), J.runCompletion(1, Buffer.from('"r"'))];
    // What layout 1 wrote: `j <id> <u32 index>`, and no layout marker.
    store.put(`i${strKey(st.id)}`, st, C.invocationStatus);
    for (const [i, e] of entries.entries()) store.put(`j${strKey(st.id)}${u32Key(i)}`, e, C.journalEntry);
    store.put(`j${strKey('orphan')}${u32Key(0)}`, entries[0], C.journalEntry);
    await store.commit();

    await new PartitionTables(store).upgradeLayout();

    expect(await store.scan('j')).toEqual([]);
    const hex = (es: { bytes: Uint8Array }[]) => es.map((e) => Buffer.from(e.bytes).toString('hex'));
    expect(hex(await reader.journal((await reader.status('old'))!))).toEqual(hex(entries));
    expect((await store.scan('J')).map(([k]) => readStrKey(k, 9).value)).toEqual(['old', 'old']);
    expect(await store.get('mlayout', C.counter)).toBe(BigInt(STORE_LAYOUT));
    // A second open finds the current layout and changes nothing.
    await new PartitionTables(store).upgradeLayout();
    expect(await store.scan('J')).toHaveLength(2);
  });

  it('refuses a store written with a newer layout', async () => {
    store.put('mlayout', BigInt(STORE_LAYOUT + 1), C.counter);
    await store.commit();
    await expect(new PartitionTables(store).upgradeLayout()).rejects.toThrow(
      `the store has key layout ${STORE_LAYOUT + 1}, newer than this version knows (${STORE_LAYOUT})`,
    );
  });
});
