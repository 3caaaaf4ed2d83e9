import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type ControlOperation,
  type IngressRequest,
  InputError,
  type InvocationBackend,
  type InvocationDefaults,
  type InvocationDescription,
  type InvocationOutcome,
  type InvocationQuery,
  invocationRetention,
  MAX_EXECUTION_TIME_MS,
  newInvocationId,
  OverloadedError,
  parseAwakeableId,
  parseInvocationId,
  partitionKeyOf,
  partitionOf,
  RESTATE_INVOCATION_DEFAULTS,
  type SchemaView,
  type SendReceipt,
} from '@stead/core';
import { InvocationStreamClient } from '@stead/invoker';
import { LocalLogStore, type Loglet } from '@stead/log';
import { type LeveldbStats, leveldbStats, type StorageEngine } from '@stead/storage';
import { type Clock, systemClock, systemTimers, type Timers } from './clock.ts';
import type { EpochSource } from './epochs.ts';
import { InvokerDriver } from './invoker-driver.ts';
import * as journal from './journal.ts';
import { PartitionLeader } from './leader.ts';
import { PartitionProcessor } from './processor.ts';
import { type IdFunctions, MAX_SINKS_PER_INVOCATION, TOO_MANY_WAITERS } from './state-machine.ts';
import { openPartitionStorage } from './tables.ts';
import {
  type Command,
  type InvocationStatus,
  type JournalEntry,
  normalizeKey,
  type ResponseSink,
  type Target,
} from './types.ts';

export type Logger = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

const DEFAULT_LEVELDB_BLOCK_CACHE_BYTES = 2 << 20;
const DEFAULT_LEVELDB_WRITE_BUFFER_BYTES = 4 << 20;

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
}

/** What a client refused by admission control is told to wait before retrying. */
const RETRY_AFTER_SECONDS = 1;

const MIN_PROTOCOL = 5;
const MAX_PROTOCOL = 6;

/** Partition key of an invocation target: the key's hash for keyed targets, else random. */
function targetPartitionKey(target: { key?: string }, random: () => Uint8Array): bigint {
  if (target.key !== undefined) return partitionKeyOf(target.key);
  return Buffer.from(random()).readBigUInt64BE(0);
}

/** An invocation id that is a pure function of `seed` (replay-safe, same request → same id). */
function derivedId(seed: string, target: { key?: string }): string {
  const h = createHash('sha256').update(seed).digest();
  const pk = targetPartitionKey(target, () => h.subarray(16, 24));
  return newInvocationId(pk, () => new Uint8Array(h.subarray(0, 16))).toString();
}

function checkedId(id: string): string {
  try {
    parseInvocationId(id);
    return id;
  } catch (err) {
    throw new InputError(`invalid invocation id '${id}': ${err instanceof Error ? err.message : err}`);
  }
}

/** Restate's `sys_invocation.status` names for our phases. */
const STATUS_NAMES: Record<InvocationStatus['phase'], string> = {
  scheduled: 'scheduled',
  inboxed: 'pending',
  invoked: 'running',
  suspended: 'suspended',
  paused: 'paused',
  completed: 'completed',
};

const ENTRY_NAMES = new Map<number, string>(
  [...Object.entries(journal.T), ...Object.entries(journal.T2)].map(([name, code]) => [
    code,
    code >= 0x8000 || code === journal.T.SignalN ? `Notification: ${name.replace(/N$/, '')}` : `Command: ${name}`,
  ]),
);

function describeInvocation(st: InvocationStatus, entries: JournalEntry[]): InvocationDescription {
  const t = st.target;
  const iso = (ms: number) => new Date(ms).toISOString();
  const d: InvocationDescription = {
    id: st.id,
    target: t.key === undefined ? `${t.service}/${t.handler}` : `${t.service}/${t.key}/${t.handler}`,
    target_service_name: t.service,
    target_handler_name: t.handler,
    status: STATUS_NAMES[st.phase],
    created_at: iso(st.createdAt),
    modified_at: iso(st.modifiedAt),
    journal_size: entries.length,
    journal: entries.map((e, index) => ({
      index,
      entry_type: ENTRY_NAMES.get(e.type) ?? `0x${e.type.toString(16)}`,
      type_code: e.type,
    })),
  };
  if (t.key !== undefined) d.target_service_key = t.key;
  if (st.idempotencyKey !== undefined) d.idempotency_key = st.idempotencyKey;
  if (st.deploymentId !== undefined) d.deployment_id = st.deploymentId;
  if (st.completedAt !== undefined) {
    d.completed_at = iso(st.completedAt);
    if (st.retentionMs) d.retention_until = iso(st.completedAt + st.retentionMs);
    if (st.journalRetentionMs) d.journal_retention_until = iso(st.completedAt + st.journalRetentionMs);
  }
  if (st.output) {
    d.completion_result = st.output.ok ? 'success' : 'failure';
    if (!st.output.ok) d.completion_failure = `[${st.output.code}] ${st.output.message}`;
  }
  return d;
}

/** The id arithmetic of the state machine (see IdFunctions). */
export const ids: IdFunctions = {
  partitionKeyOfInvocation: (id) => parseInvocationId(id).partitionKey,
  childId: (parentId, journalIndex, target) => derivedId(`child\u0000${parentId}\u0000${journalIndex}`, target),
  awakeable: (awakeableId) => {
    const a = parseAwakeableId(awakeableId);
    return { invocationId: a.invocationId.toString(), signalIndex: a.signalIndex };
  },
  idempotentId: (service, key, handler, idempotencyKey) =>
    derivedId(`idem\u0000${service}\u0000${key ?? ''}\u0000${handler}\u0000${idempotencyKey}`, {
      key: key ?? idempotencyKey,
    }),
  workflowId: (name, key) => derivedId(`wf\u0000${name}\u0000${key}`, { key }),
};

/**
 * The one-process engine: N partitions, each a log (local loglet) followed by a processor that applies
 * it to the partition store, led by this process. Implements what the ingress needs.
 */
export class Engine implements InvocationBackend {
  private readonly opts: EngineOptions;
  private readonly clock: Clock;
  private readonly logStore: LocalLogStore;
  private readonly storage: StorageEngine;
  readonly processors: PartitionProcessor[];
  private readonly leaders: PartitionLeader[];
  private readonly invoker: InvokerDriver;
  private readonly client: InvocationStreamClient;
  private readonly waiters = new Map<string, ((o: InvocationOutcome) => void)[]>();
  private readonly submitWaiters = new Map<string, ((previouslyAccepted: boolean) => void)[]>();
  private nextRequest = 0;
  /** Distinguishes this process's waiting requests from those of earlier runs (in sinks in the log). */
  private readonly instance = randomBytes(6).toString('base64url');

  private constructor(opts: EngineOptions, logStore: LocalLogStore, storage: StorageEngine, loglets: Loglet[]) {
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    const timers = opts.timers ?? systemTimers;
    this.logStore = logStore;
    this.storage = storage;
    this.client = new InvocationStreamClient();
    this.invoker = new InvokerDriver({
      schema: opts.schema,
      client: this.client,
      defaults: opts.defaults ?? RESTATE_INVOCATION_DEFAULTS,
      maxStateValueBytes: opts.maxStateValueBytes,
      maxConcurrent: opts.maxConcurrentInvocations,
      minProtocolVersion: MIN_PROTOCOL,
      maxProtocolVersion: MAX_PROTOCOL,
      clock: this.clock,
      timers,
      log: opts.log,
    });
    this.processors = [];
    this.leaders = [];
    for (let p = 0; p < opts.partitions; p++) {
      const processor = new PartitionProcessor({
        partitionId: p,
        loglet: loglets[p],
        store: storage.partition(p, Math.floor((opts.partitionCacheBytes ?? 16 << 20) / opts.partitions)),
        ...ids,
        log: opts.log,
        clock: this.clock,
        onFatal: opts.onFatal,
      });
      this.processors.push(processor);
      this.leaders.push(
        new PartitionLeader({
          processor,
          route: (pk) => this.processors[partitionOf(pk, opts.partitions)],
          respond: (id, sink, outcome) => this.deliver(id, sink, outcome),
          submitted: (id, previouslyAccepted) => this.submitted(id, previouslyAccepted),
          invoker: this.invoker,
          clock: this.clock,
          timers,
          log: opts.log,
        }),
      );
    }
  }

  static async start(opts: EngineOptions): Promise<Engine> {
    // A failed log write or fsync stops the log store (never a gap); the process exits and recovers on restart.
    const logStore = await LocalLogStore.open(join(opts.dataDir, 'log'), {
      onFatal: opts.onFatal,
      recentBytesPerLog: Math.floor((opts.logCacheBytes ?? 8 << 20) / opts.partitions),
      blockCacheBytes: opts.leveldbBlockCacheBytes ?? DEFAULT_LEVELDB_BLOCK_CACHE_BYTES,
    });
    const perPartition = (total: number, min: number) => Math.max(min, Math.floor(total / opts.partitions));
    const storage = await openPartitionStorage(join(opts.dataDir, 'partitions'), {
      partitions: opts.partitions,
      blockCacheBytes: perPartition(opts.leveldbBlockCacheBytes ?? DEFAULT_LEVELDB_BLOCK_CACHE_BYTES, 64 << 10),
      writeBufferBytes: perPartition(opts.leveldbWriteBufferBytes ?? DEFAULT_LEVELDB_WRITE_BUFFER_BYTES, 256 << 10),
    });
    const loglets = await Promise.all(Array.from({ length: opts.partitions }, (_, p) => logStore.loglet(p)));
    const engine = new Engine(opts, logStore, storage, loglets);
    await Promise.all(
      engine.processors.map(async (p, i) => p.start(await opts.epochs.next(p.partitionId), engine.leaders[i])),
    );
    // Wait until every partition has replayed its log and leads.
    await Promise.all(engine.processors.map((p) => p.whenLeading()));
    return engine;
  }

  private processorFor(partitionKey: bigint): PartitionProcessor {
    return this.processors[partitionOf(partitionKey, this.opts.partitions)];
  }

  /** Results go to the waiting request named in the sink (`node` carries the request number). */
  private deliver(_invocationId: string, sink: ResponseSink, outcome: InvocationOutcome): void {
    if (sink.kind !== 'ingress') return;
    const ws = this.waiters.get(sink.node);
    if (!ws) return;
    this.waiters.delete(sink.node);
    for (const w of ws) w(outcome);
  }

  private submitted(invocationId: string, previouslyAccepted: boolean): void {
    const ws = this.submitWaiters.get(invocationId);
    if (!ws) return;
    this.submitWaiters.delete(invocationId);
    for (const w of ws) w(previouslyAccepted);
  }

  /**
   * A response sink for a request of this process. When `signal` aborts before the answer, `onAbort` runs with
   * the sink (to take it back from the invocation it waits on).
   */
  private wait(
    signal?: AbortSignal,
    onAbort?: (sink: ResponseSink) => void,
  ): { sink: ResponseSink; outcome: Promise<InvocationOutcome> } {
    const key = `${this.instance}/${++this.nextRequest}`;
    const sink: ResponseSink = { kind: 'ingress', node: key };
    const outcome = new Promise<InvocationOutcome>((resolve, reject) => {
      this.waiters.set(key, [resolve]);
      signal?.addEventListener('abort', () => {
        if (!this.waiters.delete(key)) return; // answered already
        reject(signal.reason ?? new Error('aborted'));
        onAbort?.(sink);
      });
    });
    outcome.catch(() => {});
    return { sink, outcome };
  }

  /**
   * Admission control: refuses (before anything is appended) a new ingress request for a partition whose log
   * holds more unapplied records than the limit, so that overload shows as 503 + Retry-After instead of an
   * unbounded queue.
   */
  private admit(processor: PartitionProcessor): void {
    const limit = this.opts.maxPartitionBacklog;
    if (limit === undefined || processor.backlog < limit) return;
    this.refusedRequests++;
    throw new OverloadedError(
      `partition ${processor.partitionId} is overloaded (${processor.backlog} records waiting to be applied, the limit is ${limit}); retry later`,
      { retryAfterSeconds: RETRY_AFTER_SECONDS },
    );
  }

  /** Ingress requests refused by admission control or by the waiter limit of an invocation. */
  refusedRequests = 0;

  /** A waiter refused by the state machine (too many on one invocation) becomes a 429 for the request. */
  private refuseTooManyWaiters(outcome: InvocationOutcome): InvocationOutcome {
    const refused = TOO_MANY_WAITERS as Extract<InvocationOutcome, { ok: false }>;
    if (outcome.ok || outcome.code !== refused.code || outcome.message !== refused.message) return outcome;
    this.refusedRequests++;
    throw new OverloadedError(refused.message, { status: 429, retryAfterSeconds: RETRY_AFTER_SECONDS });
  }

  /** Appends a detach of `sink` once `appended` (its attach or invoke) is durable: the record stays behind it. */
  private detachLater(processor: PartitionProcessor, invocationId: string, appended: Promise<unknown>) {
    return (sink: ResponseSink) => {
      appended
        .then(() => processor.append({ kind: 'Attach', ts: this.clock.now(), invocationId, sink, mode: 'detach' }))
        .catch((err) => this.opts.log('warn', 'failed to detach a request that went away', { error: String(err) }));
    };
  }

  private newInvocation(req: IngressRequest): {
    id: string;
    processor: PartitionProcessor;
    target: Target;
    retention: { retentionMs: number; journalRetentionMs: number };
    dedupable: boolean;
  } {
    const svc = this.opts.schema.service(req.target.service);
    const handler = svc?.handlers.find((h) => h.name === req.target.handler);
    const target: Target = normalizeKey({ ...req.target, serviceType: svc?.ty, handlerType: handler?.ty });
    const r = invocationRetention(svc, handler, this.opts.defaults ?? RESTATE_INVOCATION_DEFAULTS, {
      key: target.key,
      idempotencyKey: req.idempotencyKey,
    });
    let id: string;
    if (r.workflow) id = ids.workflowId(target.service, target.key as string);
    else if (r.idempotent)
      id = ids.idempotentId(target.service, target.key, target.handler, req.idempotencyKey as string);
    else id = newInvocationId(targetPartitionKey(target, () => randomBytes(8))).toString();
    return {
      id,
      processor: this.processorFor(ids.partitionKeyOfInvocation(id)),
      target,
      retention: { retentionMs: r.retentionMs, journalRetentionMs: r.journalRetentionMs },
      dedupable: r.workflow || r.idempotent,
    };
  }

  private processorOf(invocationId: string): PartitionProcessor {
    return this.processorFor(ids.partitionKeyOfInvocation(invocationId));
  }

  private queryId(q: InvocationQuery): string {
    if ('invocationId' in q) return checkedId(q.invocationId);
    if ('workflow' in q) return ids.workflowId(q.workflow.name, q.workflow.key);
    const r = q.idempotent;
    return ids.idempotentId(r.service, r.key, r.handler, r.idempotencyKey);
  }

  async attach(
    query: InvocationQuery,
    mode: 'attach' | 'output',
    signal?: AbortSignal,
  ): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    const invocationId = this.queryId(query);
    const processor = this.processorOf(invocationId);
    this.admit(processor);
    if (mode === 'attach') {
      // Fast refusal without a record; the state machine enforces the same limit for attaches racing past this.
      const st = await this.leaders[processor.partitionId].reader.status(invocationId);
      if (st && st.phase !== 'completed' && st.sinks.length >= MAX_SINKS_PER_INVOCATION)
        this.refuseTooManyWaiters(TOO_MANY_WAITERS);
    }
    const appended = Promise.withResolvers<void>();
    appended.promise.catch(() => {});
    const detach = mode === 'attach' ? this.detachLater(processor, invocationId, appended.promise) : undefined;
    const { sink, outcome } = this.wait(signal, detach);
    const append = processor.append({ kind: 'Attach', ts: this.clock.now(), invocationId, sink, mode });
    append.then(() => appended.resolve(), appended.reject);
    await append;
    return { invocationId, outcome: this.refuseTooManyWaiters(await outcome) };
  }

  async completeAwakeable(
    awakeableId: string,
    result: { value: Uint8Array } | { failure: { code: number; message: string } },
  ): Promise<void> {
    let target: { invocationId: string; signalIndex: number };
    try {
      target = ids.awakeable(awakeableId);
    } catch (err) {
      throw new InputError(`invalid awakeable id '${awakeableId}': ${err instanceof Error ? err.message : err}`);
    }
    const { invocationId, signalIndex } = target;
    const processor = this.processorOf(invocationId);
    this.admit(processor);
    const cmd: Command = {
      kind: 'Notify',
      ts: this.clock.now(),
      invocationId,
      entry: journal.signalNotification({ idx: signalIndex }, result),
      id: { signalId: signalIndex },
    };
    await processor.append(cmd);
  }

  async control(invocationId: string, op: ControlOperation): Promise<InvocationOutcome> {
    checkedId(invocationId);
    const { sink, outcome } = this.wait();
    await this.processorOf(invocationId).append({ kind: 'Control', ts: this.clock.now(), invocationId, op, sink });
    return outcome;
  }

  /** Unfinished invocations pinned to a deployment, over all partitions (for graceful deployment removal). */
  async pinnedInvocations(deploymentId: string): Promise<number> {
    let n = 0;
    for (const l of this.leaders) n += await l.reader.pinnedCount(deploymentId);
    return n;
  }

  async describe(invocationId: string): Promise<InvocationDescription | undefined> {
    checkedId(invocationId);
    const reader = this.leaders[this.processorOf(invocationId).partitionId].reader;
    const st = await reader.status(invocationId);
    if (!st) return undefined;
    return describeInvocation(st, await reader.journal(st));
  }

  async restartAsNew(invocationId: string): Promise<InvocationOutcome> {
    checkedId(invocationId);
    // Same partition key: the new invocation lives in the same partition, which holds the input to copy.
    const newId = newInvocationId(ids.partitionKeyOfInvocation(invocationId)).toString();
    const { sink, outcome } = this.wait();
    await this.processorOf(invocationId).append({
      kind: 'Control',
      ts: this.clock.now(),
      invocationId,
      op: 'restart-as-new',
      sink,
      newInvocationId: newId,
    });
    return outcome;
  }

  async call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    const { id, processor, target, retention } = this.newInvocation(req);
    this.admit(processor);
    const appended = Promise.withResolvers<void>();
    const { sink, outcome } = this.wait(signal, this.detachLater(processor, id, appended.promise));
    const append = processor.append({
      kind: 'Invoke',
      ts: this.clock.now(),
      inv: {
        id,
        target,
        input: req.body,
        headers: req.headers,
        sink,
        idempotencyKey: req.idempotencyKey,
        ...retention,
      },
    });
    appended.promise.catch(() => {});
    append.then(() => appended.resolve(), appended.reject);
    await append;
    return { invocationId: id, outcome: this.refuseTooManyWaiters(await outcome) };
  }

  async send(req: IngressRequest): Promise<SendReceipt> {
    const { id, processor, target, retention, dedupable } = this.newInvocation(req);
    this.admit(processor);
    const now = this.clock.now();
    const executionTime = req.delayMs && req.delayMs > 0 ? now + req.delayMs : undefined;
    if (executionTime !== undefined && !(executionTime <= MAX_EXECUTION_TIME_MS))
      throw new InputError(`the delay of ${req.delayMs} ms puts the execution time past the latest supported one`);
    const previously = dedupable
      ? new Promise<boolean>((resolve) => {
          const list = this.submitWaiters.get(id) ?? [];
          list.push(resolve);
          this.submitWaiters.set(id, list);
        })
      : Promise.resolve(false);
    await processor.append({
      kind: 'Invoke',
      ts: now,
      inv: {
        id,
        target,
        input: req.body,
        headers: req.headers,
        executionTime,
        idempotencyKey: req.idempotencyKey,
        ...retention,
        reportSubmit: dedupable,
      },
    });
    return {
      invocationId: id,
      status: (await previously) ? 'PreviouslyAccepted' : 'Accepted',
      ...(executionTime ? { executionTime: new Date(executionTime).toISOString() } : {}),
    };
  }

  /** LevelDB's own figures (memory, table sizes, compaction work) of the partition store and of the log store. */
  get leveldbStats(): { partitions: LeveldbStats; log: LeveldbStats } {
    return { partitions: this.storage.stats(), log: leveldbStats(this.logStore.db) };
  }

  /** Invocation attempts running now. */
  get runningInvocations(): number {
    return this.invoker.running;
  }

  /** Invocations waiting for one of the `maxConcurrentInvocations` slots. */
  get waitingInvocations(): number {
    return this.invoker.waiting;
  }

  /** Unapplied records (and appends in flight) of each partition. */
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

  get partitionBacklogs(): number[] {
    return this.processors.map((p) => p.backlog);
  }

  async close(): Promise<void> {
    this.invoker.stopAll();
    await Promise.all(this.processors.map((p) => p.close()));
    this.client.close();
    await this.logStore.close();
    await this.storage.close();
  }
}
