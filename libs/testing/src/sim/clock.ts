/** Reads the time in milliseconds. Code under simulation takes this instead of `Date.now()`. */
export interface Clock {
  now(): number;
}

/** Schedules callbacks. Code under simulation takes this instead of the global `setTimeout`. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** A scheduled callback; the handle `SimClock.setTimeout` returns. */
export interface SimTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * Virtual time and a timer heap. Timers fire in (time, scheduling order): two timers due at the same time fire
 * in the order they were set, so a run depends on the seed only. Time moves only when `advance`, `advanceTo`,
 * `runUntilIdle` or `runAsync` fires a timer, and then jumps to that timer's time.
 */
export class SimClock implements Clock, Timers {
  private time: number;
  private seq = 0;
  /** Binary min-heap on (at, seq); cancelled timers stay in it until they reach the top. */
  private readonly heap: SimTimer[] = [];
  private live = 0;
  /** Timers fired so far (cancelled ones are not counted). */
  fired = 0;

  constructor(startMs = 0) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  /** Timers set and neither fired nor cleared. */
  get pending(): number {
    return this.live;
  }

  setTimeout(fn: () => void, ms: number): SimTimer {
    const t: SimTimer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(t);
    this.live++;
    return t;
  }

  clearTimeout(handle: unknown): void {
    const t = handle as SimTimer | undefined;
    if (!t || t.cancelled) return;
    t.cancelled = true;
    this.live--;
  }

  /** Fires the next timer if it is due at or before `limit`; returns whether one fired. */
  fireNext(limit = Number.POSITIVE_INFINITY): boolean {
    for (;;) {
      const t = this.heap[0];
      if (!t || t.at > limit) return false;
      this.pop();
      if (t.cancelled) continue;
      t.cancelled = true; // fired: clearing it later is a no-op
      this.live--;
      if (t.at > this.time) this.time = t.at;
      this.fired++;
      t.fn();
      return true;
    }
  }

  /** Fires every timer due up to `now() + ms` (including timers they set), then sets the time there. */
  advance(ms: number): void {
    this.advanceTo(this.time + ms);
  }

  advanceTo(at: number): void {
    while (this.fireNext(at)) {}
    if (this.time < at) this.time = at;
  }

  /** Fires timers until none is left; throws after `maxTimers` (a timer that keeps re-arming itself). */
  runUntilIdle(maxTimers = 1_000_000): void {
    for (let n = 0; this.fireNext(); n++) {
      if (n >= maxTimers) throw new Error(`SimClock.runUntilIdle: still busy after ${maxTimers} timers`);
    }
  }

  /**
   * For code that awaits: fires timers up to `until`, letting every promise reaction run before the first timer
   * and after each one, and returns early (without moving the time further) once `stop()` holds.
   */
  async runAsync(until: number, stop?: () => boolean): Promise<void> {
    await settle();
    for (;;) {
      if (stop?.()) return;
      if (!this.fireNext(until)) break;
      await settle();
    }
    if (this.time < until) this.time = until;
  }

  private less(a: SimTimer, b: SimTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(t: SimTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (h.length === 0 || !last) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

/** Lets every pending promise reaction run (setImmediate fires after the microtask queue is empty). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
