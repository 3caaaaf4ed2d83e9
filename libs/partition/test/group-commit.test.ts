// Group commit: applied records reach LevelDB once per commit interval (or when the overlay is full), so that
// rewrites of a key between two commits cost LevelDB one write instead of one per record.
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { newInvocationId, partitionKeyOf } from '@stead/core';
import { LocalLogStore } from '@stead/log';
import { waitFor } from '@stead/testing';
import type { Timers } from '../src/clock.ts';
import { ids } from '../src/engine.ts';
import { type EffectSink, PartitionProcessor } from '../src/processor.ts';
import { PartitionReader } from '../src/state-machine.ts';
import { openPartitionStorage } from '../src/tables.ts';
import type { Command } from '../src/types.ts';
import { tempDirPerTest } from './helpers.ts';

/** Every Invoke for one object key: the first takes the lock, the others queue (each rewrites the inbox counter). */
const invoke = (id: string): Command => ({
  kind: 'Invoke',
  ts: 1000,
  inv: {
    id,
    target: { service: 'Counter', handler: 'add', key: 'k', serviceType: 'VIRTUAL_OBJECT', handlerType: 'EXCLUSIVE' },
    input: Buffer.from('{}'),
    headers: [],
  },
});

/** Timers that fire only when the test says so. */
class ManualTimers implements Timers {
  private readonly armed = new Map<number, () => void>();
  private next = 0;
  setTimeout(fn: () => void): number {
    this.armed.set(++this.next, fn);
    return this.next;
  }
  clearTimeout(handle: unknown): void {
    this.armed.delete(handle as number);
  }
  get pending(): number {
    return this.armed.size;
  }
  fireAll(): void {
    const fns = [...this.armed.values()];
    this.armed.clear();
    for (const fn of fns) fn();
  }
}

describe('group commit of the partition store', () => {
  const tempDir = tempDirPerTest('stead-group-commit-');

  async function open(dir: string, opts: { commitIntervalMs: number; commitMaxKeys?: number; timers?: Timers }) {
    const log = await LocalLogStore.open(join(tempDir(), dir, 'log'));
    const storage = await openPartitionStorage(join(tempDir(), dir, 'partitions'));
    const sink: EffectSink = { activate: async () => {}, execute: () => {}, deactivate: async () => {} };
    const fatal: unknown[] = [];
    const processor = new PartitionProcessor({
      partitionId: 0,
      loglet: await log.loglet(0),
      store: storage.partition(0),
      ...ids,
      ...opts,
      trimEveryRecords: 0,
      onFatal: (err) => fatal.push(err),
    });
    await processor.start(1, sink);
    await processor.whenLeading();
    /** Appends one Invoke and waits until it is applied (one record per apply batch). */
    const applyOne = async (id: string) => processor.waitApplied(await processor.append(invoke(id)));
    const close = async () => {
      await processor.close();
      await log.close();
      await storage.close();
    };
    return { processor, store: processor.store, storage, applyOne, fatal, close };
  }

  const invocationIds = Array.from({ length: 40 }, () => newInvocationId(partitionKeyOf('k')).toString());

  it('holds applied records in the overlay until the deadline, then writes each key once', async () => {
    // Baseline: a commit after every record.
    const each = await open('each', { commitIntervalMs: 0 });
    for (const id of invocationIds) await each.applyOne(id);
    const perRecord = each.store.keysCommitted;
    await each.close();

    const timers = new ManualTimers();
    const grouped = await open('grouped', { commitIntervalMs: 60_000, timers });
    const before = grouped.store.keysCommitted; // what start wrote (layout, the leader announcement)
    for (const id of invocationIds) await grouped.applyOne(id);
    // Nothing reached LevelDB, and yet reads see every invocation.
    expect(grouped.store.keysCommitted).toBe(before);
    const reader = new PartitionReader(grouped.store);
    for (const id of invocationIds) expect(await reader.status(id)).toBeDefined();
    // The deadline passes while the processor waits for records: it commits.
    expect(timers.pending).toBe(1);
    timers.fireAll();
    await waitFor(async () => grouped.store.keysCommitted > before, { what: 'the group commit', timeoutMs: 10_000 });
    expect(grouped.store.dirty).toBe(false);
    const written = grouped.store.keysCommitted - before;
    // Committed per record: a status, an input entry, an inbox entry, the inbox counter, the applied offset.
    const n = invocationIds.length;
    expect(perRecord).toBeGreaterThanOrEqual(5 * n);
    // Grouped: the counter and the applied offset collapse to one write each (with the lock holder's keys).
    expect(written).toBeGreaterThanOrEqual(3 * n);
    expect(written).toBeLessThanOrEqual(3 * n + 4);
    expect(grouped.fatal).toEqual([]);
    await grouped.close();
  });

  it('commits as soon as the overlay holds commitMaxKeys keys', async () => {
    const timers = new ManualTimers();
    const p = await open('full', { commitIntervalMs: 60_000, commitMaxKeys: 20, timers });
    const before = p.store.keysCommitted;
    for (const id of invocationIds.slice(0, 10)) await p.applyOne(id);
    expect(p.store.keysCommitted).toBeGreaterThan(before);
    expect(p.store.pendingWrites).toBeLessThan(20);
    await p.close();
  });

  it('commits what is applied when it closes, so that a restart replays nothing', async () => {
    const timers = new ManualTimers();
    const p = await open('restart', { commitIntervalMs: 60_000, timers });
    for (const id of invocationIds.slice(0, 5)) await p.applyOne(id);
    const applied = p.processor.appliedOffset;
    expect(p.store.dirty).toBe(true);
    await p.close();

    const q = await open('restart', { commitIntervalMs: 60_000, timers: new ManualTimers() });
    // The restart starts where the first run stopped; its own announcement comes after.
    const reader = new PartitionReader(q.store);
    for (const id of invocationIds.slice(0, 5)) expect(await reader.status(id)).toBeDefined();
    expect(q.processor.appliedOffset).toBe(applied + 1n);
    await q.close();
  });
});
