import { join } from 'node:path';
import type {
  ControlOperation,
  IngressRequest,
  IntrospectionSource,
  InvocationBackend,
  InvocationDefaults,
  InvocationDescription,
  InvocationOutcome,
  InvocationQuery,
  RestartOptions,
  ScheduleOperation,
  SchemaView,
  SendReceipt,
  StateReplacement,
} from '@stead/core';
import type { RequestSigner } from '@stead/invoker';
import { type AppendMetrics, type LocalLoglet, LocalLogStore } from '@stead/log';
import { type LeveldbStats, leveldbStats, type StorageEngine } from '@stead/storage';
import type { Clock, Timers } from './clock.ts';
import type { EpochSource } from './epochs.ts';
import { type Logger, PartitionHost } from './host.ts';
import type { InvocationMetrics } from './metrics.ts';
import type { PartitionProcessor } from './processor.ts';
import { PartitionSnapshots, type PartitionSnapshotsOptions } from './snapshots.ts';
import { openPartitionStorage } from './tables.ts';

export { ids } from './invocation-ids.ts';
export type { Logger };

const DEFAULT_LEVELDB_BLOCK_CACHE_BYTES = 2 << 20;
const DEFAULT_LEVELDB_WRITE_BUFFER_BYTES = 4 << 20;
/** The one-process engine is the only reader of its logs: it trims them behind its stores. */
const TRIM_EVERY_RECORDS = 10_000;

export interface EngineOptions {
  dataDir: string;
  partitions: number;
  schema: SchemaView;
  /**
   * Server defaults of retentions, timeouts and retry policy; a service or handler of the schema overrides
   * them (see resolveInvocationOptions). Default: Restate's.
   */
  defaults?: InvocationDefaults;
  maxStateValueBytes?: number;
  /**
   * Memory for caches, shared by all partitions: the read cache of the partition stores (default 16 MiB) and
   * the recent records of the logs kept for the processors that tail them (default 8 MiB).
   */
  partitionCacheBytes?: number;
  logCacheBytes?: number;
  /**
   * LevelDB's own block cache, for each of the partition stores (shared out among the partitions' databases)
   * and the log store (default 2 MiB, against LevelDB's 8). Hot reads are served by the caches above; this one
   * serves cold reads only, and a larger one only makes the resident memory creep up for hours as it fills.
   */
  leveldbBlockCacheBytes?: number;
  /**
   * LevelDB memtables of the partition stores, shared out among the partitions' databases (default 4 MiB); the
   * shared database of the journal has its own 4 MiB.
   */
  leveldbWriteBufferBytes?: number;
  /** Reads the time: request timestamps, timers, retries (default: the system clock; a simulation passes its own). */
  clock?: Clock;
  /** Arms timers of the leaders and the invoker (default: the system's). */
  timers?: Timers;
  /** Most invocation attempts running at once; more wait in a FIFO queue (default: unlimited). */
  maxConcurrentInvocations?: number;
  /** Highest service protocol version negotiated with deployments (default: 7, the highest this engine speaks). */
  maxProtocolVersion?: number;
  /**
   * Most records a partition may have appended but not applied (plus appends in flight) before new ingress
   * requests for it are refused with 503 and Retry-After (default: unlimited).
   */
  maxPartitionBacklog?: number;
  log: Logger;
  /** Leader epochs: a durable counter per partition (never a clock). */
  epochs: EpochSource;
  /**
   * Called when a partition's apply loop or the log store fails (a failed log write or fsync): the process
   * should exit; it recovers from what is durable.
   */
  onFatal: (err: unknown) => void;
  /** Trims wait this long after the records they drop were synced (default 0). */
  trimDelayMs?: number;
  /**
   * Where and when partition snapshots are taken (default: none). The one-process engine does not need them to
   * trim its logs (it is their only reader); they are copies of its stores for backups and for growing into a
   * cluster.
   */
  snapshots?: Omit<PartitionSnapshotsOptions, 'storage' | 'led' | 'log' | 'clock' | 'timers' | 'tmpDir' | 'node'>;
  /** Told of invocations (see registerInvocationMetrics) and of appends to the local log (registerAppendMetrics). */
  metrics?: { invocations?: InvocationMetrics; appends?: AppendMetrics };
  /** The identity headers of every invocation request to a deployment (default: `unsigned`). */
  requestSigner?: RequestSigner;
}

/**
 * The one-process engine: N partitions, each a log of the local log store and a store of the local partition
 * storage, all hosted and led by one PartitionHost, which implements what ingress and admin need.
 */
export class Engine implements InvocationBackend {
  private readonly logStore: LocalLogStore;
  /** The log of each partition, in partition order. */
  private readonly logs: LocalLoglet[];
  private readonly storage: StorageEngine;
  readonly host: PartitionHost;
  /** Takes the partitions' snapshots (when configured). */
  readonly snapshots: PartitionSnapshots | undefined;

  private constructor(
    logStore: LocalLogStore,
    logs: LocalLoglet[],
    storage: StorageEngine,
    host: PartitionHost,
    snapshots: PartitionSnapshots | undefined,
  ) {
    this.logStore = logStore;
    this.logs = logs;
    this.storage = storage;
    this.host = host;
    this.snapshots = snapshots;
  }

  static async start(opts: EngineOptions): Promise<Engine> {
    // A failed log write or fsync stops the log store (never a gap); the process exits and recovers on restart.
    const logStore = await LocalLogStore.open(join(opts.dataDir, 'log'), {
      onFatal: opts.onFatal,
      recentBytesPerLog: Math.floor((opts.logCacheBytes ?? 8 << 20) / opts.partitions),
      blockCacheBytes: opts.leveldbBlockCacheBytes ?? DEFAULT_LEVELDB_BLOCK_CACHE_BYTES,
      metrics: opts.metrics?.appends,
    });
    const perPartition = (total: number, min: number) => Math.max(min, Math.floor(total / opts.partitions));
    const storage = await openPartitionStorage(join(opts.dataDir, 'partitions'), {
      partitions: opts.partitions,
      blockCacheBytes: perPartition(opts.leveldbBlockCacheBytes ?? DEFAULT_LEVELDB_BLOCK_CACHE_BYTES, 64 << 10),
      writeBufferBytes: perPartition(opts.leveldbWriteBufferBytes ?? DEFAULT_LEVELDB_WRITE_BUFFER_BYTES, 256 << 10),
    });
    const host = new PartitionHost({
      partitions: opts.partitions,
      schema: opts.schema,
      defaults: opts.defaults,
      maxStateValueBytes: opts.maxStateValueBytes,
      clock: opts.clock,
      timers: opts.timers,
      maxConcurrentInvocations: opts.maxConcurrentInvocations,
      maxProtocolVersion: opts.maxProtocolVersion,
      maxPartitionBacklog: opts.maxPartitionBacklog,
      log: opts.log,
      onFatal: opts.onFatal,
      trimEveryRecords: TRIM_EVERY_RECORDS,
      trimDelayMs: opts.trimDelayMs,
      // Nobody else leads these partitions: a later epoch in a log means another process writes to this data.
      onLeadershipLost: (p, epoch, by) =>
        opts.onFatal(new Error(`partition ${p}: leader epoch ${epoch} was superseded by epoch ${by}`)),
      metrics: opts.metrics?.invocations,
      requestSigner: opts.requestSigner,
    });
    const cacheBytes = Math.floor((opts.partitionCacheBytes ?? 16 << 20) / opts.partitions);
    const logs = await Promise.all(Array.from({ length: opts.partitions }, (_, p) => logStore.loglet(p)));
    await Promise.all(logs.map((log, p) => host.addPartition(p, log, storage.partition(p, cacheBytes))));
    // Every partition replays its log and leads with the next epoch of its durable counter.
    await Promise.all(Array.from({ length: opts.partitions }, async (_, p) => host.lead(p, await opts.epochs.next(p))));
    const snapshots = opts.snapshots
      ? new PartitionSnapshots({
          ...opts.snapshots,
          storage,
          node: 'server',
          tmpDir: join(opts.dataDir, 'snapshot-tmp'),
          led: () => host.processors.filter((p) => p.isLeader),
          log: opts.log,
          clock: opts.clock,
          timers: opts.timers,
        })
      : undefined;
    snapshots?.start();
    return new Engine(logStore, logs, storage, host, snapshots);
  }

  /** The partitions' processors, in partition order. */
  get processors(): PartitionProcessor[] {
    return this.host.processors;
  }

  call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    return this.host.call(req, signal);
  }

  send(req: IngressRequest): Promise<SendReceipt> {
    return this.host.send(req);
  }

  attach(
    query: InvocationQuery,
    mode: 'attach' | 'output',
    signal?: AbortSignal,
  ): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    return this.host.attach(query, mode, signal);
  }

  completeAwakeable(
    awakeableId: string,
    result: { value: Uint8Array } | { failure: { code: number; message: string } },
  ): Promise<void> {
    return this.host.completeAwakeable(awakeableId, result);
  }

  control(invocationId: string, op: ControlOperation): Promise<InvocationOutcome> {
    return this.host.control(invocationId, op);
  }

  restartAsNew(invocationId: string, opts?: RestartOptions): Promise<InvocationOutcome> {
    return this.host.restartAsNew(invocationId, opts);
  }

  replaceState(req: StateReplacement): Promise<InvocationOutcome> {
    return this.host.replaceState(req);
  }

  schedule(partitionKey: bigint, op: ScheduleOperation): Promise<InvocationOutcome> {
    return this.host.schedule(partitionKey, op);
  }

  describe(invocationId: string): Promise<InvocationDescription | undefined> {
    return this.host.describe(invocationId);
  }

  /** Restate's SQL introspection tables kept in the partitions, over all partitions (admin `POST /query`). */
  get introspection(): IntrospectionSource {
    return this.host.introspection;
  }

  /** Unfinished invocations pinned to a deployment, over all partitions (for graceful deployment removal). */
  pinnedInvocations(deploymentId: string): Promise<number> {
    return this.host.pinnedInvocations(deploymentId);
  }

  /** LevelDB's own figures (memory, table sizes, compaction work) of the partition store and of the log store. */
  get leveldbStats(): { partitions: LeveldbStats; log: LeveldbStats } {
    return { partitions: this.storage.stats(), log: leveldbStats(this.logStore.db) };
  }

  /** The partition stores' read caches, summed: entries, bytes, hits and misses since start. */
  get partitionCacheStats(): { entries: number; bytes: number; hits: number; misses: number } {
    const sum = { entries: 0, bytes: 0, hits: 0, misses: 0 };
    for (const p of this.processors) {
      const c = p.store.cacheStats();
      sum.entries += c.entries;
      sum.bytes += c.bytes;
      sum.hits += c.hits;
      sum.misses += c.misses;
    }
    return sum;
  }

  /**
   * Snapshots every partition whose log was trimmed, with its trims held back from then on (a growing server's
   * new replicas start from these snapshots: none may be below its log's trim point). Rejects (and lets the
   * trims go on) when one cannot be taken or archived.
   */
  async snapshotTrimmedPartitions(): Promise<void> {
    if (!this.snapshots) throw new Error('no snapshot repository is configured');
    const snapshots = this.snapshots;
    for (const p of this.processors) p.holdTrims(true);
    try {
      for (const [p, trimPoint] of this.logTrimPoints.entries()) {
        if (trimPoint === 0n) continue;
        const m = await snapshots.create(this.processors[p]!);
        if (BigInt(m.appliedOffset) + 1n < trimPoint)
          throw new Error(`partition ${p}: the snapshot at ${m.appliedOffset} is below the trim point ${trimPoint}`);
      }
    } catch (e) {
      for (const p of this.processors) p.holdTrims(false);
      throw e;
    }
  }

  /** Records kept in each partition's log (its tail minus its trim point). */
  get logRecords(): bigint[] {
    return this.logs.map((l) => l.releasedTail - l.trimmedBelow);
  }

  /** Where each partition's log is trimmed (records below it are gone; 0 while nothing was trimmed). */
  get logTrimPoints(): bigint[] {
    return this.logs.map((l) => l.trimmedBelow);
  }

  /**
   * Stops for good, handing the logs and the partition stores over to whatever opens them next (the server
   * growing into a cluster): every partition steps down (its leader stops acting; its appends in flight
   * complete), every log is sealed (nothing is appended to it again, also after a restart), each partition
   * applies its log up to the sealed tail, and the engine closes (the stores commit what is applied). Resolves
   * with the sealed tails, in partition order.
   */
  async handOver(): Promise<bigint[]> {
    await Promise.all(this.logs.map((_, p) => this.host.stepDown(p)));
    const tails = await Promise.all(this.logs.map((l) => l.seal()));
    await Promise.all(tails.map((tail, p) => (tail > 0n ? this.host.processor(p)?.waitApplied(tail - 1n) : undefined)));
    await this.close();
    return tails;
  }

  async close(): Promise<void> {
    await this.snapshots?.close();
    await this.host.close();
    await this.logStore.close();
    await this.storage.close();
  }
}
