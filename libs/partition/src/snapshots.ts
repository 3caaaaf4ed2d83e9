/**
 * PartitionSnapshots: takes snapshots of the partitions a process leads and archives them (a bucket, or a
 * directory for the one-process server), keeps the newest `retain` of each, and rebuilds a replica from the
 * newest usable one (a new replica, a wiped disk, a replica that fell behind the log's trim point).
 *
 * When: a led partition is snapshotted once it applied `everyRecords` records since its last snapshot, or
 * `intervalMs` after it (if it applied anything since). One snapshot at a time per process, so that the disk
 * and the network see one copy of a store at a time. A failure (the bucket unreachable) is retried with a
 * growing pause; it never touches the partition, it only holds the trim point back (see `archivedOffset`).
 */
import { mkdirSync } from 'node:fs';
import { type createRegistry, readLabeledCounter, readLabeledGauge } from '@stead/observability';

type Registry = ReturnType<typeof createRegistry>;

import {
  createSnapshot,
  restoreLatest,
  retainedFloor,
  type SnapshotManifest,
  type SnapshotRepository,
} from '@stead/snapshots';
import type { StorageEngine } from '@stead/storage';
import { type Clock, systemClock, systemTimers, type TimerHandle, type Timers } from './clock.ts';
import type { Logger } from './host.ts';
import type { PartitionProcessor } from './processor.ts';
import { PartitionTables } from './tables.ts';

export interface PartitionSnapshotsOptions {
  repository: SnapshotRepository;
  storage: StorageEngine;
  /** Names the process in the snapshots it takes. */
  node: string;
  /** Where snapshot files are written and fetched to (on the data disk; emptied after each use). */
  tmpDir: string;
  /** Snapshot a led partition this long after its last snapshot (0: not by time). */
  intervalMs: number;
  /** Snapshot a led partition once it applied this many records since its last snapshot (0: not by count). */
  everyRecords: number;
  /** Snapshots kept per partition (at least 1). */
  retain: number;
  /** The processors of the partitions this process leads now. */
  led: () => PartitionProcessor[];
  log: Logger;
  clock?: Clock;
  timers?: Timers;
  /** How often the schedule is checked (default 1 s). */
  checkEveryMs?: number;
}

/** What is known of one partition's archived snapshots. */
interface Known {
  /** Newest first, as last listed (or as left by this process's own snapshots). */
  manifests: SnapshotManifest[];
  /** When the list was read (clock ms). */
  listedAtMs: number;
}

/** The figures of the last snapshot this process took of a partition. */
export interface SnapshotFigures {
  partition: number;
  /** When it was taken (clock ms). */
  atMs: number;
  appliedOffset: bigint;
  sizeBytes: number;
  durationMs: number;
}

const LIST_MAX_AGE_MS = 60_000;
const FIRST_RETRY_MS = 1_000;
/** A failing bucket is tried again at most this long after the last failure (a list request: cheap). */
const MAX_RETRY_MS = 30_000;

/** How long a snapshot request waits for the first write of a partition that has applied records. */
const FIRST_COMMIT_WAIT_MS = 5000;

/**
 * Waits (a while) for a partition that has applied records but written none to LevelDB yet (just started: its
 * first commit is on its way), so that a snapshot asked for right after a start is taken, not refused.
 */
async function firstCommit(processor: PartitionProcessor, timers: Timers): Promise<void> {
  if (processor.committedOffset >= 0n || processor.appliedOffset < 0n) return;
  let timer: TimerHandle | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = timers.setTimeout(resolve, FIRST_COMMIT_WAIT_MS);
  });
  try {
    await Promise.race([processor.waitCommitted(0n), timeout]);
  } finally {
    if (timer !== undefined) timers.clearTimeout(timer);
  }
}

export class PartitionSnapshots {
  private readonly o: PartitionSnapshotsOptions;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly known = new Map<number, Known>();
  private readonly last = new Map<number, SnapshotFigures>();
  /** Consecutive failures and the time before which the schedule does not try again (after a failure). */
  private failures = 0;
  private pausedUntilMs = 0;
  /** Snapshots (and listings) run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private timer: TimerHandle | undefined;
  private closed = false;
  private checking = false;
  /** Counters for metrics. */
  readonly counts = { created: 0, failed: 0, restored: 0, corruptSkipped: 0 };

  constructor(o: PartitionSnapshotsOptions) {
    if (!(o.retain >= 1)) throw new RangeError(`retain must be at least 1, got ${o.retain}`);
    this.o = o;
    this.clock = o.clock ?? systemClock;
    this.timers = o.timers ?? systemTimers;
    mkdirSync(o.tmpDir, { recursive: true });
  }

  /** Where snapshots go, for logs and the admin API (no credentials). */
  get location(): string {
    return this.o.repository.describe();
  }

  /** Starts the schedule (see the module comment). */
  start(): void {
    if (this.o.intervalMs <= 0 && this.o.everyRecords <= 0) return;
    const every = this.o.checkEveryMs ?? 1_000;
    const tick = () => {
      if (this.closed) return;
      void this.check()
        .catch((e: unknown) => this.o.log('warn', 'snapshot schedule check failed', { error: String(e) }))
        .finally(() => {
          if (!this.closed) this.timer = this.timers.setTimeout(tick, every);
        });
    };
    this.timer = this.timers.setTimeout(tick, every);
  }

  /** Snapshots due now, one after the other. */
  private async check(): Promise<void> {
    if (this.checking || this.clock.now() < this.pausedUntilMs) return;
    this.checking = true;
    try {
      for (const processor of this.o.led()) {
        if (this.closed) return;
        if (!(await this.due(processor))) continue;
        try {
          await this.create(processor);
        } catch {
          return; // logged by create; the pause is set
        }
      }
    } finally {
      this.checking = false;
    }
  }

  private async due(processor: PartitionProcessor): Promise<boolean> {
    const p = processor.partitionId;
    let known: Known;
    try {
      known = await this.manifests(p);
    } catch (e) {
      this.failed(p, 'cannot list the snapshots', e);
      return false;
    }
    const newest = known.manifests[0];
    const since = newest ? BigInt(newest.appliedOffset) : -1n;
    // A snapshot holds what the store has committed (applying runs a group commit ahead of it).
    const applied = processor.committedOffset;
    if (applied <= since) return false;
    if (this.o.everyRecords > 0 && applied - since >= BigInt(this.o.everyRecords)) return true;
    if (this.o.intervalMs <= 0) return false;
    const lastAt = newest ? Date.parse(newest.createdAt) : undefined;
    // A partition never snapshotted: its first one after an interval of leading here.
    const from = lastAt ?? this.firstSeen(p);
    return this.clock.now() - from >= this.o.intervalMs;
  }

  private readonly seen = new Map<number, number>();
  private firstSeen(p: number): number {
    let at = this.seen.get(p);
    if (at === undefined) {
      at = this.clock.now();
      this.seen.set(p, at);
    }
    return at;
  }

  /** The archived snapshots of `p`, newest first, listed again when the last list is older than a minute. */
  private async manifests(p: number, fresh = false): Promise<Known> {
    const k = this.known.get(p);
    if (k && !fresh && this.clock.now() - k.listedAtMs < LIST_MAX_AGE_MS) return k;
    const listed = { manifests: (await this.o.repository.list(p)).snapshots, listedAtMs: this.clock.now() };
    this.known.set(p, listed);
    return listed;
  }

  private failed(p: number, what: string, e: unknown): void {
    this.counts.failed++;
    this.failures++;
    const pauseMs = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(this.failures - 1, 20));
    this.pausedUntilMs = this.clock.now() + pauseMs;
    this.o.log('warn', `${what}; the log is not trimmed past the last archived snapshot meanwhile`, {
      partition: p,
      location: this.location,
      retryInMs: pauseMs,
      error: e instanceof Error ? e.message : String(e),
    });
  }

  /**
   * Takes a snapshot of the led partition of `processor` now and archives it; resolves with its manifest.
   * Rejects (and pauses the schedule) when it cannot be written or archived.
   */
  create(processor: PartitionProcessor): Promise<SnapshotManifest> {
    const run = this.queue.then(async () => {
      const p = processor.partitionId;
      const started = this.clock.now();
      await firstCommit(processor, this.timers);
      if (processor.committedOffset < 0n) throw new Error(`partition ${p} has nothing applied to snapshot yet`);
      try {
        const manifest = await createSnapshot({
          repository: this.o.repository,
          partition: p,
          node: this.o.node,
          tmpDir: this.o.tmpDir,
          retain: this.o.retain,
          capture: () => processor.snapshot(() => this.o.storage.snapshotPartition(p)),
          log: (level, msg, fields) => {
            if (level !== 'debug') this.o.log(level, msg, fields);
          },
        });
        this.counts.created++;
        this.failures = 0;
        this.pausedUntilMs = 0;
        this.last.set(p, {
          partition: p,
          atMs: this.clock.now(),
          appliedOffset: BigInt(manifest.appliedOffset),
          sizeBytes: manifest.sizeBytes,
          durationMs: this.clock.now() - started,
        });
        // What is kept now: listed again (pruning removed the oldest).
        await this.manifests(p, true).catch(() => {
          const k = this.known.get(p);
          this.known.set(p, { manifests: [manifest, ...(k?.manifests ?? [])], listedAtMs: this.clock.now() });
        });
        this.o.log('info', 'partition snapshot archived', {
          partition: p,
          appliedOffset: manifest.appliedOffset,
          bytes: manifest.sizeBytes,
          ms: this.clock.now() - started,
        });
        return manifest;
      } catch (e) {
        this.failed(p, 'partition snapshot failed', e);
        throw e;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** The archived snapshots of the partitions, newest first (read from the repository now). */
  async list(partitions: number[]): Promise<SnapshotManifest[]> {
    const out: SnapshotManifest[] = [];
    for (const p of partitions) out.push(...(await this.manifests(p, true)).manifests);
    return out;
  }

  /**
   * The applied offset of the oldest kept snapshot of `p`, as far as this process knows (-1: it knows none). The
   * log can be trimmed up to just above it.
   */
  archivedOffset(p: number): bigint {
    const k = this.known.get(p);
    // None known (yet): the log must not be trimmed on this replica's account until a snapshot is archived.
    if (!k || k.manifests.length === 0) return -1n;
    return retainedFloor(k.manifests, this.o.retain) ?? -1n;
  }

  /** The last snapshot this process took of each partition. */
  get lastSnapshots(): SnapshotFigures[] {
    return [...this.last.values()].sort((a, b) => a.partition - b.partition);
  }

  /**
   * Readies the store of partition `p` before a processor follows its log from `trimPoint` on: when the store is
   * empty, or behind the trim point (records it needs are gone), it is replaced by the newest snapshot that can
   * follow on from the log (a corrupt one is skipped for the one before). Resolves with the snapshot restored
   * (undefined: the store was kept). Rejects when the store cannot follow the log and no snapshot can serve, or
   * when the repository cannot be read (the caller tries again later).
   */
  async prepare(p: number, trimPoint: bigint): Promise<SnapshotManifest | undefined> {
    // A restore that did not finish (a crash) left a store that must be restored again.
    const halfRestored = this.o.storage.restoring(p);
    const applied = halfRestored ? undefined : await storedAppliedOffset(this.o.storage, p);
    const behind = halfRestored || (applied === undefined ? trimPoint > 0n : applied + 1n < trimPoint);
    if (applied !== undefined && !behind) return undefined;
    const run = this.queue.then(async () => {
      await this.o.storage.closePartition(p);
      const restored = await restoreLatest({
        repository: this.o.repository,
        partition: p,
        tmpDir: this.o.tmpDir,
        minAppliedOffset: trimPoint > 0n ? trimPoint - 1n : undefined,
        restore: (entries) => this.o.storage.restorePartition(p, entries),
        log: (level, msg, fields) => {
          if (/corrupt/i.test(msg)) this.counts.corruptSkipped++;
          if (level !== 'debug') this.o.log(level, msg, { partition: p, ...fields });
        },
      });
      if (restored) {
        this.counts.restored++;
        this.o.log('info', 'partition store restored from a snapshot', {
          partition: p,
          appliedOffset: restored.appliedOffset,
          trimPoint: String(trimPoint),
          location: this.location,
        });
      }
      return restored;
    });
    this.queue = run.catch(() => {});
    let restored: SnapshotManifest | undefined;
    try {
      restored = await run;
    } catch (e) {
      if (behind) throw e;
      // An empty store of a log that was never trimmed can replay it all: a snapshot only saves time, and an
      // unreachable bucket must not keep the replica from starting.
      this.o.log('warn', 'cannot read the snapshots; the replica replays its log from the start instead', {
        partition: p,
        location: this.location,
        error: e instanceof Error ? e.message : String(e),
      });
      return undefined;
    }
    if (!restored && behind)
      throw new Error(
        `partition ${p}: its log is trimmed below offset ${trimPoint}, its store ${applied === undefined ? 'is empty' : `holds offsets up to ${applied}`}, and ${this.location} has no snapshot at or above offset ${trimPoint - 1n}`,
      );
    return restored;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) this.timers.clearTimeout(this.timer);
    await this.queue;
  }
}

/** The applied offset stored in partition `p`'s store (undefined: an empty store). */
export async function storedAppliedOffset(storage: StorageEngine, p: number): Promise<bigint | undefined> {
  const store = await storage.openPartition(p);
  return new PartitionTables(store).appliedOffset();
}

/** The snapshot figures of a process (`stead_snapshot_*`), read at each scrape. */
export function registerSnapshotMetrics(registry: Registry, s: PartitionSnapshots): void {
  const per = (pick: (f: SnapshotFigures) => number) => () =>
    s.lastSnapshots.map((f) => [String(f.partition), pick(f)] as [string, number]);
  readLabeledGauge(
    registry,
    'stead_snapshot_age_seconds',
    'Seconds since this process last archived a snapshot of each partition',
    'partition',
    per((f) => (Date.now() - f.atMs) / 1000),
  );
  readLabeledGauge(
    registry,
    'stead_snapshot_size_bytes',
    'Size of the last snapshot this process archived of each partition',
    'partition',
    per((f) => f.sizeBytes),
  );
  readLabeledGauge(
    registry,
    'stead_snapshot_duration_seconds',
    'How long the last snapshot of each partition took (capture, write, upload, prune)',
    'partition',
    per((f) => f.durationMs / 1000),
  );
  readLabeledGauge(
    registry,
    'stead_snapshot_applied_offset',
    'Applied offset of the last snapshot this process archived of each partition',
    'partition',
    per((f) => Number(f.appliedOffset)),
  );
  readLabeledCounter(
    registry,
    'stead_snapshots_total',
    'Snapshots by outcome since start: created, failed (attempts, incl. unreachable bucket), restored, corrupt_skipped',
    'outcome',
    () => [
      ['created', s.counts.created],
      ['failed', s.counts.failed],
      ['restored', s.counts.restored],
      ['corrupt_skipped', s.counts.corruptSkipped],
    ],
  );
}
