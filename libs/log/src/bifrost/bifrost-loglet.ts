import { maxBig, minBig, type Random, type Timers } from '../replicated/quorum.ts';
import { readLoglet } from '../replicated/reader.ts';
import type { ReleaseEnd } from '../replicated/release-window.ts';
import { withTimeout } from '../replicated/sealer.ts';
import type { LogServerDirectory } from '../replicated/types.ts';
import { type Loglet, type LogRecord, LogTrimmedError } from '../types.ts';
import { abortableWait } from '../wait.ts';
import type { Bifrost, SequencerDirectory, TailStream } from './bifrost.ts';
import { paramsOf, type Segment } from './chain.ts';

export interface BifrostLogletOptions {
  /**
   * Bytes of followed records kept for the reader (default 4 MiB). The follower stops reading ahead (pausing the
   * sequencer's stream, which may then end it as too-slow) while this many bytes are cached and not yet read.
   */
  cacheBytes?: number;
  /** How often the follower re-reads the chain while streaming, to notice a segment sealed by others (500 ms). */
  chainCheckMs?: number;
  /** Records per read from log servers (default 1000). */
  fetchRecords?: number;
}

/** What the loglet takes from its Bifrost (Bifrost.loglet passes its own). */
export interface BifrostLogletDeps {
  logServers: LogServerDirectory;
  sequencers: SequencerDirectory;
  timers: Timers;
  random: Random;
  callTimeoutMs: number;
}

const RECORD_OVERHEAD = 64;

interface TailWaiter {
  offset: bigint;
  resolve: (tail: bigint) => void;
  reject: (e: unknown) => void;
}

/**
 * One virtual log as a `Loglet`, for a partition processor on the replicated log.
 *
 * Appends go through Bifrost.append (pipelined, numbered calls: one producer's appends land in order).
 * Readers are served by a follower,
 * started once the reader reaches the tail (a read that ends there, or a waitForTail): it subscribes to the ReadStream of the open segment's sequencer, which
 * pushes each record once a write quorum holds it, and keeps what it receives in a bounded cache that `read`
 * serves without a network call. Below the sequencer's window, in sealed segments, and while the sequencer is
 * unreachable it reads from log servers instead; it notices reconfigurations (the stream ends as sealed, or the
 * chain it re-reads shows the segment sealed) and moves on to the next segment. Reads the cache does not hold go
 * to log servers directly.
 *
 * Invariants: the cache holds the dense offsets [cacheFirst, cacheEnd), each below the released tail;
 * `known <= released tail` (records below it are readable), and it only grows; what the follower adds always
 * continues exactly at cacheEnd, so the reader sees no gap and no duplicate.
 */
export class BifrostLoglet implements Loglet {
  readonly logId: string;
  private readonly bifrost: Bifrost;
  private readonly d: BifrostLogletDeps & Required<BifrostLogletOptions>;
  private readonly cache = new Map<bigint, Uint8Array>();
  private cacheFirst = 0n;
  private cacheEnd = 0n;
  private cachedBytes = 0;
  /** Bytes of cached records at or above readPos. */
  private unreadBytes = 0;
  /** The reader has read everything below this (the highest end of a read). */
  private readPos = 0n;
  /** Released (readable) tail as far as this reader knows: streamed records, sealed tails, tail answers. */
  private known = 0n;
  /** End of this client's own acknowledged appends (released too). */
  private acked = 0n;
  private readonly waiters = new Set<TailWaiter>();
  private following = false;
  /** A ReadStream is connected and caught up enough to be trusted for the tail (no GetTail at the tail). */
  private live = false;
  private stream: TailStream | undefined;
  /** Cancels the stream and ends its follow step (set while one runs). */
  private stopStream: (() => void) | undefined;
  private paused = false;
  private closed: Error | undefined;
  /** Wakes the follower when it waits for room in the cache or sleeps before a retry. */
  private wake: (() => void) | undefined;
  readonly stats = {
    /** Records received over ReadStream. */
    streamed: 0,
    /** Records the follower read from log servers (sealed segments, below the window, sequencer down). */
    fetched: 0,
    /** Reads served from the cache, and reads that went to log servers. */
    cacheReads: 0,
    logServerReads: 0,
    /** ReadStreams opened, and how they ended. */
    subscriptions: 0,
    streamEnds: { 'below-window': 0, 'too-slow': 0, sealed: 0, closed: 0 } as Record<ReleaseEnd['kind'], number>,
  };

  constructor(bifrost: Bifrost, logId: string, deps: BifrostLogletDeps & BifrostLogletOptions) {
    this.bifrost = bifrost;
    this.logId = logId;
    this.d = { cacheBytes: 4 << 20, chainCheckMs: 500, fetchRecords: 1000, ...deps };
    this.chainWatch = bifrost.follow(logId);
  }

  /** The watch that keeps this log's chain current in the Bifrost cache (when the metadata store can watch). */
  private readonly chainWatch: { watching: boolean; stop: () => void };

  async append(payloads: Uint8Array[]): Promise<bigint> {
    if (!Array.isArray(payloads) || payloads.length === 0)
      throw new TypeError('append needs a non-empty array of Uint8Array payloads');
    for (const p of payloads) if (!(p instanceof Uint8Array)) throw new TypeError('log payloads must be Uint8Array');
    const first = await this.bifrost.append(this.logId, payloads);
    const end = first + BigInt(payloads.length);
    if (end > this.acked) {
      this.acked = end;
      this.notify();
    }
    return first;
  }

  async read(from: bigint, limit = 1000): Promise<LogRecord[]> {
    if (this.closed) throw this.closed;
    if (from < 0n) throw new RangeError(`negative offset ${from}`);
    const entry = await this.bifrost.chain(this.logId);
    if (entry && from < entry.chain.trimPoint)
      throw new LogTrimmedError(`log ${this.logId} is trimmed below ${entry.chain.trimPoint}`);
    let bound = maxBig(this.known, this.acked);
    // A connected stream pushes every release: at the tail there is nothing to ask. Without one, ask.
    if (from >= bound && !this.live) bound = maxBig(bound, await this.tail());
    if (from >= bound || limit <= 0) {
      // Caught up: this reader tails the log, so follow it (the next records then come from the stream).
      this.startFollowing(from);
      return [];
    }
    let out: LogRecord[];
    if (from >= this.cacheFirst && from < this.cacheEnd) {
      out = [];
      const end = minBig(this.cacheEnd, from + BigInt(limit));
      for (let o = from; o < end; o++) out.push({ offset: o, payload: this.cache.get(o)! });
      this.stats.cacheReads++;
    } else {
      // Not cached: from log servers, up to where the cache starts (the next read is served from it).
      const to = minBig(bound, from < this.cacheFirst ? this.cacheFirst : bound);
      out = await this.fetch(from, minBig(to, from + BigInt(limit)));
      this.stats.logServerReads++;
    }
    if (out.length > 0) {
      const end = out.at(-1)!.offset + 1n;
      this.consumed(end);
      if (end >= bound) this.startFollowing(end);
    }
    return out;
  }

  async tail(): Promise<bigint> {
    if (this.closed) throw this.closed;
    this.raiseKnown(await this.bifrost.tail(this.logId));
    return maxBig(this.known, this.acked);
  }

  get knownTail(): bigint {
    return maxBig(this.known, this.acked);
  }

  waitForTail(offset: bigint, signal?: AbortSignal): Promise<bigint> {
    const bound = maxBig(this.known, this.acked);
    if (offset < bound) return Promise.resolve(bound);
    if (this.closed) return Promise.reject(this.closed);
    this.startFollowing(offset);
    return abortableWait<bigint>(signal, (w) => {
      const entry = { offset, resolve: w.resolve, reject: w.reject };
      this.waiters.add(entry);
      return () => this.waiters.delete(entry);
    });
  }

  async trim(upTo: bigint): Promise<void> {
    if (this.closed) throw this.closed;
    await this.bifrost.trim(this.logId, upTo);
  }

  /** Seals the log for good (Bifrost.seal): appends reject with LogSealedError from then on. */
  async seal(): Promise<bigint> {
    if (this.closed) throw this.closed;
    const tail = await this.bifrost.seal(this.logId);
    this.raiseKnown(tail);
    return tail;
  }

  /** Stops the follower and rejects tail waiters. */
  close(): void {
    if (this.closed) return;
    this.closed = new Error(`loglet ${this.logId} is closed`);
    this.chainWatch.stop();
    this.stopStream?.();
    for (const w of this.waiters) w.reject(this.closed);
    this.waiters.clear();
    this.wake?.();
  }

  // ---- tail ------------------------------------------------------------------------------------------------

  private raiseKnown(tail: bigint): void {
    if (tail <= this.known) return;
    this.known = tail;
    this.notify();
  }

  private notify(): void {
    if (this.waiters.size === 0) return;
    const bound = maxBig(this.known, this.acked);
    for (const w of this.waiters)
      if (w.offset < bound) {
        this.waiters.delete(w);
        w.resolve(bound);
      }
  }

  // ---- cache -----------------------------------------------------------------------------------------------

  /** Adds records that continue the cache (released ones only: from the stream or below a known tail). */
  private push(first: bigint, payloads: Uint8Array[]): void {
    if (first !== this.cacheEnd)
      throw new Error(`loglet ${this.logId}: records at ${first} do not continue the followed tail ${this.cacheEnd}`);
    for (const p of payloads) {
      this.cache.set(this.cacheEnd, p);
      const size = p.length + RECORD_OVERHEAD;
      this.cachedBytes += size;
      if (this.cacheEnd >= this.readPos) this.unreadBytes += size;
      this.cacheEnd++;
    }
    this.evict();
    this.raiseKnown(this.cacheEnd);
  }

  /** Drops read records, oldest first, while the cache is over its size. Unread ones stay (the stream pauses). */
  private evict(): void {
    while (this.cachedBytes > this.d.cacheBytes && this.cacheFirst < this.readPos && this.cacheFirst < this.cacheEnd) {
      const p = this.cache.get(this.cacheFirst)!;
      this.cache.delete(this.cacheFirst);
      this.cachedBytes -= p.length + RECORD_OVERHEAD;
      this.cacheFirst++;
    }
  }

  /** The reader has read everything below `to`. */
  private consumed(to: bigint): void {
    if (to <= this.readPos) return;
    const end = minBig(to, this.cacheEnd);
    for (let o = maxBig(this.readPos, this.cacheFirst); o < end; o++)
      this.unreadBytes -= this.cache.get(o)!.length + RECORD_OVERHEAD;
    this.readPos = to;
    this.evict();
    if (this.hasRoom()) {
      if (this.paused) {
        this.paused = false;
        this.stream?.resume();
      }
      this.wake?.();
    }
  }

  private hasRoom(): boolean {
    return this.unreadBytes < this.d.cacheBytes;
  }

  // ---- reading from log servers ------------------------------------------------------------------------------

  /** The segment holding virtual offset `at` in the cached chain (re-read once when it has none). */
  private async segmentAt(at: bigint, refresh = false): Promise<Segment | undefined> {
    const entry = await this.bifrost.chain(this.logId, refresh);
    const seg = entry?.chain.segments.find(
      (s) => s.base <= at && (s.sealedTail === undefined || at < s.base + s.sealedTail),
    );
    if (seg || refresh) return seg;
    return this.segmentAt(at, true);
  }

  /** Records [from, to) (all released) from log servers, across segments; fewer when a read comes back short. */
  private async fetch(from: bigint, to: bigint): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    let at = from;
    while (at < to) {
      const seg = await this.segmentAt(at);
      if (!seg) break;
      const end = seg.sealedTail === undefined ? to : minBig(to, seg.base + seg.sealedTail);
      const recs = await readLoglet(paramsOf(seg), this.d.logServers, at - seg.base, end - seg.base, {
        timers: this.d.timers,
        random: this.d.random,
        callTimeoutMs: this.d.callTimeoutMs,
      });
      if (recs.length === 0) break;
      for (const r of recs) out.push({ offset: seg.base + r.offset, payload: r.payload });
      at += BigInt(recs.length);
    }
    return out;
  }

  /** Moves the follower from cacheEnd up to `to` (released) through log servers, leaving room for the reader. */
  private async fetchInto(to: bigint): Promise<void> {
    while (this.cacheEnd < to && !this.closed) {
      await this.room();
      const recs = await this.fetch(this.cacheEnd, minBig(to, this.cacheEnd + BigInt(this.d.fetchRecords)));
      if (recs.length === 0) return;
      this.stats.fetched += recs.length;
      this.push(
        recs[0]!.offset,
        recs.map((r) => r.payload),
      );
    }
  }

  // ---- the follower ------------------------------------------------------------------------------------------

  private startFollowing(from: bigint): void {
    if (this.following) return;
    this.following = true;
    this.cacheFirst = from;
    this.cacheEnd = from;
    this.readPos = from;
    void this.follow().catch((e: unknown) => {
      // A broken invariant: stop loudly rather than serve a log with a hole.
      this.closed = e instanceof Error ? e : new Error(String(e));
      for (const w of this.waiters) w.reject(this.closed);
      this.waiters.clear();
    });
  }

  private async room(): Promise<void> {
    while (!this.hasRoom() && !this.closed) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = undefined;
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const cancel = this.d.timers.after(ms, () => {
        this.wake = undefined;
        resolve();
      });
      this.wake = () => {
        if (!this.closed) return; // only close cuts a pause short
        cancel();
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async follow(): Promise<void> {
    let backoffMs = 5;
    const retry = async () => {
      await this.sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, 500);
    };
    while (!this.closed) {
      await this.room();
      if (this.closed) return;
      let seg: Segment | undefined;
      try {
        const trimPoint = (await this.bifrost.chain(this.logId))?.chain.trimPoint ?? 0n;
        if (this.cacheEnd < trimPoint) this.jumpTo(trimPoint); // nothing to follow below the trim point
        seg = await this.segmentAt(this.cacheEnd);
      } catch {
        await retry(); // metadata store unreachable
        continue;
      }
      const at = this.cacheEnd;
      if (!seg) {
        // Past the last sealed segment: its successor is being written (or the log is sealed for good).
        await retry();
        continue;
      }
      try {
        if (seg.sealedTail !== undefined) {
          const end = seg.base + seg.sealedTail;
          this.raiseKnown(end); // sealed (and repaired): every record below is readable
          await this.fetchInto(end);
          backoffMs = 5;
          continue;
        }
        const before = this.cacheEnd;
        const ended = await this.streamSegment(seg, at);
        this.stats.streamEnds[ended.kind]++;
        if (this.cacheEnd > before) backoffMs = 5;
        if (ended.kind === 'below-window' || ended.kind === 'too-slow') {
          this.raiseKnown(seg.base + ended.tail);
          await this.fetchInto(seg.base + ended.windowStart);
          continue;
        }
        // Sealed or gone: the chain tells whether the segment moved on; until then, what log servers were told
        // is a (lagging) lower bound of the released tail.
        const fresh = await this.segmentAt(this.cacheEnd, true);
        if (fresh && fresh.index === seg.index && fresh.sealedTail === undefined) {
          await this.fetchInto(seg.base + (await this.logServerTail(seg)));
          await retry();
        }
      } catch (e) {
        if (e instanceof Error && e.message.includes('do not continue the followed tail')) throw e;
        await retry();
      }
    }
  }

  /** The reader asked below the trim point of the chain: follow from the trim point instead. */
  private jumpTo(at: bigint): void {
    for (const [o, p] of this.cache) {
      this.cachedBytes -= p.length + RECORD_OVERHEAD;
      this.cache.delete(o);
    }
    this.cacheFirst = at;
    this.cacheEnd = at;
    if (this.readPos < at) this.readPos = at;
    this.unreadBytes = 0;
  }

  /** Highest known global tail any log server of the segment was told (loglet-local). */
  private async logServerTail(seg: Segment): Promise<bigint> {
    const answers = await Promise.allSettled(
      seg.nodeset.map((m) =>
        withTimeout(this.d.timers, this.d.callTimeoutMs, () =>
          this.d.logServers(m.id).getDigest({ logletId: seg.logletId, from: 0n, to: 0n }),
        ),
      ),
    );
    let tail = 0n;
    for (const a of answers) if (a.status === 'fulfilled') tail = maxBig(tail, a.value.knownGlobalTail);
    return tail;
  }

  /**
   * Follows the open segment `seg` from virtual offset `at` over its sequencer's ReadStream until the stream
   * ends, or until the chain (re-read every chainCheckMs) shows the segment sealed.
   */
  private streamSegment(seg: Segment, at: bigint): Promise<ReleaseEnd> {
    const api = this.d.sequencers(seg.sequencer);
    if (!api.readStream)
      return Promise.resolve({ kind: 'closed', error: new Error('the sequencer client cannot stream') });
    const open = api.readStream.bind(api);
    this.stats.subscriptions++;
    return new Promise<ReleaseEnd>((resolve) => {
      let done = false;
      let cancelCheck = () => {};
      const finish = (e: ReleaseEnd) => {
        if (done) return;
        done = true;
        cancelCheck();
        this.live = false;
        this.paused = false;
        this.stream = undefined;
        this.stopStream = undefined;
        resolve(e);
      };
      const check = () => {
        cancelCheck = this.d.timers.after(this.d.chainCheckMs, () => {
          if (done) return;
          // With a watch on the chain the cached one is current: no metadata read per check.
          this.bifrost.chain(this.logId, !this.chainWatch.watching).then(
            (entry) => {
              const now = entry?.chain.segments.find((s) => s.index === seg.index);
              if (!done && (now === undefined || now.sealedTail !== undefined)) {
                stream.cancel();
                finish({ kind: 'sealed', tail: this.cacheEnd - seg.base });
              } else check();
            },
            () => check(),
          );
        });
      };
      const stream: TailStream = open(seg.logletId, at - seg.base, {
        records: (first, payloads) => {
          if (done || this.closed) return;
          this.live = true;
          if (payloads.length === 0) return; // the subscription's acknowledgment: caught up
          if (seg.base + first !== this.cacheEnd) {
            // Not where this reader is (cannot happen with a well-behaved sequencer): drop the stream, resubscribe.
            stream.cancel();
            finish({ kind: 'closed', error: new Error(`stream of ${seg.logletId} skipped to ${first}`) });
            return;
          }
          this.stats.streamed += payloads.length;
          this.push(seg.base + first, payloads);
          if (!this.hasRoom() && !this.paused) {
            this.paused = true;
            stream.pause();
          }
        },
        end: finish,
      });
      if (this.closed) {
        stream.cancel();
        finish({ kind: 'closed', error: this.closed });
        return;
      }
      this.stream = stream;
      this.stopStream = () => {
        stream.cancel();
        finish({ kind: 'closed', error: this.closed ?? new Error('stream stopped') });
      };
      check();
    });
  }
}
