import { maxBig, type Random, realTimers, type Timers } from '../replicated/quorum.ts';
import { readLoglet } from '../replicated/reader.ts';
import type { ReleaseEnd } from '../replicated/release-window.ts';
import { sealLoglet, withTimeout } from '../replicated/sealer.ts';
import {
  type AppendCall,
  LogletSealedError,
  LogOutOfOrderError,
  LogOverloadedError,
  type LogServerDirectory,
  LogUnavailableError,
  type NodesetMember,
  type ReplicationProperty,
} from '../replicated/types.ts';
import type { LogRecord } from '../types.ts';
import { LogSealedError, LogTrimmedError } from '../types.ts';
import { BifrostLoglet, type BifrostLogletOptions } from './bifrost-loglet.ts';
import {
  chainKey,
  decodeChain,
  encodeChain,
  type LogChain,
  logletIdOf,
  paramsOf,
  readChain,
  type Segment,
  type SequencerRef,
} from './chain.ts';

interface PendingAppend {
  payloads: Uint8Array[];
  resolve: (first: bigint) => void;
  reject: (e: unknown) => void;
}

/** One sequencer call: appends combined, with its number (AppendCall.seq) in the current segment. */
interface Call {
  seq: number;
  payloads: Uint8Array[];
  appends: PendingAppend[];
  /** The call fails (LogUnavailableError) when not answered by then. */
  deadlineMs: number;
}

/**
 * The appends of one log. Invariants: `calls` are the calls made and not yet answered, in number order, at most
 * maxInflightAppends of them; numbers are consecutive within one segment (a call answered out of the middle was
 * sequenced after its predecessors, so the sequencer remembers them); while `recovering`, no call is sent.
 */
interface Batcher {
  queue: PendingAppend[];
  /** Records in `queue`. */
  queuedRecords: number;
  calls: Call[];
  /** Sends not yet settled (answered, failed or timed out). */
  inflight: number;
  nextSeq: number;
  /** The segment calls go to (undefined until recovery has read the chain). */
  seg: Segment | undefined;
  /** A call failed: wait for the sends in flight, then `recover` sends every call in `calls` again, in order. */
  recovering: boolean;
  /** The most telling failure of the calls in flight (see failureRank). */
  failure: unknown;
  /** Failed rounds since the last answered call, and since when the sequencer has been unreachable. */
  sealedRounds: number;
  unavailableRounds: number;
  unreachableSince: number | undefined;
  /** A pump is deferred to the end of this event-loop turn (see BifrostOptions.defer). */
  scheduled: boolean;
}

/** Of several failures of one round, the one recovery acts on: a seal over unavailability over backpressure. */
function failureRank(e: unknown): number {
  if (e === undefined) return -1;
  if (e instanceof LogOutOfOrderError) return 0; // a consequence of another call's failure
  if (e instanceof LogOverloadedError) return 1;
  if (e instanceof LogletSealedError) return 3;
  return 2;
}

/** The part of the metadata client the virtual log needs (MetadataClient satisfies it). */
export interface ChainStore {
  get(key: string): Promise<{ value: Uint8Array; version: number } | undefined>;
  /** Throws an error with `code: 'precondition-failed'` when the precondition does not hold. */
  put(
    key: string,
    value: Uint8Array,
    precondition: { kind: 'does-not-exist' } | { kind: 'matches-version'; version: number },
  ): Promise<number>;
  /**
   * Optional: calls `onEvent` with every newer value of `key` (MetadataClient has it). When present, readers of a
   * log learn of its reconfigurations from it instead of reading the chain again and again.
   */
  watch?(
    key: string,
    fromVersion: number,
    onEvent: (e: { deleted: boolean; value: Uint8Array; version: number }) => void,
  ): { close(): void };
}

/** A sequencer as appenders and readers see it (gRPC client in production). */
export interface SequencerApi {
  /**
   * Rejects with LogletSealedError once sealed, LogUnavailableError when it does not (or no longer) own the
   * loglet. With `call`, a numbered call (see AppendCall and SequencerCore.append): a call already sequenced is
   * answered with its first offset, one that skips ahead is refused with LogOutOfOrderError. A sequencer that
   * ignores `call` leaves the order of pipelined calls to chance (use maxInflightAppends 1 with it).
   */
  append(logletId: string, payloads: Uint8Array[], call?: AppendCall): Promise<bigint>;
  /** The released tail (loglet-local). */
  tail(logletId: string): Promise<bigint>;
  /**
   * Follows the released records of a loglet from `from` (ReadStream): `sink.records` gets them in order without
   * gaps, `sink.end` is called once when the stream ends (a transport failure ends it as `closed`). Optional:
   * readers without it read from log servers only.
   */
  readStream?(logletId: string, from: bigint, sink: TailSink): TailStream;
}

/** What a reader following a loglet receives (SequencerApi.readStream). */
export interface TailSink {
  records(first: bigint, payloads: Uint8Array[]): void;
  end(reason: ReleaseEnd): void;
}

/** A running ReadStream: pausing stops reading (the sequencer ends the stream as too-slow if it lasts). */
export interface TailStream {
  pause(): void;
  resume(): void;
  cancel(): void;
}

export type SequencerDirectory = (ref: SequencerRef) => SequencerApi;

/** Where a new segment goes: which sequencer, which log servers, how many copies. */
export interface Placement {
  sequencer: SequencerRef;
  nodeset: NodesetMember[];
  replication: ReplicationProperty;
}

export interface BifrostOptions {
  metadata: ChainStore;
  logServers: LogServerDirectory;
  sequencers: SequencerDirectory;
  /** Chooses the placement of the next segment; `failed` is the sequencer that just failed, if any. */
  place: (chain: LogChain | undefined, failed?: SequencerRef) => Promise<Placement> | Placement;
  timers: Timers;
  random: Random;
  /** An append that cannot reach the sequencer for this long triggers a reconfiguration. */
  failoverAfterMs?: number;
  /** Give up an append (LogUnavailableError) after this long. */
  appendTimeoutMs?: number;
  /** Per-call timeout towards a sequencer. */
  callTimeoutMs?: number;
  /**
   * Concurrent appends to one log are sent together: at most this many sequencer calls per log are unanswered
   * (pipelining), and appends arriving meanwhile join the next call (default 8, at most 64: what a sequencer
   * remembers per producer). This client's appends land in the order they were made, retries included (the
   * partition state machine drops a record whose (producer, sequence number) is not above the highest it
   * applied, so it relies on this): calls are numbered (AppendCall) and the sequencer sequences only the next
   * one; when a call fails, no new call is sent until those in flight settle, then every unanswered call is sent
   * again in order with its number (in a new segment: renumbered from where this client is), and the sequencer
   * answers those it already has without appending them again.
   */
  maxInflightAppends?: number;
  /** This client's producer id in numbered calls (default: random, so one per client instance). */
  producerId?: string;
  /** Upper bounds of one combined call (default 1024 records, 4 MiB). */
  maxBatchRecords?: number;
  maxBatchBytes?: number;
  /** Records waiting per log before appends are refused with LogOverloadedError (default 65,536). */
  maxQueuedRecords?: number;
  /** Called after each reconfiguration this client made. */
  onReconfigured?: (chain: LogChain, sealedTail: bigint, reason: string) => void;
  /**
   * Runs `fn` once what the current turn of the event loop does is done (default `setImmediate` with the real
   * timers, a zero-delay timer with others): appends made until then go out together.
   */
  defer?: (fn: () => void) => void;
}

function pause(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.after(ms, resolve));
}

function isPreconditionFailed(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'precondition-failed';
}

/**
 * The virtual log: append / read / tail / trim / seal over a chain of replicated segments kept in the metadata
 * store. Appends go to the sequencer of the last segment; when it is sealed or unreachable the client seals the
 * segment (f-majority + repair) and writes a new segment with a conditional metadata write (reconfiguration),
 * then retries there. Any number of clients may do this at once; the metadata store picks one chain.
 */
export class Bifrost {
  private readonly o: Required<Omit<BifrostOptions, 'onReconfigured'>> & Pick<BifrostOptions, 'onReconfigured'>;
  private readonly chains = new Map<string, { chain: LogChain; version: number }>();
  private readonly batchers = new Map<string, Batcher>();
  readonly stats = { reconfigurations: 0, appendRetries: 0 };

  constructor(opts: BifrostOptions) {
    this.o = {
      failoverAfterMs: 500,
      appendTimeoutMs: 30_000,
      callTimeoutMs: 2_000,
      maxInflightAppends: 8,
      producerId: Array.from({ length: 4 }, () =>
        Math.floor(opts.random() * 2 ** 32)
          .toString(36)
          .padStart(7, '0'),
      ).join(''),
      maxBatchRecords: 1024,
      maxBatchBytes: 4 << 20,
      maxQueuedRecords: 65_536,
      // With simulated timers, the end of the turn is a zero-delay timer of the simulation.
      defer: opts.timers === realTimers ? setImmediate : (fn: () => void) => void opts.timers.after(0, fn),
      ...opts,
    };
    if (!(this.o.maxInflightAppends >= 1 && this.o.maxInflightAppends <= 64))
      throw new Error(`maxInflightAppends must be in 1..64, got ${this.o.maxInflightAppends}`);
  }

  /** Logs whose chain key this client watches (see `follow`), with how many followers each has. */
  private readonly followed = new Map<string, { handle: { close(): void }; users: number }>();

  /**
   * Keeps the cached chain of `logId` current through a watch of its key, when the metadata store can watch;
   * returns whether it does (and then `chain(logId)` without refresh is current within a watch event) and the
   * function that ends the following.
   */
  follow(logId: string): { watching: boolean; stop: () => void } {
    const watch = this.o.metadata.watch?.bind(this.o.metadata);
    if (!watch) return { watching: false, stop: () => {} };
    let f = this.followed.get(logId);
    if (!f) {
      const handle = watch(chainKey(logId), 0, (e) => {
        if (e.deleted) return;
        try {
          const cached = this.chains.get(logId);
          if (!cached || cached.version < e.version)
            this.chains.set(logId, { chain: decodeChain(e.value), version: e.version });
        } catch {
          // a chain that does not decode: readers find out through their own reads
        }
      });
      f = { handle, users: 0 };
      this.followed.set(logId, f);
    }
    f.users++;
    let stopped = false;
    return {
      watching: true,
      stop: () => {
        if (stopped) return;
        stopped = true;
        const g = this.followed.get(logId);
        if (!g || --g.users > 0) return;
        g.handle.close();
        this.followed.delete(logId);
      },
    };
  }

  /** The chain of a log as last read from the metadata store (or freshly when `refresh`). */
  async chain(logId: string, refresh = false): Promise<{ chain: LogChain; version: number } | undefined> {
    if (!refresh) {
      const c = this.chains.get(logId);
      if (c) return c;
    }
    const entry = await readChain(this.o.metadata, logId);
    if (!entry) {
      this.chains.delete(logId);
      return undefined;
    }
    const cached = this.chains.get(logId);
    if (!cached || cached.version <= entry.version) this.chains.set(logId, entry);
    return this.chains.get(logId);
  }

  /** Creates a log with its first segment (placed by `place`, or as given); a no-op when it exists. */
  async create(logId: string, placement?: Placement): Promise<LogChain> {
    for (;;) {
      const have = await this.chain(logId, true);
      if (have) return have.chain;
      const p = placement ?? (await this.o.place(undefined));
      const chain: LogChain = {
        logId,
        trimPoint: 0n,
        segments: [{ index: 0, base: 0n, logletId: logletIdOf(logId, 0), ...p }],
      };
      try {
        const version = await this.o.metadata.put(chainKey(logId), encodeChain(chain), { kind: 'does-not-exist' });
        this.chains.set(logId, { chain, version });
        return chain;
      } catch (e) {
        if (!isPreconditionFailed(e)) throw e;
      }
    }
  }

  /**
   * Appends records in order; resolves with the virtual offset of the first once all are acknowledged.
   * Concurrent appends are combined into fewer sequencer calls (each keeps its records together and in order).
   */
  append(logId: string, payloads: Uint8Array[]): Promise<bigint> {
    if (payloads.length === 0) return Promise.reject(new Error('append needs at least one record'));
    let b = this.batchers.get(logId);
    if (!b) {
      b = {
        queue: [],
        queuedRecords: 0,
        calls: [],
        inflight: 0,
        nextSeq: 1,
        seg: undefined,
        recovering: false,
        failure: undefined,
        sealedRounds: 0,
        unavailableRounds: 0,
        unreachableSince: undefined,
        scheduled: false,
      };
      this.batchers.set(logId, b);
    }
    const batcher = b;
    if (batcher.queue.length > 0 && batcher.queuedRecords + payloads.length > this.o.maxQueuedRecords)
      return Promise.reject(
        new LogOverloadedError(`log ${logId} has ${batcher.queuedRecords} records waiting to be appended; retry later`),
      );
    batcher.queuedRecords += payloads.length;
    return new Promise((resolve, reject) => {
      batcher.queue.push({ payloads, resolve, reject });
      if (batcher.scheduled || batcher.recovering || batcher.calls.length >= this.o.maxInflightAppends) return;
      // Appends made during this turn of the event loop (frames of one read from an SDK stream, say) leave in
      // one sequencer call rather than one call each.
      batcher.scheduled = true;
      this.o.defer(() => {
        batcher.scheduled = false;
        this.pump(logId, batcher);
      });
    });
  }

  /** Sends what is queued as new calls, up to maxInflightAppends unanswered ones. */
  private pump(logId: string, b: Batcher): void {
    if (b.recovering) return;
    if (!b.seg) {
      if (b.queue.length > 0) this.startRecovery(logId, b, undefined);
      return;
    }
    while (b.queue.length > 0 && b.calls.length < this.o.maxInflightAppends) {
      const appends: PendingAppend[] = [];
      const payloads: Uint8Array[] = [];
      let bytes = 0;
      while (b.queue.length > 0) {
        const next = b.queue[0]!;
        const size = next.payloads.reduce((n, p) => n + p.length, 0);
        if (
          appends.length > 0 &&
          (payloads.length + next.payloads.length > this.o.maxBatchRecords || bytes + size > this.o.maxBatchBytes)
        )
          break;
        b.queue.shift();
        b.queuedRecords -= next.payloads.length;
        appends.push(next);
        payloads.push(...next.payloads);
        bytes += size;
      }
      const call: Call = {
        seq: b.nextSeq++,
        payloads,
        appends,
        deadlineMs: this.o.timers.now() + this.o.appendTimeoutMs,
      };
      b.calls.push(call);
      this.send(logId, b, call, b.seg);
    }
  }

  /** One attempt of `call` at `seg`'s sequencer. */
  private send(logId: string, b: Batcher, call: Call, seg: Segment): void {
    b.inflight++;
    const numbered: AppendCall = { producer: this.o.producerId, seq: call.seq, firstUnacked: b.calls[0]!.seq };
    withTimeout(this.o.timers, this.o.callTimeoutMs, () =>
      this.o.sequencers(seg.sequencer).append(seg.logletId, call.payloads, numbered),
    )
      .then(
        (off) => {
          const i = b.calls.indexOf(call);
          if (i < 0) return; // given up on meanwhile (cannot happen while it is in flight; kept for safety)
          b.calls.splice(i, 1);
          b.sealedRounds = 0;
          b.unavailableRounds = 0;
          b.unreachableSince = undefined;
          let at = seg.base + off;
          for (const a of call.appends) {
            a.resolve(at);
            at += BigInt(a.payloads.length);
          }
        },
        (e: unknown) => {
          b.recovering = true;
          if (failureRank(e) >= failureRank(b.failure)) b.failure = e;
        },
      )
      .finally(() => {
        b.inflight--;
        if (!b.recovering) this.pump(logId, b);
        else if (b.inflight === 0) this.startRecovery(logId, b, b.failure);
      });
  }

  private startRecovery(logId: string, b: Batcher, failure: unknown): void {
    b.recovering = true;
    b.failure = undefined;
    void this.recover(logId, b, failure);
  }

  /**
   * Runs with nothing in flight: acts on the failure (backs off, follows or makes a reconfiguration), finds the
   * open segment, then sends every unanswered call again in order and resumes sending new ones.
   */
  private async recover(logId: string, b: Batcher, firstFailure: unknown): Promise<void> {
    let failure = firstFailure;
    for (;;) {
      this.stats.appendRetries += failure === undefined ? 0 : b.calls.length;
      // Calls past their deadline fail (they may or may not be in the log). They are a prefix of `calls` (numbers
      // follow creation); the next call's firstUnacked tells the sequencer not to wait for them.
      while (b.calls.length > 0 && b.calls[0]!.deadlineMs <= this.o.timers.now()) {
        const c = b.calls.shift()!;
        const e = new LogUnavailableError(
          `append to log ${logId} did not succeed in ${this.o.appendTimeoutMs} ms: ${String(failure)}`,
        );
        for (const a of c.appends) a.reject(e);
      }
      try {
        // Read the chain again unless the calls only came out of order (or this is the log's first call).
        const refresh = b.seg !== undefined && failureRank(failure) >= 1;
        if (failure !== undefined && b.seg) await this.afterFailure(logId, b, b.seg, failure);
        failure = undefined;
        const entry = (await this.chain(logId, refresh)) ?? {
          chain: await this.create(logId),
          version: 0,
        };
        if (entry.chain.sealed) {
          this.failAll(b, new LogSealedError(`log ${logId} is sealed`));
          b.recovering = false;
          return;
        }
        const seg = entry.chain.segments.at(-1)!;
        if (seg.sealedTail !== undefined) {
          // Sealed but no successor yet (a reconfiguration died half-way): finish it.
          await this.reconfigureFrom(logId, seg, 'sealed segment without successor').catch(() =>
            pause(this.o.timers, 20 + Math.floor(this.o.random() * 30)),
          );
          continue;
        }
        if (b.seg?.logletId !== seg.logletId) {
          // A new loglet knows nothing of this producer: number the unanswered calls afresh, consecutively, so
          // the first one sets its baseline (firstUnacked) and none can be refused for a gap left by answered ones.
          for (const c of b.calls) c.seq = b.nextSeq++;
        }
        b.seg = seg;
        b.recovering = false;
        for (const c of b.calls) this.send(logId, b, c, seg);
        this.pump(logId, b);
        return;
      } catch (e) {
        if (b.calls.length === 0) {
          // Nothing sent yet waits for this (the chain could not be read or created): fail what is queued.
          this.failAll(b, e);
          b.recovering = false;
          return;
        }
        failure = e;
        await pause(this.o.timers, 20 + Math.floor(this.o.random() * 30));
      }
    }
  }

  /** Rejects every call and queued append of the log. */
  private failAll(b: Batcher, e: unknown): void {
    for (const c of b.calls.splice(0)) for (const a of c.appends) a.reject(e);
    for (const a of b.queue.splice(0)) a.reject(e);
    b.queuedRecords = 0;
  }

  /** What a failed round of calls to `seg` asks for before the calls are sent again. */
  private async afterFailure(logId: string, b: Batcher, seg: Segment, e: unknown): Promise<void> {
    if (e instanceof LogOutOfOrderError) return; // a predecessor failed or is late: resend in order at once
    if (e instanceof LogOverloadedError) {
      // The sequencer is busy, not gone: back off and retry there.
      await pause(this.o.timers, 20 + Math.floor(this.o.random() * 30));
      return;
    }
    if (e instanceof LogletSealedError) {
      // Someone sealed it: their new segment is (or soon will be) in the metadata store.
      b.sealedRounds++;
      const fresh = await this.chain(logId, true).catch(() => undefined);
      const last = fresh?.chain.segments.at(-1);
      if (last && last.index === seg.index && b.sealedRounds > 2) {
        await this.reconfigureFrom(logId, seg, 'sealed').catch(() => {});
        b.sealedRounds = 0;
      } else await pause(this.o.timers, 5 + Math.floor(this.o.random() * 20));
      return;
    }
    b.unreachableSince ??= this.o.timers.now();
    b.unavailableRounds++;
    if (this.o.timers.now() - b.unreachableSince >= this.o.failoverAfterMs || b.unavailableRounds > 3) {
      const fresh = await this.chain(logId, true).catch(() => undefined);
      if (!fresh || fresh.chain.segments.at(-1)!.index === seg.index)
        await this.reconfigureFrom(logId, seg, `sequencer ${seg.sequencer.id} unavailable: ${String(e)}`).catch(
          () => {},
        );
      b.unreachableSince = undefined;
      b.unavailableRounds = 0;
      return;
    }
    await pause(this.o.timers, 20 + Math.floor(this.o.random() * 30));
  }

  /**
   * Seals the open segment and starts a new one (placement chosen by `place`, or given). Returns the new chain.
   * With `onlySegment`, only when the open segment is that one (else the chain is returned as it is).
   * Fails with a `precondition-failed` error only internally: a lost race simply returns the winner's chain.
   */
  async reconfigure(logId: string, reason: string, placement?: Placement, onlySegment?: number): Promise<LogChain> {
    const entry = await this.chain(logId, true);
    if (!entry) throw new Error(`log ${logId} does not exist`);
    const last = entry.chain.segments.at(-1)!;
    // A decision made about one segment (the rebalancer's) does not apply to the one that replaced it meanwhile.
    if (onlySegment !== undefined && last.index !== onlySegment) return entry.chain;
    return this.reconfigureFrom(logId, last, reason, placement);
  }

  private async reconfigureFrom(logId: string, seg: Segment, reason: string, placement?: Placement): Promise<LogChain> {
    const sealedTail =
      seg.sealedTail ??
      (
        await sealLoglet(paramsOf(seg), this.o.logServers, {
          timers: this.o.timers,
          callTimeoutMs: this.o.callTimeoutMs,
        })
      ).tail;
    for (;;) {
      const entry = await this.chain(logId, true);
      if (!entry) throw new Error(`log ${logId} does not exist`);
      const { chain, version } = entry;
      const last = chain.segments.at(-1)!;
      if (last.index > seg.index) return chain; // someone else moved it on already
      if (chain.sealed) throw new LogSealedError(`log ${logId} is sealed`);
      const p = placement ?? (await this.o.place(chain, seg.sequencer));
      const sealedSeg: Segment = { ...last, sealedTail: last.sealedTail ?? sealedTail };
      const next: Segment = {
        index: seg.index + 1,
        base: seg.base + sealedSeg.sealedTail!,
        logletId: logletIdOf(logId, seg.index + 1),
        ...p,
      };
      const updated: LogChain = { ...chain, segments: [...chain.segments.slice(0, -1), sealedSeg, next] };
      try {
        const v = await this.o.metadata.put(chainKey(logId), encodeChain(updated), {
          kind: 'matches-version',
          version,
        });
        this.chains.set(logId, { chain: updated, version: v });
        this.stats.reconfigurations++;
        this.o.onReconfigured?.(updated, sealedSeg.sealedTail!, reason);
        return updated;
      } catch (e) {
        if (!isPreconditionFailed(e)) throw e;
      }
    }
  }

  /**
   * Seals the log for good: seals the open segment (f-majority + repair) and marks the chain sealed, so appends
   * reject with LogSealedError and no new segment is started. Resolves with the final tail. Idempotent.
   */
  async seal(logId: string): Promise<bigint> {
    for (;;) {
      const entry = await this.chain(logId, true);
      if (!entry) throw new Error(`log ${logId} does not exist`);
      const { chain, version } = entry;
      const last = chain.segments.at(-1)!;
      if (chain.sealed) return last.base + last.sealedTail!;
      const sealedTail =
        last.sealedTail ??
        (
          await sealLoglet(paramsOf(last), this.o.logServers, {
            timers: this.o.timers,
            callTimeoutMs: this.o.callTimeoutMs,
          })
        ).tail;
      const updated: LogChain = {
        ...chain,
        sealed: true,
        segments: [...chain.segments.slice(0, -1), { ...last, sealedTail: last.sealedTail ?? sealedTail }],
      };
      try {
        const v = await this.o.metadata.put(chainKey(logId), encodeChain(updated), {
          kind: 'matches-version',
          version,
        });
        this.chains.set(logId, { chain: updated, version: v });
        return last.base + updated.segments.at(-1)!.sealedTail!;
      } catch (e) {
        // Reconfigured meanwhile: seal the new last segment instead.
        if (!isPreconditionFailed(e)) throw e;
      }
    }
  }

  /**
   * The log as a `Loglet` (what a partition processor follows). Each call makes a new reader with its own
   * follower; close it when done.
   */
  loglet(logId: string, opts: BifrostLogletOptions = {}): BifrostLoglet {
    return new BifrostLoglet(this, logId, {
      logServers: this.o.logServers,
      sequencers: this.o.sequencers,
      timers: this.o.timers,
      random: this.o.random,
      callTimeoutMs: this.o.callTimeoutMs,
      ...opts,
    });
  }

  /** The virtual tail: the next offset to be assigned, as far as this client can tell (acknowledged records are below it). */
  async tail(logId: string): Promise<bigint> {
    const entry = await this.chain(logId, true);
    if (!entry) return 0n;
    const seg = entry.chain.segments.at(-1)!;
    if (seg.sealedTail !== undefined) return seg.base + seg.sealedTail;
    try {
      return (
        seg.base +
        (await withTimeout(this.o.timers, this.o.callTimeoutMs, () =>
          this.o.sequencers(seg.sequencer).tail(seg.logletId),
        ))
      );
    } catch (e) {
      if (e instanceof LogletSealedError) return this.tail(logId);
      // Sequencer unreachable: what log servers were told is a safe (possibly lagging) lower bound.
      let known = 0n;
      for (const m of seg.nodeset) {
        try {
          const d = await withTimeout(this.o.timers, this.o.callTimeoutMs, () =>
            this.o.logServers(m.id).getDigest({ logletId: seg.logletId, from: 0n, to: 0n }),
          );
          known = maxBig(known, d.knownGlobalTail);
        } catch {
          // next
        }
      }
      return seg.base + known;
    }
  }

  /**
   * Reads up to `limit` records from virtual offset `from` up to the tail, following the chain across segments.
   * Returns [] at the tail; rejects with LogTrimmedError below the trim point.
   */
  async read(logId: string, from: bigint, limit = 1000, upTo?: bigint): Promise<LogRecord[]> {
    const entry = await this.chain(logId, true);
    if (!entry) return [];
    const { chain } = entry;
    if (from < chain.trimPoint) throw new LogTrimmedError(`log ${logId} is trimmed below ${chain.trimPoint}`);
    const out: LogRecord[] = [];
    let at = from;
    for (const seg of chain.segments) {
      if (out.length >= limit) break;
      let end: bigint;
      if (seg.sealedTail !== undefined) end = seg.base + seg.sealedTail;
      else end = upTo ?? (await this.tail(logId));
      if (upTo !== undefined && end > upTo) end = upTo;
      if (at >= end || at < seg.base) continue;
      while (at < end && out.length < limit) {
        const want = end - at < BigInt(limit - out.length) ? end - at : BigInt(limit - out.length);
        const recs = await readLoglet(paramsOf(seg), this.o.logServers, at - seg.base, at - seg.base + want, {
          timers: this.o.timers,
          random: this.o.random,
          callTimeoutMs: this.o.callTimeoutMs,
        });
        for (const r of recs) out.push({ offset: seg.base + r.offset, payload: r.payload });
        at += BigInt(recs.length);
      }
    }
    return out;
  }

  /**
   * Trims the log below `upTo` (capped at the tail): log servers may drop those records, and segments wholly
   * below the trim point leave the chain (their log servers no longer hold anything needed).
   */
  async trim(logId: string, upTo: bigint): Promise<LogChain | undefined> {
    for (;;) {
      const entry = await this.chain(logId, true);
      if (!entry) return undefined;
      const { chain, version } = entry;
      const tail = await this.tail(logId);
      const point = upTo > tail ? tail : upTo;
      // Segments some log server of which did not take the trim stay in the chain (below the trim point, never
      // read), so that the next trim reaches that server too instead of its copies staying on disk for good.
      const unacked = new Set<number>();
      for (const seg of chain.segments) {
        if (seg.base >= point) break;
        const local = point - seg.base;
        await Promise.all(
          seg.nodeset.map((m) =>
            withTimeout(this.o.timers, this.o.callTimeoutMs, () =>
              this.o.logServers(m.id).trim({ logletId: seg.logletId, upTo: local }),
            ).catch(() => unacked.add(seg.index)),
          ),
        );
      }
      const keep = chain.segments.filter(
        (s, i) => i === chain.segments.length - 1 || s.base + s.sealedTail! > point || unacked.has(s.index),
      );
      if (point <= chain.trimPoint && keep.length === chain.segments.length) return chain;
      const updated: LogChain = { ...chain, trimPoint: maxBig(point, chain.trimPoint), segments: keep };
      try {
        const v = await this.o.metadata.put(chainKey(logId), encodeChain(updated), {
          kind: 'matches-version',
          version,
        });
        this.chains.set(logId, { chain: updated, version: v });
        return updated;
      } catch (e) {
        if (!isPreconditionFailed(e)) throw e;
      }
    }
  }
}
