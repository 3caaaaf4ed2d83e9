/**
 * The records a sequencer released most recently, kept in memory for readers that follow the loglet
 * (ReadStream): each released wave is pushed to every subscriber, so a tailing reader learns of a record one
 * network hop after its write quorum instead of asking log servers. Only released records enter the window
 * (every offset in it is below the released tail), so a subscriber never sees an unacknowledged record.
 *
 * Invariants: the window holds the dense offsets [start, end) and end is the released tail; its payload bytes
 * (plus a per-record overhead) stay at most maxBytes, the oldest records leave first; a subscription's `next`
 * only moves forward, and what it delivers continues exactly at `next` (no gap, no duplicate).
 */

/** Why a subscription ended. */
export type ReleaseEnd =
  /** The subscriber asked for (or fell to) an offset the window no longer holds: read below windowStart elsewhere. */
  | { kind: 'below-window' | 'too-slow'; windowStart: bigint; tail: bigint }
  /** The loglet is sealed: nothing more will be released by this sequencer. */
  | { kind: 'sealed'; tail: bigint }
  /** The sequencer stopped. */
  | { kind: 'closed'; error: Error };

export interface ReleaseSink {
  /**
   * Records [first, first + payloads.length), continuing where the previous call ended; `tail` is the released
   * tail. Returning false pauses the subscription until `resume()` (the transport's buffer is full).
   */
  records(first: bigint, payloads: Uint8Array[], tail: bigint): boolean;
  /** Called once, last. */
  end(reason: ReleaseEnd): void;
}

export interface ReleaseSubscription {
  /** Continues after `records` returned false. */
  resume(): void;
  /** Stops without calling `end`. */
  cancel(): void;
}

export interface ReleaseWindowOptions {
  /** Payload bytes (plus overhead) kept (default 4 MiB). */
  maxBytes?: number;
  /** Payload bytes per `records` call (default 256 KiB; a larger record goes alone). */
  maxMessageBytes?: number;
}

const RECORD_OVERHEAD = 64;

class Subscription implements ReleaseSubscription {
  paused = false;
  done = false;
  private readonly window: ReleaseWindow;
  /** The next offset to deliver. */
  next: bigint;
  readonly sink: ReleaseSink;
  constructor(window: ReleaseWindow, next: bigint, sink: ReleaseSink) {
    this.window = window;
    this.next = next;
    this.sink = sink;
  }
  resume(): void {
    if (this.done || !this.paused) return;
    this.paused = false;
    this.window.pump(this);
  }
  cancel(): void {
    this.done = true;
    this.window.drop(this);
  }
  finish(reason: ReleaseEnd): void {
    if (this.done) return;
    this.done = true;
    this.window.drop(this);
    this.sink.end(reason);
  }
}

export class ReleaseWindow {
  private readonly maxBytes: number;
  private readonly maxMessageBytes: number;
  /** payloads[head + i] is the record at offset start + i. */
  private payloads: Uint8Array[] = [];
  private head = 0;
  private start: bigint;
  private bytes = 0;
  private readonly subs = new Set<Subscription>();
  private ended: ReleaseEnd | undefined;

  constructor(start: bigint, opts: ReleaseWindowOptions = {}) {
    this.start = start;
    this.maxBytes = opts.maxBytes ?? 4 << 20;
    this.maxMessageBytes = opts.maxMessageBytes ?? 256 << 10;
  }

  /** The first offset held. */
  get windowStart(): bigint {
    return this.start;
  }

  /** The released tail (one past the last record held). */
  get end(): bigint {
    return this.start + BigInt(this.payloads.length - this.head);
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** Adds records just released (they must continue the window) and pushes them to the subscribers. */
  add(first: bigint, payloads: Uint8Array[]): void {
    if (first !== this.end)
      throw new Error(`release window: records at ${first} do not continue the released tail ${this.end}`);
    for (const p of payloads) {
      this.payloads.push(p);
      this.bytes += p.length + RECORD_OVERHEAD;
    }
    while (this.bytes > this.maxBytes && this.head < this.payloads.length - 1) {
      this.bytes -= this.payloads[this.head]!.length + RECORD_OVERHEAD;
      this.payloads[this.head] = EMPTY;
      this.head++;
      this.start++;
    }
    if (this.head > 1024 && this.head * 2 > this.payloads.length) {
      this.payloads = this.payloads.slice(this.head);
      this.head = 0;
    }
    for (const s of [...this.subs]) this.pump(s);
  }

  /**
   * Follows the released records from `from`: pushes what the window holds (or an empty batch when it holds
   * nothing from `from` on yet), then every release. Ends at once
   * with below-window when `from` is below the window; ends with the window's end when the loglet is sealed or
   * the sequencer closed (after the records the window still holds for it).
   */
  subscribe(from: bigint, sink: ReleaseSink): ReleaseSubscription {
    const s = new Subscription(this, from, sink);
    if (from < this.start) {
      s.done = true;
      sink.end({ kind: 'below-window', windowStart: this.start, tail: this.end });
      return s;
    }
    this.subs.add(s);
    this.pump(s);
    // Nothing to send yet: an empty batch tells the subscriber it is caught up (and the stream is up).
    if (s.next === from && !s.done && !s.paused && !s.sink.records(from, [], this.end)) s.paused = true;
    return s;
  }

  /** No more releases: ends every subscription (each first gets what the window holds for it). */
  close(reason: ReleaseEnd): void {
    if (this.ended) return;
    this.ended = reason;
    for (const s of [...this.subs]) this.pump(s);
  }

  /** @internal */
  drop(s: Subscription): void {
    this.subs.delete(s);
  }

  /** @internal Sends what `s` lacks, in messages of at most maxMessageBytes, until paused or caught up. */
  pump(s: Subscription): void {
    // A paused subscription whose next record left the window ends too (its transport is not draining).
    while (!s.done) {
      if (s.next < this.start) {
        s.finish({ kind: 'too-slow', windowStart: this.start, tail: this.end });
        return;
      }
      if (s.paused) return;
      const end = this.end;
      if (s.next >= end) {
        if (this.ended) s.finish(this.ended);
        return;
      }
      const batch: Uint8Array[] = [];
      let bytes = 0;
      let i = this.head + Number(s.next - this.start);
      const last = this.payloads.length;
      while (i < last && (batch.length === 0 || bytes + this.payloads[i]!.length <= this.maxMessageBytes)) {
        bytes += this.payloads[i]!.length;
        batch.push(this.payloads[i]!);
        i++;
      }
      const first = s.next;
      s.next += BigInt(batch.length);
      if (!s.sink.records(first, batch, end)) s.paused = true;
    }
  }
}

const EMPTY = new Uint8Array(0);
