import type { MetadataClient } from '@stead/metadata';
import type { Logger } from '@stead/observability';
import { CLUSTER_KEYS, decodePartitionTable, type PartitionTable, type Versioned } from './records.ts';
import { systemTimers, type Timers } from './time.ts';

export interface PartitionTableWatcherOptions {
  client: MetadataClient;
  /**
   * Also re-reads the key this often (default 5 s): a backstop for a watch stream that went quiet without
   * failing (a member cut off from its leader), and the retry of a watch that could not be opened.
   */
  pollMs?: number;
  timers?: Timers;
  log?: Logger;
}

type Listener = (table: Versioned<PartitionTable>) => void;

/**
 * Follows `cluster/partition-table`: keeps the latest decoded table with its version and tells listeners when it
 * changes. Versions only move forward, whichever path (watch event or poll) brings a value first. The watch of a
 * gRPC client resumes by itself after a metadata leader change (from the last version it saw); the poll covers
 * the rest. A value that does not decode is logged (naming the key) and skipped; the previous table stays.
 */
export class PartitionTableWatcher {
  private readonly client: MetadataClient;
  private readonly pollMs: number;
  private readonly timers: Timers;
  private readonly log: Logger;
  private latest: Versioned<PartitionTable> | undefined;
  /** Highest version seen, decodable or not (so a bad value is reported once). */
  private seenVersion = 0;
  private readonly listeners = new Set<Listener>();
  private waiters: { after: number; resolve: Listener; reject: (e: Error) => void }[] = [];
  private watch: { close(): void } | undefined;
  private timer: unknown;
  private closed = false;

  private constructor(opts: PartitionTableWatcherOptions) {
    this.client = opts.client;
    this.pollMs = opts.pollMs ?? 5_000;
    this.timers = opts.timers ?? systemTimers;
    this.log = opts.log ?? (() => {});
  }

  /** Starts watching at once; `next()` resolves with the first table known. */
  static start(opts: PartitionTableWatcherOptions): PartitionTableWatcher {
    const w = new PartitionTableWatcher(opts);
    w.openWatch();
    void w.poll();
    return w;
  }

  /** The latest table known, or undefined before the first one is read (or written). */
  current(): Versioned<PartitionTable> | undefined {
    return this.latest;
  }

  /** Calls `listener` with every newer table; returns the unsubscribe function. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first table whose version is above `afterVersion` (default 0: any table). */
  next(afterVersion = 0): Promise<Versioned<PartitionTable>> {
    if (this.latest && this.latest.version > afterVersion) return Promise.resolve(this.latest);
    if (this.closed) return Promise.reject(new Error('partition table watcher is closed'));
    return new Promise((resolve, reject) => this.waiters.push({ after: afterVersion, resolve, reject }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watch?.close();
    this.timers.clearTimeout(this.timer);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new Error('partition table watcher is closed'));
  }

  private openWatch(): void {
    if (this.closed || this.watch) return;
    try {
      this.watch = this.client.watch(CLUSTER_KEYS.partitionTable, this.seenVersion, (e) => {
        if (!e.deleted) this.offer(e.value, e.version);
      });
    } catch (e) {
      this.log('warn', 'cannot watch the partition table; polling until it can', { error: (e as Error).message });
    }
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    try {
      const v = await this.client.get(CLUSTER_KEYS.partitionTable);
      if (v) this.offer(v.value, v.version);
    } catch (e) {
      this.log('debug', 'reading the partition table failed', { error: (e as Error).message });
    }
    if (this.closed) return;
    this.openWatch();
    this.timer = this.timers.setTimeout(() => void this.poll(), this.pollMs);
  }

  private offer(bytes: Uint8Array, version: number): void {
    if (this.closed || version <= this.seenVersion) return;
    this.seenVersion = version;
    let table: PartitionTable;
    try {
      table = decodePartitionTable(CLUSTER_KEYS.partitionTable, bytes);
    } catch (e) {
      this.log('error', 'ignoring a partition table that does not decode', { version, error: (e as Error).message });
      return;
    }
    const latest = { value: table, version };
    this.latest = latest;
    for (const l of this.listeners) {
      try {
        l(latest);
      } catch (e) {
        this.log('warn', 'partition table listener failed', { error: (e as Error).message });
      }
    }
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (version > w.after) w.resolve(latest);
      else still.push(w);
    }
    this.waiters = still;
  }
}
