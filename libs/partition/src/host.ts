/**
 * PartitionHost: the partitions one process hosts, any subset of the N. Each hosted partition has a processor
 * that follows its log (a hot standby) and, while this process leads it, a leader that performs its effects.
 * The host answers ingress and admin requests (InvocationBackend) for the partitions it leads; for any other it
 * throws NotLeaderError, and when it stops leading a partition every request waiting on it is rejected with
 * NotLeaderError, so that a forwarding ingress retries on the new leader (with the same invocation id).
 */
import { randomBytes } from 'node:crypto';
import {
  type ControlOperation,
  fanIn,
  type IngressRequest,
  InputError,
  type IntrospectionRow,
  type IntrospectionSource,
  type InvocationBackend,
  type InvocationDefaults,
  type InvocationDescription,
  type InvocationOutcome,
  type InvocationQuery,
  MAX_EXECUTION_TIME_MS,
  NotLeaderError,
  newInvocationId,
  OverloadedError,
  partitionKeyOf,
  partitionOf,
  RESTATE_INVOCATION_DEFAULTS,
  type RestartOptions,
  type ScanOptions,
  type ScheduleOperation,
  type SchemaView,
  type SendReceipt,
  type StateReplacement,
} from '@stead/core';
import { InvocationStreamClient, type RequestSigner } from '@stead/invoker';
import type { Loglet } from '@stead/log';
import type { PartitionStore } from '@stead/storage';
import { type Clock, systemClock, systemTimers, type Timers } from './clock.ts';
import { describeInvocation } from './describe.ts';
import { type PartitionRowSource, scanPartitionRows } from './introspection/scan.ts';
import { checkedInvocationId, ids, planInvocation } from './invocation-ids.ts';
import { InvokerDriver, pinFor } from './invoker-driver.ts';
import * as journal from './journal.ts';
import { PartitionLeader } from './leader.ts';
import type { InvocationMetrics, ScheduleFigures } from './metrics.ts';
import { type EffectSink, PartitionProcessor, type ProcessorOptions, type ProcessorRole } from './processor.ts';
import { MAX_SINKS_PER_INVOCATION, TOO_MANY_WAITERS } from './state-machine.ts';
import { PartitionTables } from './tables.ts';
import type { Command, NewInvocation, ResponseSink } from './types.ts';

export type Logger = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface PartitionHostOptions {
  /** The cluster's partition count N (fixed): partition keys map to partitions 0..N-1. */
  partitions: number;
  schema: SchemaView;
  /** Server defaults of retentions, timeouts and retry policy (default: Restate's). */
  defaults?: InvocationDefaults;
  maxStateValueBytes?: number;
  /** Reads the time: request timestamps, timers, retries (default: the system clock). */
  clock?: Clock;
  /** Arms timers of the leaders and the invoker (default: the system's). */
  timers?: Timers;
  /** Most invocation attempts running at once over the led partitions; more wait in a FIFO queue. */
  maxConcurrentInvocations?: number;
  /**
   * Highest service protocol version negotiated with deployments (default and upper bound: 7). A lower one
   * applies to invocations that start from now on; one already pinned keeps its version.
   */
  maxProtocolVersion?: number;
  /** Most unapplied records of a partition before new requests for it are refused with 503 (default: none). */
  maxPartitionBacklog?: number;
  log: Logger;
  /** A partition's apply loop failed (its store may be inconsistent): the process should exit. */
  onFatal: (err: unknown) => void;
  /**
   * Appends outbox messages to the log of `partition` (another one's, or this one's), resolving once durable.
   * In one process: the partition's processor here (the default, for hosted partitions); in a cluster: the
   * partition's replicated log. The messages carry their producer tags: a retried delivery is dropped there.
   */
  deliver?: (partition: number, commands: Command[]) => Promise<unknown>;
  /**
   * Names this process run (default: random): in the response sinks of its waiting requests (answers to them
   * stay in this process) and in the producer tags of the records it appends (never reused after a restart).
   */
  instance?: string;
  /** Tag every appended record with this process's producer name and a sequence number (default: true). */
  tagAppends?: boolean;
  /** A partition led (or about to be led) here was taken over by a later epoch; this process follows it now. */
  onLeadershipLost?: (partition: number, epoch: number, supersededBy: number) => void;
  /**
   * Trims each hosted log behind its store every this many records (default 0: never, as other replicas read
   * the same log; the one-process engine trims).
   */
  trimEveryRecords?: number;
  /** See ProcessorOptions.trimDelayMs. */
  trimDelayMs?: number;
  /** Syncs each hosted store every this many records (see ProcessorOptions.syncEveryRecords). */
  syncEveryRecords?: number;
  /**
   * The log of hosted partition `p` was trimmed past what its processor applied (see
   * ProcessorOptions.onLogTrimmed): its processor has stopped; remove it and rebuild the replica from a
   * snapshot. Without it the error is fatal (onFatal).
   */
  onLogTrimmed?: (p: number, err: Error) => void;
  /** Group commit of the partition stores (see ProcessorOptions). */
  commitIntervalMs?: number;
  commitMaxKeys?: number;
  /** Told of the invocations of the partitions led here (see registerInvocationMetrics). */
  metrics?: InvocationMetrics;
  /** The identity headers of every invocation request to a deployment (default: `unsigned`). */
  requestSigner?: RequestSigner;
}

/** What `status()` tells about each hosted partition. */
export interface HostedPartitionStatus {
  partition: number;
  /** follower: applies its log; candidate: announced its epoch, waiting for it to be applied; leader: acts. */
  role: ProcessorRole;
  /** The epoch it leads or waits to lead with, or last led with (0: never). */
  epoch: number;
  /** The last applied log offset (-1: none). */
  appliedOffset: bigint;
  /** The last applied offset that survives a crash of this machine (-1: none); see PartitionProcessor.durableOffset. */
  durableOffset: bigint;
  /** Records known to be in the log and not applied yet, plus appends in flight. */
  backlog: number;
}

/** A hosted partition. `leading` follows the leader's activation (set by activate, cleared by deactivate). */
interface Hosted {
  partition: number;
  processor: PartitionProcessor;
  leader: PartitionLeader;
  leading: boolean;
}

interface Waiter {
  partition: number;
  resolve: (o: InvocationOutcome) => void;
  reject: (err: unknown) => void;
}

interface SubmitWaiter {
  partition: number;
  promise: Promise<boolean>;
  resolve: (previouslyAccepted: boolean) => void;
  reject: (err: unknown) => void;
}

/** What a client refused by admission control is told to wait before retrying. */
const RETRY_AFTER_SECONDS = 1;
/** Partitions an introspection query reads at once (their store reads overlap each other and the decoding). */
const SCAN_PARALLELISM = 4;

/** The service protocol versions this engine speaks. */
const MIN_PROTOCOL = 5;
const MAX_PROTOCOL = 7;

export class PartitionHost implements InvocationBackend {
  private readonly opts: PartitionHostOptions;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly hosted = new Map<number, Hosted>();
  private readonly invoker: InvokerDriver;
  /** Highest service protocol version negotiated (see PartitionHostOptions.maxProtocolVersion). */
  private readonly maxProtocol: number;
  private readonly client: InvocationStreamClient;
  /** Requests waiting for an outcome, by the node of their sink. */
  private readonly waiters = new Map<string, Waiter>();
  /** Idempotent sends waiting to learn whether their invocation existed, by invocation id. */
  private readonly submitWaiters = new Map<string, SubmitWaiter[]>();
  private nextRequest = 0;
  /** Distinguishes this process's waiting requests from those of other processes and earlier runs. */
  readonly instance: string;
  /** Ingress requests refused by admission control or by the waiter limit of an invocation. */
  refusedRequests = 0;

  constructor(opts: PartitionHostOptions) {
    if (!Number.isInteger(opts.partitions) || opts.partitions < 1)
      throw new Error(`partitions must be a positive integer, got ${opts.partitions}`);
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? systemTimers;
    this.instance = opts.instance ?? randomBytes(6).toString('base64url');
    this.maxProtocol = opts.maxProtocolVersion ?? MAX_PROTOCOL;
    if (!Number.isInteger(this.maxProtocol) || this.maxProtocol < MIN_PROTOCOL || this.maxProtocol > MAX_PROTOCOL)
      throw new Error(
        `maxProtocolVersion must be an integer from ${MIN_PROTOCOL} to ${MAX_PROTOCOL}, got ${opts.maxProtocolVersion}`,
      );
    this.client = new InvocationStreamClient({ signer: opts.requestSigner });
    this.invoker = new InvokerDriver({
      schema: opts.schema,
      client: this.client,
      defaults: opts.defaults ?? RESTATE_INVOCATION_DEFAULTS,
      maxStateValueBytes: opts.maxStateValueBytes,
      maxConcurrent: opts.maxConcurrentInvocations,
      minProtocolVersion: MIN_PROTOCOL,
      maxProtocolVersion: this.maxProtocol,
      clock: this.clock,
      timers: this.timers,
      log: opts.log,
      metrics: opts.metrics,
    });
  }

  // ---------- hosting and leadership ----------

  /**
   * Hosts partition `p`: a processor follows `loglet` into `store` (replaying from the store's applied offset).
   * Resolves once it follows; the store stays the caller's (close it after removePartition).
   */
  async addPartition(p: number, loglet: Loglet, store: PartitionStore): Promise<void> {
    if (!Number.isInteger(p) || p < 0 || p >= this.opts.partitions)
      throw new RangeError(`partition ${p} is not one of the ${this.opts.partitions} partitions`);
    if (this.hosted.has(p)) throw new Error(`partition ${p} is hosted already`);
    const options: ProcessorOptions = {
      partitionId: p,
      loglet,
      store,
      ...ids,
      log: this.opts.log,
      clock: this.clock,
      timers: this.timers,
      onFatal: this.opts.onFatal,
      trimEveryRecords: this.opts.trimEveryRecords ?? 0,
      syncEveryRecords: this.opts.syncEveryRecords,
      trimDelayMs: this.opts.trimDelayMs,
      onLogTrimmed: this.opts.onLogTrimmed ? (err) => this.opts.onLogTrimmed?.(p, err) : undefined,
      commitIntervalMs: this.opts.commitIntervalMs,
      commitMaxKeys: this.opts.commitMaxKeys,
      producer: this.opts.tagAppends === false ? undefined : this.instance,
      onSuperseded: (epoch, by) => this.superseded(p, epoch, by),
    };
    const processor = new PartitionProcessor(options);
    const leader = new PartitionLeader({
      processor,
      partitionOf: (pk) => partitionOf(pk, this.opts.partitions),
      deliver: (target, commands) => this.deliverOutbox(target, commands),
      respond: (_id, sink, outcome) => this.respond(sink, outcome),
      submitted: (id, previouslyAccepted) => this.submitted(id, previouslyAccepted),
      invoker: this.invoker,
      clock: this.clock,
      timers: this.timers,
      log: this.opts.log,
      metrics: this.opts.metrics,
    });
    const h: Hosted = { partition: p, processor, leader, leading: false };
    this.hosted.set(p, h);
    try {
      await processor.follow();
    } catch (err) {
      this.hosted.delete(p);
      throw err;
    }
  }

  /**
   * Leads hosted partition `p` with `epoch` (from the partition table: it must be above every earlier epoch of
   * the partition). Resolves once this process acts as its leader: the epoch's announcement is applied and no
   * later one. Rejects with SupersededError when a later epoch is applied first, or when stepped down meanwhile.
   */
  async lead(p: number, epoch: number): Promise<void> {
    const h = this.mustHost(p);
    await h.processor.lead(epoch, this.sinkOf(h));
  }

  /** Stops leading `p` (its waiting requests get NotLeaderError); it goes on following its log. */
  async stepDown(p: number): Promise<void> {
    await this.mustHost(p).processor.stepDown();
  }

  /** Stops hosting `p`: steps down, commits what is applied and stops following (the caller closes the store). */
  async removePartition(p: number): Promise<void> {
    const h = this.mustHost(p);
    await h.processor.close();
    this.hosted.delete(p);
  }

  /** The hosted partitions, in partition order. */
  status(): HostedPartitionStatus[] {
    return [...this.hosted.values()]
      .sort((a, b) => a.partition - b.partition)
      .map(({ partition, processor }) => ({
        partition,
        role: processor.currentRole,
        epoch: processor.epoch,
        appliedOffset: processor.appliedOffset,
        durableOffset: processor.durableOffset,
        backlog: processor.backlog,
      }));
  }

  /** The processor of a hosted partition (undefined when not hosted). */
  processor(p: number): PartitionProcessor | undefined {
    return this.hosted.get(p)?.processor;
  }

  /** The processors of the hosted partitions, in partition order. */
  get processors(): PartitionProcessor[] {
    return [...this.hosted.values()].sort((a, b) => a.partition - b.partition).map((h) => h.processor);
  }

  private mustHost(p: number): Hosted {
    const h = this.hosted.get(p);
    if (!h) throw new Error(`partition ${p} is not hosted by this process`);
    return h;
  }

  /**
   * The leader's effect sink, wrapped: requests are accepted for `p` from its activation on, and when it stops
   * leading every request waiting on it is rejected (before anything else, so that no new one slips in).
   */
  private sinkOf(h: Hosted): EffectSink {
    return {
      activate: async (epoch) => {
        await h.leader.activate(epoch);
        h.leading = true;
      },
      execute: (effects) => h.leader.execute(effects),
      deactivate: async () => {
        h.leading = false;
        this.rejectWaiters(h.partition, 'its leader stepped down');
        await h.leader.deactivate();
      },
    };
  }

  private superseded(p: number, epoch: number, by: number): void {
    this.opts.log('warn', 'partition leadership taken over by a later epoch', { partition: p, epoch, by });
    this.opts.onLeadershipLost?.(p, epoch, by);
  }

  private rejectWaiters(p: number, why: string): void {
    const err = new NotLeaderError(p, why);
    for (const [node, w] of this.waiters) {
      if (w.partition !== p) continue;
      this.waiters.delete(node);
      w.reject(err);
    }
    for (const [id, list] of this.submitWaiters) {
      const kept = list.filter((w) => w.partition !== p);
      for (const w of list) if (w.partition === p) w.reject(err);
      if (kept.length === 0) this.submitWaiters.delete(id);
      else this.submitWaiters.set(id, kept);
    }
  }

  /** The processor of the partition owning `partitionKey`, if this process leads it; else NotLeaderError. */
  private ledProcessor(partitionKey: bigint): PartitionProcessor {
    const p = partitionOf(partitionKey, this.opts.partitions);
    const h = this.hosted.get(p);
    if (!h?.leading) throw new NotLeaderError(p);
    return h.processor;
  }

  private ledProcessorOf(invocationId: string): PartitionProcessor {
    return this.ledProcessor(ids.partitionKeyOfInvocation(invocationId));
  }

  private deliverOutbox(partition: number, commands: Command[]): Promise<unknown> {
    if (this.opts.deliver) return this.opts.deliver(partition, commands);
    const h = this.hosted.get(partition);
    if (!h) return Promise.reject(new Error(`partition ${partition} is not hosted by this process`));
    return h.processor.appendMany(commands);
  }

  // ---------- waiting requests ----------

  /** Results go to the waiting request named in the sink (of this process; others' are not here). */
  private respond(sink: ResponseSink, outcome: InvocationOutcome): void {
    if (sink.kind !== 'ingress') return;
    const w = this.waiters.get(sink.node);
    if (!w) return;
    this.waiters.delete(sink.node);
    w.resolve(outcome);
  }

  private submitted(invocationId: string, previouslyAccepted: boolean): void {
    const ws = this.submitWaiters.get(invocationId);
    if (!ws) return;
    this.submitWaiters.delete(invocationId);
    for (const w of ws) w.resolve(previouslyAccepted);
  }

  /**
   * A response sink for a request of this process on `processor`'s partition, which must be led here now. When
   * `signal` aborts before the answer, `onAbort` runs with the sink (to take it back from the invocation).
   */
  private wait(
    processor: PartitionProcessor,
    signal?: AbortSignal,
    onAbort?: (sink: ResponseSink) => void,
  ): { sink: ResponseSink; outcome: Promise<InvocationOutcome> } {
    const partition = processor.partitionId;
    if (!this.hosted.get(partition)?.leading) throw new NotLeaderError(partition);
    const key = `${this.instance}/${++this.nextRequest}`;
    const sink: ResponseSink = { kind: 'ingress', node: key };
    const outcome = new Promise<InvocationOutcome>((resolve, reject) => {
      this.waiters.set(key, { partition, resolve, reject });
      signal?.addEventListener('abort', () => {
        if (!this.waiters.delete(key)) return; // answered already
        reject(signal.reason ?? new Error('aborted'));
        onAbort?.(sink);
      });
    });
    outcome.catch(() => {});
    return { sink, outcome };
  }

  /** Waits for the `submitted` report of an idempotent send (rejected if the partition stops being led here). */
  private waitSubmitted(processor: PartitionProcessor, invocationId: string): Promise<boolean> {
    const partition = processor.partitionId;
    if (!this.hosted.get(partition)?.leading) throw new NotLeaderError(partition);
    const w = { partition, ...Promise.withResolvers<boolean>() };
    w.promise.catch(() => {});
    const list = this.submitWaiters.get(invocationId) ?? [];
    list.push(w);
    this.submitWaiters.set(invocationId, list);
    return w.promise;
  }

  /** Drops the submit waiter whose promise is `p` (its append failed: no report will come for it). */
  private forgetSubmitWaiter(invocationId: string, p: Promise<boolean>): void {
    const list = this.submitWaiters.get(invocationId);
    const kept = list?.filter((w) => w.promise !== p) ?? [];
    if (kept.length === 0) this.submitWaiters.delete(invocationId);
    else this.submitWaiters.set(invocationId, kept);
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

  // ---------- InvocationBackend ----------

  private queryId(q: InvocationQuery): string {
    if ('invocationId' in q) return checkedInvocationId(q.invocationId);
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
    const processor = this.ledProcessorOf(invocationId);
    this.admit(processor);
    if (mode === 'attach') {
      // Fast refusal without a record; the state machine enforces the same limit for attaches racing past this.
      const st = await this.mustHost(processor.partitionId).leader.reader.status(invocationId);
      if (st && st.phase !== 'completed' && st.sinks.length >= MAX_SINKS_PER_INVOCATION)
        this.refuseTooManyWaiters(TOO_MANY_WAITERS);
    }
    const appended = Promise.withResolvers<void>();
    appended.promise.catch(() => {});
    const detach = mode === 'attach' ? this.detachLater(processor, invocationId, appended.promise) : undefined;
    const { sink, outcome } = this.wait(processor, signal, detach);
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
    const processor = this.ledProcessorOf(invocationId);
    this.admit(processor);
    await processor.append({
      kind: 'Notify',
      ts: this.clock.now(),
      invocationId,
      entry: journal.signalNotification({ idx: signalIndex }, result),
      id: { signalId: signalIndex },
    });
  }

  async control(invocationId: string, op: ControlOperation): Promise<InvocationOutcome> {
    checkedInvocationId(invocationId);
    const processor = this.ledProcessorOf(invocationId);
    const { sink, outcome } = this.wait(processor);
    await processor.append({ kind: 'Control', ts: this.clock.now(), invocationId, op, sink });
    return outcome;
  }

  /** Appends the replacement to the partition of the key, and waits until it is applied (or refused). */
  async replaceState(req: StateReplacement): Promise<InvocationOutcome> {
    const processor = this.ledProcessor(partitionKeyOf(req.key));
    const { sink, outcome } = this.wait(processor);
    await processor.append({
      kind: 'ReplaceState',
      ts: this.clock.now(),
      service: req.service,
      key: req.key,
      serviceType: req.serviceType,
      state: req.state,
      ...(req.version === undefined ? {} : { version: req.version }),
      sink,
    });
    return outcome;
  }

  /** Appends a schedule command to the partition of `partitionKey`, and waits until it is applied. */
  async schedule(partitionKey: bigint, op: ScheduleOperation): Promise<InvocationOutcome> {
    const processor = this.ledProcessor(partitionKey);
    const { sink, outcome } = this.wait(processor);
    const ts = this.clock.now();
    await processor.append(
      op.op === 'create'
        ? { kind: 'Schedule', ts, op: 'create', id: op.definition.id, definition: op.definition, sink }
        : { kind: 'Schedule', ts, op: op.op, id: op.id, sink },
    );
    return outcome;
  }

  /** The tick counts of the cron schedules in the partitions led here (the schedule metrics). */
  async scheduleFigures(): Promise<ScheduleFigures[]> {
    const out: ScheduleFigures[] = [];
    for (const h of this.hosted.values()) {
      if (!h.leading) continue;
      for (const s of await h.leader.reader.schedules())
        out.push({ id: s.definition.id, fired: s.fired, skipped: s.skipped, late: s.late });
    }
    return out;
  }

  /** Unfinished invocations pinned to a deployment, over the partitions led here (graceful deployment removal). */
  async pinnedInvocations(deploymentId: string): Promise<number> {
    let n = 0;
    for (const h of this.hosted.values()) if (h.leading) n += await h.leader.reader.pinnedCount(deploymentId);
    return n;
  }

  async describe(invocationId: string): Promise<InvocationDescription | undefined> {
    checkedInvocationId(invocationId);
    const processor = this.ledProcessorOf(invocationId);
    const reader = this.mustHost(processor.partitionId).leader.reader;
    const st = await reader.status(invocationId);
    if (!st) return undefined;
    const d = describeInvocation(st, await reader.journal(st));
    // As sys_invocation: a started invocation whose last attempt failed and waits to retry is backing off.
    if (st.phase === 'invoked') {
      const r = this.invoker.reports(this.mustHost(processor.partitionId).leader).find((a) => a.invocationId === st.id);
      if (r !== undefined && !r.inFlight && r.retryCount > 0) d.status = 'backing-off';
    }
    return d;
  }

  async restartAsNew(invocationId: string, opts: RestartOptions = {}): Promise<InvocationOutcome> {
    checkedInvocationId(invocationId);
    const from = opts.from ?? 0;
    if (!Number.isInteger(from) || from < 0 || from > 0xffffffff)
      throw new InputError(`'from' must be a journal entry index (0..4294967295), not ${from}`);
    if (from === 0 && opts.deployment !== undefined)
      throw new InputError("'deployment' can be used only together with 'from' greater than 0");
    const restartOn = this.restartDeployment(opts.deployment);
    const processor = this.ledProcessorOf(invocationId);
    // Same partition key: the new invocation lives in the same partition, which holds the input to copy.
    const newId = newInvocationId(ids.partitionKeyOfInvocation(invocationId)).toString();
    const { sink, outcome } = this.wait(processor);
    await processor.append({
      kind: 'Control',
      ts: this.clock.now(),
      invocationId,
      op: 'restart-as-new',
      sink,
      newInvocationId: newId,
      ...(from > 0 ? { restartFrom: from } : {}),
      ...(restartOn ? { restartOn } : {}),
    });
    return outcome;
  }

  /** The deployment a restart from a prefix runs on, as the log record carries it (latest: absent). */
  private restartDeployment(d: RestartOptions['deployment']): Extract<Command, { kind: 'Control' }>['restartOn'] {
    if (d === undefined || d === 'latest') return undefined;
    if (d === 'keep') return 'keep';
    const dep = this.opts.schema.deployment(d.id);
    if (!dep) throw new InputError(`deployment '${d.id}' not found`, 404);
    return { deploymentId: d.id, protocolVersion: Math.min(dep.maxProtocolVersion, this.maxProtocol) };
  }

  async call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    const { id, partitionKey, target, retention } = planInvocation(req, this.opts.schema, this.defaults);
    const processor = this.ledProcessor(partitionKey);
    this.admit(processor);
    const appended = Promise.withResolvers<void>();
    appended.promise.catch(() => {});
    const { sink, outcome } = this.wait(processor, signal, this.detachLater(processor, id, appended.promise));
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
        pin: this.pinFor(target.service),
      },
    });
    append.then(() => appended.resolve(), appended.reject);
    await append;
    return { invocationId: id, outcome: this.refuseTooManyWaiters(await outcome) };
  }

  async send(req: IngressRequest): Promise<SendReceipt> {
    const { id, partitionKey, target, retention, dedupable } = planInvocation(req, this.opts.schema, this.defaults);
    const processor = this.ledProcessor(partitionKey);
    this.admit(processor);
    const now = this.clock.now();
    const executionTime = req.delayMs && req.delayMs > 0 ? now + req.delayMs : undefined;
    if (executionTime !== undefined && !(executionTime <= MAX_EXECUTION_TIME_MS))
      throw new InputError(`the delay of ${req.delayMs} ms puts the execution time past the latest supported one`);
    const previously = dedupable ? this.waitSubmitted(processor, id) : Promise.resolve(false);
    const append = processor.append({
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
        pin: executionTime === undefined ? this.pinFor(target.service) : undefined,
      },
    });
    try {
      await append;
    } catch (err) {
      this.forgetSubmitWaiter(id, previously);
      throw err;
    }
    return {
      invocationId: id,
      status: (await previously) ? 'PreviouslyAccepted' : 'Accepted',
      ...(executionTime ? { executionTime: new Date(executionTime).toISOString() } : {}),
    };
  }

  /** The deployment a new invocation of `service` starts on (carried in its Invoke: see NewInvocation.pin). */
  private pinFor(service: string): NewInvocation['pin'] {
    return pinFor(this.opts.schema, service, {
      minProtocolVersion: MIN_PROTOCOL,
      maxProtocolVersion: this.maxProtocol,
    });
  }

  private get defaults(): InvocationDefaults {
    return this.opts.defaults ?? RESTATE_INVOCATION_DEFAULTS;
  }

  // ---------- SQL introspection ----------

  /**
   * The rows of introspection table `table` in partition `p` (its store, and its invoker's view of the
   * invocations it runs), in batches; throws NotLeaderError unless this process leads `p`, as Restate reads a
   * partition's tables on its leader.
   */
  scanPartition(p: number, table: string, opts: ScanOptions): AsyncIterable<IntrospectionRow[]> {
    const h = this.hosted.get(p);
    if (!h?.leading) throw new NotLeaderError(p);
    return scanPartitionRows(this.rowSource(h), table, opts);
  }

  /**
   * The introspection tables over the partitions led here (the one-process engine leads them all), up to
   * SCAN_PARALLELISM partitions at once: their store reads run on LevelDB's threads while the rows of pages
   * already read are decoded here, and each partition reads its next page while its last one is consumed.
   * Batches come in the order they are read, with one row limit over all partitions.
   */
  readonly introspection: IntrospectionSource = {
    scan: (table, opts) => {
      const led = [...this.hosted.values()].filter((h) => h.leading).map((h) => h.partition);
      return fanIn(
        led.map(
          (p) => (signal: AbortSignal) => this.scanPartition(p, table, { ...opts, signal })[Symbol.asyncIterator](),
        ),
        { parallel: SCAN_PARALLELISM, limit: opts.limit, signal: opts.signal },
      );
    },
  };

  private rowSource(h: Hosted): PartitionRowSource {
    return {
      tables: new PartitionTables(h.processor.store),
      attempts: () => this.invoker.reports(h.leader),
      partitionKeyOfInvocation: ids.partitionKeyOfInvocation,
      serviceType: (service) => this.opts.schema.service(service)?.ty,
    };
  }

  // ---------- metrics, shutdown ----------

  /** Invocation attempts running now. */
  get runningInvocations(): number {
    return this.invoker.running;
  }

  /** Invocations waiting for one of the `maxConcurrentInvocations` slots. */
  get waitingInvocations(): number {
    return this.invoker.waiting;
  }

  /** Stops every attempt, then every processor (requests still waiting get NotLeaderError). */
  async close(): Promise<void> {
    this.invoker.stopAll();
    await Promise.all([...this.hosted.values()].map((h) => h.processor.close()));
    this.hosted.clear();
    this.client.close();
  }
}
