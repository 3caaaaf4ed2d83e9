/**
 * The leader's timer queue: a bounded window of the earliest timers in memory, paged in from the time index.
 * Deterministic: the page loader is a fake store whose reads resolve when the test says so, time is a number.
 * The last test pages 100,000 timers from a real LevelDB store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { openPartitionStorage, PartitionTables, timerKey } from '../src/tables.ts';
import { type TimerEntry, type TimerPageLoader, TimerQueue } from '../src/timer-queue.ts';
import type { TimerKey } from '../src/types.ts';

const timer = (wakeAt: number, id: string, completionId = 1): TimerKey => ({
  wakeAt,
  invocationId: id,
  completionId,
});

/**
 * A time index in memory. A read takes its view when called (like PartitionStore.scan) and resolves when
 * `deliver()` runs (or at once with `auto`).
 */
class FakeIndex {
  readonly rows = new Map<string, TimerKey>();
  reads: { after: string | undefined; limit: number }[] = [];
  private pending: (() => void)[] = [];
  auto = true;

  readonly load: TimerPageLoader = (after, limit) => {
    this.reads.push({ after, limit });
    const view = [...this.rows]
      .filter(([k]) => after === undefined || k > after)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .slice(0, limit)
      .map(([key, t]) => ({ key, timer: t }));
    if (this.auto) return Promise.resolve(view);
    return new Promise((resolve) => this.pending.push(() => resolve(view)));
  };

  get reading(): boolean {
    return this.pending.length > 0;
  }

  async deliver(): Promise<void> {
    const p = this.pending;
    this.pending = [];
    for (const r of p) r();
    await flush();
  }

  put(t: TimerKey): void {
    this.rows.set(timerKey(t), t);
  }

  /** The earliest wake time among stored timers not in `except`. */
  earliest(except: Set<string>): number | undefined {
    let min: string | undefined;
    for (const k of this.rows.keys()) if (!except.has(k) && (min === undefined || k < min)) min = k;
    return min === undefined ? undefined : this.rows.get(min)!.wakeAt;
  }
}

const flush = () => new Promise<void>((r) => setImmediate(r));

/** The state machine's part: a fired timer leaves the index, then the queue forgets it. */
function settle(index: FakeIndex, q: TimerQueue, fired: TimerEntry[]): void {
  for (const e of fired) index.rows.delete(e.key);
  q.settled(fired);
}

/** Fires everything (refilling as the leader does) and returns the keys in firing order. */
async function drain(index: FakeIndex, q: TimerQueue, now = Number.MAX_SAFE_INTEGER): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    if (q.needsPage) {
      const r = q.refill();
      await index.deliver();
      await r;
    }
    const due = q.takeDue(now);
    out.push(...due.map((e) => e.key));
    settle(index, q, due);
    if (due.length === 0 && !q.needsPage) return out;
  }
}

describe('TimerQueue', () => {
  test('fires in wake-time order, reading pages as memory runs low and never holding more than the bound', async () => {
    const index = new FakeIndex();
    const q = new TimerQueue({ load: index.load, keyOf: timerKey, maxInMemory: 8, pageSize: 4, lowWater: 2 });
    const all: TimerKey[] = [];
    for (let i = 0; i < 100; i++) all.push(timer((i * 7919) % 1000, `inv_${i}`));
    for (const t of all) index.put(t);
    await q.refill();
    expect(q.size).toBe(4);
    expect(q.nextWakeAt()).toBe(Math.min(...all.map((t) => t.wakeAt)));
    const fired: string[] = [];
    for (let now = 0; now <= 1000; now += 13) {
      while (q.needsPage) await q.refill();
      const due = q.takeDue(now);
      expect(due.every((e) => e.timer.wakeAt <= now)).toBe(true);
      fired.push(...due.map((e) => e.key));
      settle(index, q, due);
      expect(q.size).toBeLessThanOrEqual(8);
      expect(q.nextWakeAt() ?? Number.POSITIVE_INFINITY).toBeGreaterThan(now);
    }
    fired.push(...(await drain(index, q)));
    expect(fired).toEqual(all.map(timerKey).sort());
    // Each page starts after the previous one's last key: the index is read once, not once per fire.
    expect(index.reads.length).toBeLessThanOrEqual(100 / 4 + 2);
  });

  test('a new timer at or below the cursor goes into memory, one above it is read with its page', async () => {
    const index = new FakeIndex();
    const q = new TimerQueue({ load: index.load, keyOf: timerKey, maxInMemory: 8, pageSize: 4, lowWater: 2 });
    for (let i = 1; i <= 10; i++) index.put(timer(i * 100, `inv_${i}`));
    await q.refill(); // holds 100..400; cursor at 400
    expect(q.size).toBe(4);
    const below = timer(250, 'inv_below');
    index.put(below);
    q.add(below);
    expect(q.size).toBe(5);
    const above = timer(650, 'inv_above');
    index.put(above);
    q.add(above);
    expect(q.size).toBe(5); // stays in the store only
    const earliest = timer(5, 'inv_earliest');
    index.put(earliest);
    q.add(earliest);
    expect(q.nextWakeAt()).toBe(5);
    const wakeAts = [...index.rows.values()].map((t) => t.wakeAt).sort((a, b) => a - b);
    const fired = await drain(index, q);
    expect(fired.length).toBe(13);
    expect(fired).toEqual([...fired].sort());
    expect(wakeAts.slice(0, 6)).toEqual([5, 100, 200, 250, 300, 400]);
    expect(index.rows.size).toBe(0);
  });

  test('nothing lost and nothing fired twice: order across below/above adds and refills', async () => {
    const index = new FakeIndex();
    const q = new TimerQueue({ load: index.load, keyOf: timerKey, maxInMemory: 8, pageSize: 4, lowWater: 2 });
    const added: string[] = [];
    const add = (t: TimerKey) => {
      index.put(t);
      q.add(t);
      added.push(timerKey(t));
    };
    for (let i = 1; i <= 10; i++) index.put(timer(i * 100, `inv_${i}`));
    for (let i = 1; i <= 10; i++) added.push(timerKey(timer(i * 100, `inv_${i}`)));
    await q.refill();
    add(timer(150, 'a'));
    add(timer(950, 'b'));
    add(timer(10_000, 'c'));
    const fired = await drain(index, q);
    expect(fired).toEqual([...added].sort());
    expect(new Set(fired).size).toBe(fired.length);
  });

  test('over the bound it drops the latest timers and moves the cursor back; they are paged in again', async () => {
    const index = new FakeIndex();
    const q = new TimerQueue({ load: index.load, keyOf: timerKey, maxInMemory: 8, pageSize: 4, lowWater: 2 });
    index.put(timer(1000, 'late'));
    await q.refill(); // exhausted: every new timer goes into memory
    expect(q.needsPage).toBe(false);
    for (let i = 0; i < 20; i++) {
      const t = timer(500 - i, `early_${i}`);
      index.put(t);
      q.add(t);
      expect(q.size).toBeLessThanOrEqual(8);
    }
    expect(q.stats.dropped).toBeGreaterThan(0);
    expect(q.nextWakeAt()).toBe(481);
    // A timer above the moved-back cursor now stays in the store.
    const sizeBefore = q.size;
    const t = timer(900, 'above_cursor');
    index.put(t);
    q.add(t);
    expect(q.size).toBe(sizeBefore);
    const fired = await drain(index, q);
    expect(index.rows.size).toBe(0);
    expect(fired.length).toBe(22);
    expect(new Set(fired).size).toBe(22);
    expect(fired).toEqual([...fired].sort());
  });

  test('timers added while a page is read are kept when the page covers them (the read predates them)', async () => {
    const index = new FakeIndex();
    index.auto = false;
    const q = new TimerQueue({ load: index.load, keyOf: timerKey, maxInMemory: 16, pageSize: 4, lowWater: 2 });
    for (let i = 1; i <= 10; i++) index.put(timer(i * 100, `inv_${i}`));
    const r = q.refill(); // reads 100..400 as of now
    const during = timer(250, 'during');
    index.put(during);
    q.add(during); // above the cursor (nothing read yet), below the page's end
    const later = timer(450, 'later');
    index.put(later);
    q.add(later); // above the page's end: read with the next page
    await index.deliver();
    await r;
    expect(q.size).toBe(5);
    expect(q.takeDue(300).map((e) => e.timer.invocationId)).toEqual(['inv_1', 'inv_2', 'during', 'inv_3']);
    index.auto = true;
    const fired = await drain(index, q);
    expect(fired.map((k) => k)).toContain(timerKey(later));
    expect(fired.length).toBe(8);
  });

  test('a page read while the cursor moved back is discarded, and nothing is lost', async () => {
    const index = new FakeIndex();
    index.auto = false;
    const q = new TimerQueue({ load: index.load, keyOf: timerKey, maxInMemory: 8, pageSize: 4, lowWater: 2 });
    for (let i = 1; i <= 5; i++) index.put(timer(1000 + i, `old_${i}`));
    let r = q.refill();
    await index.deliver();
    await r; // holds 1001..1004
    for (let i = 1; i <= 3; i++) settle(index, q, q.takeDue(1000 + i));
    expect(q.needsPage).toBe(true);
    r = q.refill(); // reads 1005 (after 1004), the last one
    for (let i = 0; i < 8; i++) {
      const t = timer(10 + i, `new_${i}`);
      index.put(t);
      q.add(t); // below the cursor: into memory, over the bound: drop the latest (1004 among them)
    }
    expect(q.size).toBe(6);
    await index.deliver();
    await r;
    // Taken as is, the page would leave 1004 and two new timers out of a window said to be complete.
    expect(q.size).toBe(6);
    expect(q.needsPage).toBe(false);
    index.auto = true;
    const fired = await drain(index, q);
    expect(fired.length).toBe(2 + 8);
    expect(fired).toEqual([...fired].sort());
    expect(index.rows.size).toBe(0);
  });

  test('a timer taken and not yet settled is not paged in again; a failed one fires again', async () => {
    const index = new FakeIndex();
    const q = new TimerQueue({ load: index.load, keyOf: timerKey, maxInMemory: 4, pageSize: 2, lowWater: 1 });
    for (let i = 1; i <= 6; i++) index.put(timer(i, `inv_${i}`));
    await q.refill();
    // Over the bound with earlier timers: the cursor moves back below the taken ones.
    const taken = q.takeDue(2);
    expect(taken.map((e) => e.timer.wakeAt)).toEqual([1, 2]);
    for (let i = 0; i < 5; i++) {
      const t = timer(0, `zero_${i}`);
      index.put(t);
      q.add(t);
    }
    expect(q.size).toBeLessThanOrEqual(4);
    // The five zeros, some of them paged in again after the drop.
    const zeros = await drain(index, q, 0);
    expect(zeros.length).toBe(5);
    while (q.needsPage) await q.refill();
    // The store still has 1 and 2 (their TimerFired is not applied): not paged in again.
    expect(index.rows.has(taken[0].key)).toBe(true);
    expect(q.nextWakeAt()).toBe(3);
    q.failed([taken[1]]);
    expect(q.nextWakeAt()).toBe(2);
    settle(index, q, [taken[0]]);
    const fired = await drain(index, q);
    expect(fired.map((k) => k.slice(0, 9))).toEqual([2, 3, 4, 5, 6].map((w) => timerKey(timer(w, '')).slice(0, 9)));
    expect(index.rows.size).toBe(0);
  });

  test('property: bounded memory, the earliest timer always known, each timer fired exactly once, in order', async () => {
    type Op =
      | { t: 'add'; wakeAt: number }
      | { t: 'burst'; count: number }
      | { t: 'advance'; by: number }
      | { t: 'settle' }
      | { t: 'fail' }
      | { t: 'refill' }
      | { t: 'deliver' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ t: fc.constant('add' as const), wakeAt: fc.nat(40) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('burst' as const), count: fc.integer({ min: 1, max: 8 }) }) },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('advance' as const), by: fc.nat(20) }) },
      { weight: 2, arbitrary: fc.constant({ t: 'settle' as const }) },
      { weight: 1, arbitrary: fc.constant({ t: 'fail' as const }) },
      { weight: 2, arbitrary: fc.constant({ t: 'refill' as const }) },
      { weight: 2, arbitrary: fc.constant({ t: 'deliver' as const }) },
    );
    let discarded = 0;
    let dropped = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { maxLength: 150, size: 'max' }),
        fc.integer({ min: 1, max: 6 }),
        fc.nat(),
        async (ops, max, w) => {
          const index = new FakeIndex();
          index.auto = false;
          const pageSize = Math.max(1, Math.floor(max / 2));
          const lowWater = w % (max - pageSize + 1);
          const q = new TimerQueue({ load: index.load, keyOf: timerKey, maxInMemory: max, pageSize, lowWater });
          let now = 0;
          let n = 0;
          const added = new Set<string>();
          const refills: Promise<void>[] = [];
          const fired: string[] = [];
          let firing: TimerEntry[] = [];
          const firingKeys = () => new Set(firing.map((e) => e.key));
          const add = (wakeAt: number) => {
            const t = timer(Math.max(0, wakeAt), `inv_${n++}`);
            index.put(t);
            added.add(timerKey(t));
            q.add(t);
          };
          for (const op of ops) {
            switch (op.t) {
              case 'add':
                add(now + op.wakeAt - 10);
                break;
              case 'burst': // many early timers at once: over the bound
                for (let i = 0; i < op.count; i++) add(now + (i % 3));
                break;
              case 'advance': {
                now += op.by;
                const due = q.takeDue(now);
                for (const e of due) {
                  expect(e.timer.wakeAt).toBeLessThanOrEqual(now);
                  expect(firingKeys().has(e.key)).toBe(false);
                }
                fired.push(...due.map((e) => e.key));
                firing.push(...due);
                refills.push(q.refill()); // as the leader does after firing
                break;
              }
              case 'settle':
                settle(index, q, firing);
                firing = [];
                break;
              case 'fail':
                q.failed(firing);
                fired.splice(fired.length - firing.length, firing.length);
                firing = [];
                break;
              case 'refill':
                refills.push(q.refill());
                break;
              case 'deliver':
                await index.deliver();
                break;
            }
            expect(q.size).toBeLessThanOrEqual(max);
            // The heap's minimum is the earliest stored timer not being fired (when the heap holds any).
            const next = q.nextWakeAt();
            if (next !== undefined) expect(next).toBe(index.earliest(firingKeys()));
            else if (!q.needsPage) expect(index.earliest(firingKeys())).toBeUndefined();
          }
          settle(index, q, firing);
          index.auto = true;
          await index.deliver();
          await Promise.all(refills);
          fired.push(...(await drain(index, q)));
          expect(new Set(fired).size).toBe(fired.length);
          expect(new Set(fired)).toEqual(added);
          expect(index.rows.size).toBe(0);
          discarded += q.stats.discarded;
          dropped += q.stats.dropped;
        },
      ),
      { numRuns: 500, seed: 10 },
    );
    // The runs reach the cases that matter: drops, and pages read while the cursor moved back.
    expect(discarded).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
  });

  test('pages 100,000 timers from a LevelDB store: memory stays within the bound, all fire in wake-time order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stead-timers-'));
    const engine = await openPartitionStorage(dir);
    try {
      const store = engine.partition(0);
      const tables = new PartitionTables(store);
      const N = 100_000;
      const base = 1_800_000_000_000;
      for (let i = 0; i < N; i++) {
        tables.putTimer(timer(base + ((i * 48_271) % N) * 10, `inv_${i}`, i % 3 === 0 ? -2 : i));
        if (i % 10_000 === 9_999) await store.commit();
      }
      await store.commit();
      const max = 2000;
      const q = new TimerQueue({ load: (a, l) => tables.timersAfter(a, l), keyOf: timerKey, maxInMemory: max });
      const scannedBefore = store.entriesScanned;
      let last = '';
      let count = 0;
      let maxSize = 0;
      let now = base;
      // New timers arrive while paging: earlier than the window (into memory), later (stay in the store).
      const extra: TimerKey[] = [];
      while (count < N + 200) {
        if (q.needsPage) await q.refill();
        maxSize = Math.max(maxSize, q.size);
        if (count >= 50_000 && extra.length === 0) {
          for (let i = 1; i <= 100; i++)
            extra.push(timer(now + i, `early_${i}`), timer(now + 900_000 + i, `late_${i}`));
          for (const t of extra) {
            tables.putTimer(t);
            q.add(t);
            maxSize = Math.max(maxSize, q.size);
          }
        }
        now += 500;
        const due = q.takeDue(now);
        for (const e of due) {
          expect(e.key > last).toBe(true);
          last = e.key;
          tables.delTimer(e.timer);
        }
        if (due.length > 0) await store.commit();
        q.settled(due);
        count += due.length;
        if (due.length === 0 && !q.needsPage && q.nextWakeAt() === undefined) break;
      }
      expect(count).toBe(N + 200);
      expect(maxSize).toBeLessThanOrEqual(max);
      expect(await tables.timersAfter(undefined, 1)).toEqual([]);
      // Each timer is read about once: pages continue after the cursor instead of rescanning the table.
      expect(store.entriesScanned - scannedBefore).toBeLessThan(1.1 * N);
    } finally {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
