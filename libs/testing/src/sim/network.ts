import type { SimClock } from './clock.ts';
import type { Prng } from './prng.ts';

export interface SimNetworkOptions {
  readonly clock: SimClock;
  /** Draws delays, losses and duplicates; give the network its own fork so that faults do not shift it. */
  readonly random: Prng;
  /** Probability that a message is lost (default 0). */
  readonly loss?: number;
  /** Probability that a message is delivered twice, each copy with its own delay (default 0). */
  readonly duplicate?: number;
  /** Delay of one message; independent delays reorder messages (default: 1 to 8 ms). */
  readonly delayMs?: (random: Prng) => number;
}

/**
 * A network between named nodes on a {@link SimClock}: every message is delivered after a seeded delay (so
 * messages overtake each other), or lost, or delivered twice. Links can be cut one way or both ways, and a node
 * that is down neither sends nor receives. A message is dropped when its link is blocked when it is sent or when
 * it arrives.
 */
export class SimNetwork {
  private readonly clock: SimClock;
  private readonly random: Prng;
  private readonly delayMs: (random: Prng) => number;
  private readonly cuts = new Set<string>();
  private readonly down = new Set<string>();
  loss: number;
  duplicate: number;
  readonly stats = { sent: 0, lost: 0, duplicated: 0, delivered: 0 };

  constructor(opts: SimNetworkOptions) {
    this.clock = opts.clock;
    this.random = opts.random;
    this.loss = opts.loss ?? 0;
    this.duplicate = opts.duplicate ?? 0;
    this.delayMs = opts.delayMs ?? ((r) => r.int(1, 8));
  }

  /** Sends a message from `from` to `to`: `deliver` runs at `to` when (and each time) it arrives. */
  send(from: string, to: string, deliver: () => void): void {
    this.stats.sent++;
    if (this.blocked(from, to) || this.random.chance(this.loss)) {
      this.stats.lost++;
      return;
    }
    const copies = this.random.chance(this.duplicate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      this.clock.setTimeout(() => {
        if (this.blocked(from, to)) {
          this.stats.lost++;
          return;
        }
        this.stats.delivered++;
        deliver();
      }, this.delayMs(this.random));
    }
  }

  /** Cuts the link from `from` to `to` (one way). */
  cut(from: string, to: string): void {
    this.cuts.add(`${from}>${to}`);
  }

  /** Cuts the link between `a` and `b` both ways. */
  partition(a: string, b: string): void {
    this.cut(a, b);
    this.cut(b, a);
  }

  /** Restores every cut link (nodes that are down stay down). */
  heal(): void {
    this.cuts.clear();
  }

  /** Takes a node off the network (a crash) or puts it back. */
  setDown(node: string, down: boolean): void {
    if (down) this.down.add(node);
    else this.down.delete(node);
  }

  isDown(node: string): boolean {
    return this.down.has(node);
  }

  /** Nodes that are down. */
  downNodes(): string[] {
    return [...this.down];
  }

  blocked(from: string, to: string): boolean {
    return this.down.has(from) || this.down.has(to) || this.cuts.has(`${from}>${to}`);
  }
}
