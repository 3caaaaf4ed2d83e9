import type { Random, Timers } from '../replicated/quorum.ts';

/** Seeded PRNG (mulberry32): the same seed gives the same run. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Event {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Virtual time and an event queue. Code under test gets `timers` and `random` from here and never touches real
 * time; `run` executes events in (time, insertion) order and lets all promise reactions settle between events,
 * so a run depends on the seed only.
 */
export class World {
  readonly random: Random;
  private time = 0;
  private seq = 0;
  private heap: Event[] = [];
  steps = 0;
  readonly timers: Timers;

  constructor(seed: number) {
    this.random = seededRandom(seed);
    this.timers = {
      now: () => this.time,
      after: (ms, fn) => {
        const ev = this.schedule(ms, fn);
        return () => {
          ev.cancelled = true;
        };
      },
    };
  }

  get now(): number {
    return this.time;
  }

  schedule(delayMs: number, fn: () => void): Event {
    const ev: Event = { at: this.time + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.push(ev);
    return ev;
  }

  /** Random integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.random() * xs.length)]!;
  }

  /** Runs events until virtual time `until` (or until `stop()` holds, checked between events). */
  async run(until: number, stop?: () => boolean): Promise<void> {
    await settle();
    while (this.heap.length > 0) {
      if (stop?.()) return;
      const ev = this.peek()!;
      if (ev.at > until) break;
      this.pop();
      if (ev.cancelled) continue;
      this.time = ev.at;
      this.steps++;
      ev.fn();
      await settle();
    }
    if (this.time < until) this.time = until;
  }

  private less(a: Event, b: Event): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
  private peek(): Event | undefined {
    return this.heap[0];
  }
  private push(ev: Event): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  private pop(): Event | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Lets every pending promise reaction run (setImmediate fires after the microtask queue is empty). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
