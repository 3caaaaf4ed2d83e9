import { assert } from './assert.ts';
import type { TimerKey } from './types.ts';

/** A timer with its key in the time index (keys order timers by wake time; see tables.ts `timerKey`). */
export interface TimerEntry {
  key: string;
  timer: TimerKey;
}

/**
 * Reads one page of the time index: at most `limit` timers with keys greater than `after` (from the first
 * when undefined), in key order, as of the call (timers stored after the call need not be included).
 */
export type TimerPageLoader = (after: string | undefined, limit: number) => Promise<TimerEntry[]>;

export interface TimerQueueOptions {
  load: TimerPageLoader;
  keyOf: (timer: TimerKey) => string;
  /** The most timers held in memory (default 4096). */
  maxInMemory?: number;
  /** Timers read per page (default maxInMemory / 2). */
  pageSize?: number;
  /** A page is read once memory holds this many timers or fewer (default maxInMemory / 4). */
  lowWater?: number;
}

/**
 * The durable timers of a partition as its leader sees them: a window of the earliest ones in memory (a
 * min-heap by key), paged in from the time index in the store as the window runs low. It reads no clock and
 * arms nothing: the leader asks it for the next wake time and for the due timers, and runs `refill()`.
 *
 * Invariant (the window): every stored timer whose key is <= `cursor` (every stored timer once `exhausted`)
 * is in memory, except those taken and not yet settled (`firing`). So the heap's minimum is the earliest
 * timer of the partition, unless the heap is empty and not exhausted: then the next page must be read first.
 * - a new timer at or below the cursor goes into memory; one above it stays only in the store (it is read
 *   with its page);
 * - more than `maxInMemory` in memory (many new early timers): the latest ones are dropped and the cursor
 *   moves back to the last one kept;
 * - a page read while timers are added: those added above the old cursor and at or below the page's end go
 *   into memory with it (the page's view may predate them); a page read while the cursor moved back is
 *   discarded, as it no longer continues the window.
 */
export class TimerQueue {
  private readonly opts: TimerQueueOptions;
  readonly maxInMemory: number;
  private readonly pageSize: number;
  private readonly lowWater: number;
  /** Min-heap by key. */
  private heap: TimerEntry[] = [];
  /** The keys in `heap` (a timer paged in and also added is held once). */
  private readonly held = new Set<string>();
  /** Taken (handed to the leader to fire) and not yet settled: a page read meanwhile skips them. */
  private readonly firing = new Set<string>();
  /** The window is complete up to this key (undefined: up to nothing), or entirely when `exhausted`. */
  private cursor: string | undefined;
  private exhausted = false;
  /** Bumped when the cursor moves back: a page read before that does not continue the window. */
  private generation = 0;
  private loading: Promise<void> | undefined;
  /** Timers added above the cursor while a page is read. */
  private addedWhileLoading: TimerEntry[] = [];
  /** Pages read, timers paged in, timers dropped to keep the bound, pages discarded (for tests and metrics). */
  readonly stats = { pages: 0, pagedIn: 0, dropped: 0, discarded: 0 };

  constructor(opts: TimerQueueOptions) {
    this.opts = opts;
    this.maxInMemory = opts.maxInMemory ?? 4096;
    this.pageSize = opts.pageSize ?? Math.max(1, Math.floor(this.maxInMemory / 2));
    this.lowWater = opts.lowWater ?? Math.floor(this.maxInMemory / 4);
    assert(this.maxInMemory >= 1, `timer queue bound ${this.maxInMemory} must be at least 1`);
    assert(
      this.pageSize >= 1 && this.lowWater >= 0 && this.lowWater + this.pageSize <= this.maxInMemory,
      `timer queue page ${this.pageSize} + low water ${this.lowWater} must fit in ${this.maxInMemory}`,
    );
  }

  /** Timers held in memory. */
  get size(): number {
    return this.heap.length;
  }

  /** Taken timers not yet settled. */
  get inFlight(): number {
    return this.firing.size;
  }

  /** True when the heap may not hold the earliest timer: a page must be read (see `refill`). */
  get needsPage(): boolean {
    return !this.exhausted && this.heap.length <= this.lowWater;
  }

  /**
   * The wake time of the earliest timer in memory, if any. When undefined and `needsPage`, the store may
   * still hold timers: `refill()` first.
   */
  nextWakeAt(): number | undefined {
    return this.heap[0]?.timer.wakeAt;
  }

  /** A timer stored in the time index (the leader's `timer` effect). */
  add(timer: TimerKey): void {
    const entry = { key: this.opts.keyOf(timer), timer };
    if (this.belowCursor(entry.key)) {
      this.insert(entry);
      this.trim();
    } else if (this.loading) {
      this.addedWhileLoading.push(entry);
    }
    // Else above the cursor: it stays in the store and comes in with its page.
  }

  /**
   * Removes and returns the timers due at `now`, earliest first. They count as firing until `settled` (fired
   * and removed from the store) or `failed` (put back).
   */
  takeDue(now: number): TimerEntry[] {
    const due: TimerEntry[] = [];
    while (this.heap.length > 0 && this.heap[0].timer.wakeAt <= now) {
      const e = this.pop();
      this.firing.add(e.key);
      due.push(e);
    }
    return due;
  }

  /** Taken timers that are now removed from the store (their TimerFired is applied). */
  settled(entries: TimerEntry[]): void {
    for (const e of entries) this.firing.delete(e.key);
  }

  /** Taken timers whose firing failed: they are due again. */
  failed(entries: TimerEntry[]): void {
    for (const e of entries) {
      this.firing.delete(e.key);
      this.add(e.timer);
    }
  }

  /** Reads the next page if memory runs low (one read at a time: joins the read in flight). */
  refill(): Promise<void> {
    if (this.loading) return this.loading;
    if (!this.needsPage) return Promise.resolve();
    const generation = this.generation;
    const after = this.cursor;
    const limit = this.pageSize;
    this.addedWhileLoading = [];
    const loading = (async () => {
      try {
        const page = await this.opts.load(after, limit);
        if (generation === this.generation) this.accept(page, limit);
        else this.stats.discarded++;
      } finally {
        this.addedWhileLoading = [];
        this.loading = undefined;
      }
    })();
    this.loading = loading;
    return loading;
  }

  private accept(page: TimerEntry[], limit: number): void {
    this.stats.pages++;
    for (const e of page) {
      assert(
        this.cursor === undefined || e.key > this.cursor,
        'a timer page must start after the cursor and be in key order',
      );
      if (!this.firing.has(e.key) && this.insert(e)) this.stats.pagedIn++;
      this.cursor = e.key;
    }
    if (page.length < limit) this.exhausted = true;
    for (const e of this.addedWhileLoading) if (this.belowCursor(e.key)) this.insert(e);
    this.trim();
  }

  private belowCursor(key: string): boolean {
    return this.exhausted || (this.cursor !== undefined && key <= this.cursor);
  }

  /** Over the bound: keeps the earliest three quarters, moves the cursor back to the last one kept. */
  private trim(): void {
    if (this.heap.length <= this.maxInMemory) return;
    const keep = Math.max(1, Math.floor((this.maxInMemory * 3) / 4));
    // A sorted array is a min-heap. Amortized O(log n) per timer: a trim frees a quarter of the bound.
    const sorted = this.heap.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const dropped = sorted.splice(keep);
    for (const e of dropped) this.held.delete(e.key);
    this.stats.dropped += dropped.length;
    this.heap = sorted;
    this.cursor = sorted[sorted.length - 1].key;
    this.exhausted = false;
    this.generation++;
  }

  // ---------- binary min-heap by key ----------

  /** False when the key is held already. */
  private insert(e: TimerEntry): boolean {
    if (this.held.has(e.key)) return false;
    this.held.add(e.key);
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].key <= e.key) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = e;
    return true;
  }

  private pop(): TimerEntry {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r].key < h[l].key ? r : l;
        if (h[c].key >= last.key) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    this.held.delete(top.key);
    return top;
  }
}
