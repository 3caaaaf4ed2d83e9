import { ClassicLevel } from 'classic-level';
import type { AppendMetrics } from '../append-metrics.ts';
import { TrimCompactor } from '../trim-compactor.ts';
import { type Loglet, type LogRecord, LogSealedError, LogTrimmedError } from '../types.ts';
import { abortableWait } from '../wait.ts';

/*
 * Key layout (binary): [kind u8][logId u32 BE][offset u64 BE]
 *   kind 0x01: record payloads
 *   kind 0x02: per-log metadata: offset 0 = trim point (u64), offset 1 = sealed flag
 */
const RECORD = 0x01;
const META = 0x02;
const META_TRIM = 0n;
const META_SEALED = 1n;

function key(kind: number, logId: number, offset: bigint): Uint8Array {
  const b = Buffer.allocUnsafe(13);
  b.writeUInt8(kind, 0);
  b.writeUInt32BE(logId, 1);
  b.writeBigUInt64BE(offset, 5);
  return b;
}

function offsetOf(k: Uint8Array): bigint {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).readBigUInt64BE(5);
}

function u64(v: bigint): Uint8Array {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v);
  return b;
}

interface PendingAppend {
  log: LocalLoglet;
  payloads: Uint8Array[];
  first: bigint;
  resolve: (first: bigint) => void;
  reject: (err: unknown) => void;
  /** When it was accepted (`performance.now()`, only with metrics): for the append duration metric. */
  acceptedMs: number;
}

/**
 * A write or fsync of the log store failed (ENOSPC, EIO, ...). The store is dead from then on: what the failed
 * batch holds may or may not be on disk, so no later write may be ordered after it. Every append (pending or
 * new), read, tail wait, trim and seal rejects with this error; the process should exit and reopen the store,
 * which recovers the tail from what LevelDB has durably.
 */
export class LogStoreFailedError extends Error {
  override name = 'LogStoreFailedError';
  readonly code = 'LOG_WRITE_FAILED';
}

export interface LocalLogStoreOptions {
  /** Called once, when a write or fsync fails and the store stops (see LogStoreFailedError). */
  onFatal?: (err: LogStoreFailedError) => void;
  /** Memory for the recent records of each log, served to readers tailing it (default 4 MiB). */
  recentBytesPerLog?: number;
  /**
   * LevelDB's block cache (LevelDB's default 8 MiB). Tailing readers are served from the recent records, so
   * this one serves only replays and compactions.
   */
  blockCacheBytes?: number;
  /** Told of each synced batch and of each append acknowledged. */
  metrics?: AppendMetrics;
}

export interface LocalLogStats {
  /** Synced LevelDB batches written. */
  flushes: number;
  records: number;
  bytes: number;
}

/**
 * Many logs in one LevelDB. Appends of all logs that arrive while a flush is in progress are written
 * together in the next flush: one synced (fsync) batch. An append resolves only once its batch is synced.
 *
 * A failed write is fatal, never a gap: offsets are assigned (and payloads cached) before the batch is
 * written, so a failed batch leaves assigned offsets that are not durable. Nothing may be released past them,
 * so the store stops at the first failed write (LogStoreFailedError, `onFatal`), and a reopen recovers.
 */
export class LocalLogStore {
  readonly db: ClassicLevel<Uint8Array, Uint8Array>;
  readonly dir: string;
  private readonly logs = new Map<number, LocalLoglet>();
  private queue: PendingAppend[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Compacts the trimmed record ranges, so that the disk space comes back. */
  private readonly compactor: TrimCompactor<number, Uint8Array>;
  /** Set by the first failed write; never cleared (the store is reopened to recover). */
  private failedWith: LogStoreFailedError | undefined;
  private readonly onFatal: ((err: LogStoreFailedError) => void) | undefined;
  /** @internal read by its loglets */
  readonly recentBytesPerLog: number;
  private readonly counters: LocalLogStats = { flushes: 0, records: 0, bytes: 0 };
  /** @internal read by its loglets */
  readonly metrics: AppendMetrics | undefined;

  private constructor(db: ClassicLevel<Uint8Array, Uint8Array>, dir: string, opts: LocalLogStoreOptions) {
    this.db = db;
    this.compactor = new TrimCompactor<number, Uint8Array>(db, (logId, from, below) => [
      key(RECORD, logId, from),
      key(RECORD, logId, below),
    ]);
    this.dir = dir;
    this.onFatal = opts.onFatal;
    this.recentBytesPerLog = opts.recentBytesPerLog ?? 4 << 20;
    this.metrics = opts.metrics;
  }

  static async open(dir: string, opts: LocalLogStoreOptions = {}): Promise<LocalLogStore> {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      ...(opts.blockCacheBytes === undefined ? {} : { cacheSize: opts.blockCacheBytes }),
    });
    await db.open();
    return new LocalLogStore(db, dir, opts);
  }

  /** The error that stopped this store, if a write or fsync failed. */
  get failure(): LogStoreFailedError | undefined {
    return this.failedWith;
  }

  /**
   * Stops the store for good after a failed write: rejects the failed batch, every queued append and every
   * tail waiter with one error naming the write, then reports it. Later failures keep the first error.
   */
  private fail(what: string, cause: unknown, failedBatch: PendingAppend[] = []): LogStoreFailedError {
    if (this.failedWith) {
      for (const p of failedBatch) p.reject(this.failedWith);
      return this.failedWith;
    }
    const reason = cause instanceof Error ? cause.message : String(cause);
    const err = new LogStoreFailedError(
      `log store ${this.dir}: ${what} failed: ${reason}; the log store stopped (a restart recovers from what is durable)`,
      { cause },
    );
    this.failedWith = err;
    const queued = this.queue;
    this.queue = [];
    for (const p of [...failedBatch, ...queued]) p.reject(err);
    for (const log of this.logs.values()) log.stop(err);
    this.onFatal?.(err);
    return err;
  }

  /** Throws the failure once the store has stopped. */
  private checkAlive(): void {
    if (this.failedWith) throw this.failedWith;
  }

  /** The log `logId` (created on first use), with its tail, trim point and seal flag recovered. */
  async loglet(logId: number): Promise<LocalLoglet> {
    if (!Number.isInteger(logId) || logId < 0 || logId > 0xffffffff) throw new RangeError(`bad log id ${logId}`);
    this.checkAlive();
    const existing = this.logs.get(logId);
    if (existing) return existing;
    let tail = 0n;
    for await (const k of this.db.keys({
      gte: key(RECORD, logId, 0n),
      lte: key(RECORD, logId, 2n ** 64n - 1n),
      reverse: true,
      limit: 1,
    })) {
      tail = offsetOf(k) + 1n;
    }
    const trimRaw = await this.db.get(key(META, logId, META_TRIM));
    const trim = trimRaw ? Buffer.from(trimRaw).readBigUInt64BE(0) : 0n;
    if (trim > tail) tail = trim;
    const sealed = (await this.db.get(key(META, logId, META_SEALED))) !== undefined;
    this.checkAlive(); // the store may have failed while this read
    const log = this.logs.get(logId) ?? new LocalLoglet(this, logId, tail, trim, sealed);
    this.logs.set(logId, log);
    return log;
  }

  stats(): LocalLogStats {
    return { ...this.counters };
  }

  /** @internal queued by LocalLoglet.append */
  enqueue(p: PendingAppend): void {
    if (this.failedWith) {
      p.reject(this.failedWith);
      return;
    }
    if (this.closed) {
      p.reject(new Error('log store is closed'));
      return;
    }
    this.queue.push(p);
    if (!this.flushing) this.flushing = this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0 && !this.failedWith) {
      const batch = this.queue;
      this.queue = [];
      const ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
      let bytes = 0;
      for (const p of batch) {
        p.payloads.forEach((payload, i) => {
          ops.push({ type: 'put', key: key(RECORD, p.log.logId, p.first + BigInt(i)), value: payload });
          bytes += payload.length;
        });
      }
      try {
        await this.db.batch(ops, { sync: true });
      } catch (err) {
        const logs = [...new Set(batch.map((p) => p.log.logId))].join(',');
        this.fail(`synced write of ${ops.length} records (${bytes} bytes, logs ${logs})`, err, batch);
        break;
      }
      this.counters.flushes++;
      this.counters.records += ops.length;
      this.counters.bytes += bytes;
      try {
        for (const p of batch) {
          p.log.release(p.first, p.first + BigInt(p.payloads.length));
          p.resolve(p.first);
        }
      } catch (err) {
        // A broken release invariant: stop loudly rather than serve a log with a hole (resolved appends stay so).
        this.fail('release of a synced batch', err, batch);
        break;
      }
      if (this.metrics) this.reportFlush(batch, ops.length);
    }
    this.flushing = undefined;
  }

  private reportFlush(batch: PendingAppend[], records: number): void {
    const metrics = this.metrics!;
    metrics.batch(records);
    const now = performance.now();
    for (const p of batch) metrics.appended((now - p.acceptedMs) / 1000);
  }

  /** @internal */
  async writeMeta(logId: number, which: bigint, value: Uint8Array, sync = true): Promise<void> {
    this.checkAlive();
    try {
      await this.db.put(key(META, logId, which), value, { sync });
    } catch (err) {
      throw this.fail(`write of log ${logId} metadata`, err);
    }
  }

  /** @internal */
  async deleteRecords(logId: number, from: bigint, below: bigint): Promise<void> {
    this.checkAlive();
    try {
      // From the previous trim point, not from 0: the deleted range would otherwise be walked again (over its
      // tombstones) at every trim until a compaction drops them.
      await this.db.clear({ gte: key(RECORD, logId, from), lt: key(RECORD, logId, below) });
    } catch (err) {
      throw this.fail(`deletion of log ${logId} records below ${below}`, err);
    }
    this.compactor.add(logId, from, below);
  }

  /** Compactions of trimmed ranges done (for tests and metrics). */
  get compactions(): number {
    return this.compactor.compactions;
  }

  /** Resolves once the compactions asked for so far are done (for tests). */
  compacted(): Promise<void> {
    return this.compactor.idle();
  }

  /** @internal */
  async readRecords(logId: number, from: bigint, toExclusive: bigint, limit: number): Promise<LogRecord[]> {
    this.checkAlive();
    const out: LogRecord[] = [];
    if (from >= toExclusive) return out;
    for await (const [k, v] of this.db.iterator({
      gte: key(RECORD, logId, from),
      lt: key(RECORD, logId, toExclusive),
      limit,
    })) {
      out.push({ offset: offsetOf(k), payload: v });
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
    await this.compactor.close();
    for (const log of this.logs.values()) log.closeWaiters();
    await this.db.close();
  }
}

/** One log of a LocalLogStore. */
export class LocalLoglet implements Loglet {
  readonly logId: number;
  private readonly store: LocalLogStore;
  /** Next offset to assign. */
  private next: bigint;
  /** Everything below is durable and readable. */
  private released: bigint;
  private trimPoint: bigint;
  private sealed: boolean;
  /** Set when the store failed: every operation rejects with it from then on. */
  private stopped: LogStoreFailedError | undefined;
  private waiters: { offset: bigint; resolve: (tail: bigint) => void; reject: (e: unknown) => void }[] = [];
  /**
   * The most recent records by offset (ascending insertion order), so that readers tailing the log (the
   * partition processor right behind the appender) do not go to LevelDB. Only offsets below the released tail
   * are ever served from here.
   */
  private readonly recent = new Map<bigint, Uint8Array>();
  /** Every record in `recent` has an offset >= this (records are dropped from the oldest, by offset). */
  private recentFirst: bigint;
  /** Payload bytes plus a per-record overhead (map slot, bigint key, typed-array header). */
  private recentBytes = 0;
  private static readonly RECENT_OVERHEAD = 250;

  constructor(store: LocalLogStore, logId: number, tail: bigint, trim: bigint, sealed: boolean) {
    this.store = store;
    this.logId = logId;
    this.next = tail;
    this.released = tail;
    this.recentFirst = tail;
    this.trimPoint = trim;
    this.sealed = sealed;
  }

  append(payloads: Uint8Array[]): Promise<bigint> {
    if (!Array.isArray(payloads) || payloads.length === 0) {
      return Promise.reject(new TypeError('append needs a non-empty array of Uint8Array payloads'));
    }
    for (const p of payloads) {
      if (!(p instanceof Uint8Array)) return Promise.reject(new TypeError('log payloads must be Uint8Array'));
    }
    if (this.stopped) return Promise.reject(this.stopped);
    if (this.sealed) return Promise.reject(new LogSealedError(`log ${this.logId} is sealed`));
    const first = this.next;
    this.next += BigInt(payloads.length);
    this.remember(first, payloads);
    const acceptedMs = this.store.metrics ? performance.now() : 0;
    return new Promise((resolve, reject) =>
      this.store.enqueue({ log: this, payloads, first, resolve, reject, acceptedMs }),
    );
  }

  /**
   * @internal Releases [first, upTo) once its batch is synced. Flushes complete in order and the store stops at
   * the first failed one, so every release starts exactly at the released tail: the tail only moves forward,
   * over durable records only.
   */
  release(first: bigint, upTo: bigint): void {
    if (first !== this.released || upTo <= first || upTo > this.next) {
      throw new Error(
        `log ${this.logId}: release of [${first}, ${upTo}) does not continue the released tail ${this.released} (next ${this.next})`,
      );
    }
    this.released = upTo;
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.offset < upTo);
    this.waiters = this.waiters.filter((w) => w.offset >= upTo);
    for (const w of ready) w.resolve(upTo);
  }

  private remember(first: bigint, payloads: Uint8Array[]): void {
    for (let i = 0; i < payloads.length; i++) {
      const offset = first + BigInt(i);
      const old = this.recent.get(offset);
      if (old) this.recentBytes -= old.length + LocalLoglet.RECENT_OVERHEAD;
      this.recent.set(offset, payloads[i]!);
      this.recentBytes += payloads[i]!.length + LocalLoglet.RECENT_OVERHEAD;
    }
    // Offsets are dense: drop from the oldest by key, without iterating over the map.
    while (this.recentBytes > this.store.recentBytesPerLog && this.recentFirst < this.next) {
      const p = this.recent.get(this.recentFirst);
      if (p) {
        this.recent.delete(this.recentFirst);
        this.recentBytes -= p.length + LocalLoglet.RECENT_OVERHEAD;
      }
      this.recentFirst++;
    }
  }

  /** Records held in memory for tailing readers, and what they cost (for tests and metrics). */
  recentStats(): { records: number; bytes: number } {
    return { records: this.recent.size, bytes: this.recentBytes };
  }

  async read(from: bigint, limit = 1000): Promise<LogRecord[]> {
    if (this.stopped) throw this.stopped;
    if (from < 0n) throw new RangeError(`negative offset ${from}`);
    if (from < this.trimPoint) throw new LogTrimmedError(`log ${this.logId} is trimmed below ${this.trimPoint}`);
    if (this.recent.has(from)) {
      const out: LogRecord[] = [];
      for (let o = from; o < this.released && out.length < limit; o++) {
        const payload = this.recent.get(o);
        if (!payload) break;
        out.push({ offset: o, payload });
      }
      return out;
    }
    return this.store.readRecords(this.logId, from, this.released, limit);
  }

  async tail(): Promise<bigint> {
    return this.released;
  }

  /** The tail as known now (acknowledged records are below it). */
  get releasedTail(): bigint {
    return this.released;
  }

  get knownTail(): bigint {
    return this.released;
  }

  waitForTail(offset: bigint, signal?: AbortSignal): Promise<bigint> {
    if (offset < this.released) return Promise.resolve(this.released);
    if (this.stopped) return Promise.reject(this.stopped);
    return abortableWait<bigint>(signal, (w) => {
      const entry = { offset, resolve: w.resolve, reject: w.reject };
      this.waiters.push(entry);
      return () => {
        this.waiters = this.waiters.filter((x) => x !== entry);
      };
    });
  }

  async trim(upTo: bigint): Promise<void> {
    if (this.stopped) throw this.stopped;
    const point = upTo > this.released ? this.released : upTo;
    if (point <= this.trimPoint) return;
    const previous = this.trimPoint;
    this.trimPoint = point;
    await this.store.writeMeta(this.logId, META_TRIM, u64(point));
    await this.store.deleteRecords(this.logId, previous, point);
  }

  async seal(): Promise<bigint> {
    if (this.stopped) throw this.stopped;
    if (!this.sealed) {
      this.sealed = true;
      await this.store.writeMeta(this.logId, META_SEALED, new Uint8Array([1]));
    }
    // Appends accepted before the seal still complete; the final tail includes them.
    while (this.released < this.next) await this.waitForTail(this.next - 1n);
    return this.released;
  }

  get trimmedBelow(): bigint {
    return this.trimPoint;
  }

  /**
   * @internal The store failed: the offsets in [released, next) were assigned but are not durable. Drops their
   * cached payloads (never served, never released) and rejects tail waiters, which can no longer be satisfied.
   */
  stop(err: LogStoreFailedError): void {
    this.stopped = err;
    for (const [offset, p] of this.recent) {
      if (offset < this.released) continue;
      this.recent.delete(offset);
      this.recentBytes -= p.length + LocalLoglet.RECENT_OVERHEAD;
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  /** @internal */
  closeWaiters(): void {
    for (const w of this.waiters) w.reject(new Error('log store closed'));
    this.waiters = [];
  }
}

/** Follows a log from `from`, yielding records in order and waiting for new ones; ends when `signal` aborts. */
export async function* tailLog(
  loglet: Loglet,
  from: bigint,
  signal: AbortSignal,
  batch = 256,
): AsyncGenerator<LogRecord> {
  let next = from;
  while (!signal.aborted) {
    const records = await loglet.read(next, batch);
    if (records.length === 0) {
      try {
        await loglet.waitForTail(next, signal);
      } catch (err) {
        if (signal.aborted) return;
        throw err;
      }
      continue;
    }
    for (const r of records) yield r;
    next = records[records.length - 1].offset + 1n;
  }
}
