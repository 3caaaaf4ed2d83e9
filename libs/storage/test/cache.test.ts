import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Prng } from '@stead/testing/sim';
import { ENTRY_OVERHEAD_BYTES, ReadCache } from '../src/cache.ts';
import { StorageEngine } from '../src/store.ts';

describe('ReadCache', () => {
  it('keeps entry count and byte accounting within bounds over a million operations with deletions', () => {
    const limit = 256 * 1024;
    const cache = new ReadCache(limit);
    const model = new Map<string, Uint8Array>();
    const rng = new Prng(42);
    const random = () => rng.next();
    let maxEntries = 0;
    let sets = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const key = `k${Math.floor(random() * 50_000)}`;
      const r = random();
      if (r < 0.45) {
        const value = new Uint8Array(Math.floor(random() * 200)).fill(i & 0xff);
        cache.set(key, value);
        sets++;
        model.set(key, value);
      } else if (r < 0.7) {
        cache.delete(key);
        model.delete(key);
      } else {
        const got = cache.get(key);
        // A hit is always the latest value written for the key (never a stale or deleted one).
        if (got !== undefined) expect(got).toBe(model.get(key));
      }
      if (i % 10_000 === 0) {
        const s = cache.stats();
        expect(s.bytes).toBeLessThanOrEqual(limit);
        maxEntries = Math.max(maxEntries, s.entries);
      }
    }
    const s = cache.stats();
    expect(s.bytes).toBeLessThanOrEqual(limit);
    expect(s.entries).toBeLessThanOrEqual(Math.floor(limit / ENTRY_OVERHEAD_BYTES));
    expect(maxEntries).toBeLessThanOrEqual(Math.floor(limit / ENTRY_OVERHEAD_BYTES));
    expect(s.evictions).toBeGreaterThan(0);
    expect(s.hits).toBeGreaterThan(0);
    // The slot arrays never outgrow the most entries the limit allows, and eviction work is amortized O(1):
    // the hand passes a slot at most twice per eviction, plus at most one sweep over the slots per set.
    expect(cache.slots).toBeLessThanOrEqual(Math.floor(limit / ENTRY_OVERHEAD_BYTES) + 1);
    expect(s.handSteps).toBeLessThanOrEqual(2 * s.evictions + sets + cache.slots);
  });

  it('evicts in constant time per insert in a full cache under insert/delete churn (the soak pattern)', () => {
    // New keys written in order, a third of them deleted soon after, the cache full: what a partition's
    // completed invocations do to it. A Map walked from its start would skip every deleted entry here.
    const cache = new ReadCache(4 * 2 ** 20);
    const value = new Uint8Array(150);
    const full = () => cache.stats().bytes > cache.limitBytes - 1024;
    let i = 0;
    while (!full()) cache.set(`key-${i++}`, value);
    const before = cache.stats();
    const sets = 300_000;
    for (let n = 0; n < sets; n++) {
      cache.set(`key-${i++}`, value);
      if (n % 3 === 0) cache.delete(`key-${i - 2}`);
    }
    const after = cache.stats();
    expect(after.evictions - before.evictions).toBeGreaterThan(sets / 2);
    expect((after.handSteps - before.handSteps) / sets).toBeLessThan(3);
    expect(cache.slots).toBeLessThanOrEqual(Math.floor(cache.limitBytes / ENTRY_OVERHEAD_BYTES) + 1);
  });

  it('does not grow the heap under insert/delete churn that never fills it (no pinned map tables)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const cache = new ReadCache(1 << 20);
    cache.set('warm', new Uint8Array(10));
    cache.set('warm', new Uint8Array(10)); // an eviction pass may have run once; now only churn below the limit
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) {
      cache.set(`k${i}`, new Uint8Array(16));
      if (i >= 100) cache.delete(`k${i - 100}`);
    }
    gc();
    const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    expect(cache.stats().entries).toBe(101);
    expect(grownMiB).toBeLessThan(20);
  });

  it('accounts key, value and overhead per entry, and refuses values over an eighth of the limit', () => {
    const cache = new ReadCache(8 * 1024);
    cache.set('abc', new Uint8Array(100));
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: ENTRY_OVERHEAD_BYTES + 3 + 100 });
    cache.set('abc', new Uint8Array(10)); // replaced, not added
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: ENTRY_OVERHEAD_BYTES + 3 + 10 });
    cache.set('big', new Uint8Array(1024));
    expect(cache.get('big')).toBeUndefined();
    cache.delete('abc');
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('gives a recently read entry a second chance before evicting it', () => {
    const cost = ENTRY_OVERHEAD_BYTES + 2 + 10;
    const cache = new ReadCache(cost * 8);
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8'];
    for (const k of keys) cache.set(k, new Uint8Array(10));
    expect(cache.stats().entries).toBe(8);
    cache.get('k1');
    cache.set('k9', new Uint8Array(10)); // evicts k2, the oldest not read since (k1 goes to the back)
    expect(cache.get('k1')).toBeDefined();
    expect(cache.get('k2')).toBeUndefined();
    for (const k of ['k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9']) expect(cache.get(k)).toBeDefined();
  });

  it('does not keep a large buffer alive for a small view of it', () => {
    const cache = new ReadCache(1 << 20);
    const slab = new Uint8Array(64 * 1024);
    const view = slab.subarray(100, 110);
    cache.set('v', view);
    const got = cache.get('v')!;
    expect(got).toEqual(view);
    expect(got.buffer.byteLength).toBe(10);
  });
});

describe('PartitionStore read cache', () => {
  let dir: string;
  let engine: StorageEngine;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stead-cache-'));
    engine = await StorageEngine.open(dir);
  });
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds no entry for deleted or absent keys, and stays bounded under write/delete churn', async () => {
    const limit = 64 * 1024;
    const store = engine.partition(0, limit);
    const codec = { encode: (v: Uint8Array) => v, decode: (b: Uint8Array) => b };
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 50; i++) store.put(`j${round}/${i}`, new Uint8Array(40), codec);
      await store.commit();
      for (let i = 0; i < 50; i++) store.del(`j${round}/${i}`);
      await store.commit();
      expect(await store.getRaw(`absent${round}`)).toBeUndefined();
    }
    // Everything written was deleted again: nothing is left in the cache, absent keys are not remembered.
    expect(store.cacheStats()).toMatchObject({ entries: 0, bytes: 0 });
    for (let i = 0; i < 5_000; i++) store.put(`s${i}`, new Uint8Array(40), codec);
    await store.commit();
    const s = store.cacheStats();
    expect(s.bytes).toBeLessThanOrEqual(limit);
    expect(s.entries).toBeLessThanOrEqual(Math.floor(limit / ENTRY_OVERHEAD_BYTES));
    expect(await store.getRaw('s0')).toEqual(new Uint8Array(40)); // evicted from the cache, read from LevelDB
  });
});
