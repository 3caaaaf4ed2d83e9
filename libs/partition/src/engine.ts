import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type ControlOperation,
  type IngressRequest,
  InputError,
  type InvocationBackend,
  type InvocationOutcome,
  type InvocationQuery,
  MAX_EXECUTION_TIME_MS,
  newInvocationId,
  parseAwakeableId,
  parseInvocationId,
  partitionKeyOf,
  partitionOf,
  type SchemaView,
  type SendReceipt,
} from '@stead/core';
import { InvocationStreamClient } from '@stead/invoker';
import { LocalLogStore, type Loglet } from '@stead/log';
import { decodeValue, StorageEngine } from '@stead/storage';
import { InvokerDriver, type RetryPolicy } from './invoker-driver.ts';
import * as journal from './journal.ts';
import { PartitionLeader } from './leader.ts';
import { PartitionProcessor } from './processor.ts';
import type { IdFunctions } from './state-machine.ts';
import type { Command, InvocationStatus, ResponseSink, Target } from './types.ts';

export type Logger = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface EngineOptions {
  dataDir: string;
  partitions: number;
  schema: SchemaView;
  retry: RetryPolicy;
  inactivityTimeoutMs: number;
  abortTimeoutMs: number;
  maxStateValueBytes?: number;
  log: Logger;
  /** Called when a partition's apply loop fails (the process should exit; it recovers from the log). */
  onFatal: (err: unknown) => void;
  /** Retention of idempotent results and of completed workflows when the handler sets none (ms). */
  defaultIdempotencyRetentionMs?: number;
  defaultWorkflowRetentionMs?: number;
}

const DAY = 24 * 3600 * 1000;

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
    this.logStore = logStore;
    this.storage = storage;
    this.client = new InvocationStreamClient();
    this.invoker = new InvokerDriver({
      schema: opts.schema,
      client: this.client,
      retry: opts.retry,
      inactivityTimeoutMs: opts.inactivityTimeoutMs,
      abortTimeoutMs: opts.abortTimeoutMs,
      maxStateValueBytes: opts.maxStateValueBytes,
      minProtocolVersion: MIN_PROTOCOL,
      maxProtocolVersion: MAX_PROTOCOL,
      now: Date.now,
      log: opts.log,
    });
    this.processors = [];
    this.leaders = [];
    for (let p = 0; p < opts.partitions; p++) {
      const processor = new PartitionProcessor({
        partitionId: p,
        loglet: loglets[p],
        store: storage.partition(p),
        ...ids,
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
          now: Date.now,
          log: opts.log,
        }),
      );
    }
  }

  static async start(opts: EngineOptions): Promise<Engine> {
    const logStore = await LocalLogStore.open(join(opts.dataDir, 'log'));
    const storage = await StorageEngine.open(join(opts.dataDir, 'partitions'));
    const loglets = await Promise.all(Array.from({ length: opts.partitions }, (_, p) => logStore.loglet(p)));
    const engine = new Engine(opts, logStore, storage, loglets);
    const epoch = Date.now();
    await Promise.all(engine.processors.map((p, i) => p.start(epoch, engine.leaders[i])));
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

  private wait(signal?: AbortSignal): { sink: ResponseSink; outcome: Promise<InvocationOutcome> } {
    const key = `${this.instance}/${++this.nextRequest}`;
    const outcome = new Promise<InvocationOutcome>((resolve, reject) => {
      this.waiters.set(key, [resolve]);
      signal?.addEventListener('abort', () => {
        this.waiters.delete(key);
        reject(signal.reason ?? new Error('aborted'));
      });
    });
    outcome.catch(() => {});
    return { sink: { kind: 'ingress', node: key }, outcome };
  }

  private newInvocation(req: IngressRequest): {
    id: string;
    processor: PartitionProcessor;
    target: Target;
    retentionMs: number;
  } {
    const svc = this.opts.schema.service(req.target.service);
    const handler = svc?.handlers.find((h) => h.name === req.target.handler);
    const target: Target = { ...req.target, serviceType: svc?.ty, handlerType: handler?.ty };
    let id: string;
    let retentionMs = 0;
    if (target.serviceType === 'WORKFLOW' && target.handlerType === 'WORKFLOW' && target.key !== undefined) {
      id = ids.workflowId(target.service, target.key);
      retentionMs = handler?.workflowCompletionRetentionMs ?? this.opts.defaultWorkflowRetentionMs ?? DAY;
    } else if (req.idempotencyKey !== undefined) {
      id = ids.idempotentId(target.service, target.key, target.handler, req.idempotencyKey);
      retentionMs =
        handler?.idempotencyRetentionMs ??
        svc?.idempotencyRetentionMs ??
        this.opts.defaultIdempotencyRetentionMs ??
        DAY;
    } else {
      id = newInvocationId(targetPartitionKey(target, () => randomBytes(8))).toString();
    }
    return { id, processor: this.processorFor(ids.partitionKeyOfInvocation(id)), target, retentionMs };
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
    const { sink, outcome } = this.wait(signal);
    await this.processorOf(invocationId).append({ kind: 'Attach', ts: Date.now(), invocationId, sink, mode });
    return { invocationId, outcome: await outcome };
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
    const cmd: Command = {
      kind: 'Notify',
      ts: Date.now(),
      invocationId,
      entry: journal.signalNotification({ idx: signalIndex }, result),
      id: { signalId: signalIndex },
    };
    await this.processorOf(invocationId).append(cmd);
  }

  async control(invocationId: string, op: ControlOperation): Promise<InvocationOutcome> {
    checkedId(invocationId);
    const { sink, outcome } = this.wait();
    await this.processorOf(invocationId).append({ kind: 'Control', ts: Date.now(), invocationId, op, sink });
    return outcome;
  }

  /** Unfinished invocations pinned to a deployment, over all partitions (for graceful deployment removal). */
  async pinnedInvocations(deploymentId: string): Promise<number> {
    let n = 0;
    for (const p of this.processors)
      for (const [, raw] of await p.store.scan('i/')) {
        const st = decodeValue<InvocationStatus>(raw);
        if (st.deploymentId === deploymentId && st.phase !== 'completed') n++;
      }
    return n;
  }

  async restartAsNew(invocationId: string): Promise<InvocationOutcome> {
    checkedId(invocationId);
    // Same partition key: the new invocation lives in the same partition, which holds the input to copy.
    const newId = newInvocationId(ids.partitionKeyOfInvocation(invocationId)).toString();
    const { sink, outcome } = this.wait();
    await this.processorOf(invocationId).append({
      kind: 'Control',
      ts: Date.now(),
      invocationId,
      op: 'restart-as-new',
      sink,
      newInvocationId: newId,
    });
    return outcome;
  }

  async call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    const { id, processor, target, retentionMs } = this.newInvocation(req);
    const { sink, outcome } = this.wait(signal);
    await processor.append({
      kind: 'Invoke',
      ts: Date.now(),
      inv: { id, target, input: req.body, headers: req.headers, sink, idempotencyKey: req.idempotencyKey, retentionMs },
    });
    return { invocationId: id, outcome: await outcome };
  }

  async send(req: IngressRequest): Promise<SendReceipt> {
    const { id, processor, target, retentionMs } = this.newInvocation(req);
    const now = Date.now();
    const executionTime = req.delayMs && req.delayMs > 0 ? now + req.delayMs : undefined;
    if (executionTime !== undefined && !(executionTime <= MAX_EXECUTION_TIME_MS))
      throw new InputError(`the delay of ${req.delayMs} ms puts the execution time past the latest supported one`);
    const dedupable = retentionMs > 0;
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
        retentionMs,
        reportSubmit: dedupable,
      },
    });
    return {
      invocationId: id,
      status: (await previously) ? 'PreviouslyAccepted' : 'Accepted',
      ...(executionTime ? { executionTime: new Date(executionTime).toISOString() } : {}),
    };
  }

  get runningInvocations(): number {
    return this.invoker.running;
  }

  async close(): Promise<void> {
    this.invoker.stopAll();
    await Promise.all(this.processors.map((p) => p.close()));
    this.client.close();
    await this.logStore.close();
    await this.storage.close();
  }
}
