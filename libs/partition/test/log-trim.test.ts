import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { LocalLogStore, LogTrimmedError } from '@stead/log';
import { waitFor } from '@stead/testing';
import { ids } from '../src/engine.ts';
import { type EffectSink, PartitionProcessor } from '../src/processor.ts';
import { PartitionReader } from '../src/state-machine.ts';
import { openPartitionStorage } from '../src/tables.ts';
import { invokeOn, tempDirPerTest } from './helpers.ts';

describe('log trimming behind the partition store', () => {
  const tempDir = tempDirPerTest('stead-trim-');

  async function open(trimEveryRecords: number, trimDelayMs?: number) {
    const log = await LocalLogStore.open(join(tempDir(), 'log'));
    const storage = await openPartitionStorage(join(tempDir(), 'partitions'));
    const loglet = await log.loglet(0);
    const fatal: unknown[] = [];
    const sink: EffectSink = { activate: async () => {}, execute: () => {}, deactivate: async () => {} };
    const processor = new PartitionProcessor({
      partitionId: 0,
      loglet,
      store: storage.partition(0),
      ...ids,
      trimEveryRecords,
      trimDelayMs,
      onFatal: (err) => fatal.push(err),
    });
    await processor.start(1, sink);
    await processor.whenLeading();
    const close = async () => {
      await processor.close();
      await log.close();
      await storage.close();
    };
    return { processor, loglet, fatal, close };
  }

  it('trims the log below the applied offset once the store is synced, and a restart replays from there', async () => {
    const p = await open(50);
    const keys = Array.from({ length: 180 }, (_, i) => `k${i}`);
    let last = 0n;
    for (const k of keys) last = await p.processor.append(invokeOn(k));
    await p.processor.waitApplied(last);
    // Syncs and trims run in the background, one at a time, every 50 applied records: once they settle, the log
    // is trimmed to within 50 records of its tail (where the last sync started depends on timing).
    await waitFor(async () => p.loglet.trimmedBelow > last - 50n, { what: 'the log to be trimmed', timeoutMs: 10_000 });
    const trimmed = p.loglet.trimmedBelow;
    expect(trimmed).toBeLessThanOrEqual(last + 1n);
    await expect(p.loglet.read(0n, 10)).rejects.toBeInstanceOf(LogTrimmedError);
    expect(p.fatal).toEqual([]);
    await p.close();

    // A restart starts from the store's applied offset, above the trim point: nothing it needs is gone.
    const q = await open(50);
    expect(q.processor.appliedOffset).toBeGreaterThanOrEqual(trimmed - 1n);
    const more = await q.processor.append(invokeOn('after-restart'));
    await q.processor.waitApplied(more);
    const reader = new PartitionReader(q.processor.store);
    expect(q.fatal).toEqual([]);
    expect(await q.loglet.tail()).toBe(more + 1n);
    // Every invocation, those of the trimmed records included, is in the store.
    expect((await reader.invocations()).length).toBe(keys.length + 1);
    await q.close();
  });

  it('syncs but does not trim before the trim delay has passed', async () => {
    const p = await open(50, 3_600_000);
    let last = 0n;
    for (let i = 0; i < 180; i++) last = await p.processor.append(invokeOn(`d${i}`));
    await p.processor.waitApplied(last);
    await waitFor(async () => p.processor.durableOffset > last - 50n, {
      what: 'the store to be synced',
      timeoutMs: 10_000,
    });
    expect(p.loglet.trimmedBelow).toBe(0n);
    expect((await p.loglet.read(0n, 500)).length).toBe(Number(last) + 1);
    await p.close();
  });

  it('never trims with trimEveryRecords 0', async () => {
    const p = await open(0);
    let last = 0n;
    for (let i = 0; i < 120; i++) last = await p.processor.append(invokeOn(`n${i}`));
    await p.processor.waitApplied(last);
    expect(p.loglet.trimmedBelow).toBe(0n);
    expect((await p.loglet.read(0n, 500)).length).toBe(Number(last) + 1);
    await p.close();
  });
});
