import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type IngressBackend,
  type IngressRequest,
  type InvocationOutcome,
  newInvocationId,
  parseInvocationId,
  partitionKeyOf,
  partitionOf,
  type SchemaView,
  type SendReceipt,
} from '@stead/core';
import { InvocationStreamClient } from '@stead/invoker';
import { LocalLogStore } from '@stead/log';
import { StorageEngine } from '@stead/storage';
import { InvokerDriver, type RetryPolicy } from './invoker-driver.ts';
import { PartitionLeader } from './leader.ts';
import { PartitionProcessor } from './processor.ts';
import type { Target } from './types.ts';

export type Logger = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface EngineOptions {
  dataDir: string;
  partitions: number;
  schema: SchemaView;
  retry: RetryPolicy;
  inactivityTimeoutMs: number;
  abortTimeoutMs: number;
  log: Logger;
  /** Called when a partition's apply loop fails (the process should exit; it recovers from the log). */
  onFatal: (err: unknown) => void;
}

const MIN_PROTOCOL = 5;
const MAX_PROTOCOL = 6;

/** Partition key of an invocation target: the key's hash for keyed targets, else random. */
function targetPartitionKey(target: { key?: string }, random: () => Uint8Array): bigint {
  if (target.key !== undefined) return partitionKeyOf(target.key);
  return Buffer.from(random()).readBigUInt64BE(0);
}

/** Ids of invocations started by handlers: a pure function of parent and journal index (replay-safe). */
export function childInvocationId(parentId: string, journalIndex: number, target: Target): string {
  const seed = createHash('sha256').update(`${parentId}/${journalIndex}`).digest();
  const pk = targetPartitionKey(target, () => seed.subarray(16, 24));
  return newInvocationId(pk, () => new Uint8Array(seed.subarray(0, 16))).toString();
}

/**
 * The one-process engine: N partitions, each a log (local loglet) followed by a processor that applies
 * it to the partition store, led by this process. Implements what the ingress needs.
 */
export class Engine implements IngressBackend {
  private readonly opts: EngineOptions;
  private readonly logStore: LocalLogStore;
  private readonly storage: StorageEngine;
  readonly processors: PartitionProcessor[];
  private readonly leaders: PartitionLeader[];
  private readonly invoker: InvokerDriver;
  private readonly client: InvocationStreamClient;
  private readonly waiters = new Map<string, ((o: InvocationOutcome) => void)[]>();

  private constructor(opts: EngineOptions, logStore: LocalLogStore, storage: StorageEngine) {
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
        loglet: logStore.loglet(p),
        store: storage.partition(p),
        partitionKeyOfInvocation: (id) => parseInvocationId(id).partitionKey,
        childId: childInvocationId,
        onFatal: opts.onFatal,
      });
      this.processors.push(processor);
      this.leaders.push(
        new PartitionLeader({
          processor,
          route: (pk) => this.processors[partitionOf(pk, opts.partitions)],
          respond: (id, outcome) => this.deliver(id, outcome),
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
    const engine = new Engine(opts, logStore, storage);
    const epoch = Date.now();
    await Promise.all(engine.processors.map((p, i) => p.start(epoch, engine.leaders[i])));
    // Wait until every partition has replayed its log and leads.
    await Promise.all(engine.processors.map((p) => p.whenLeading()));
    return engine;
  }

  private processorFor(partitionKey: bigint): PartitionProcessor {
    return this.processors[partitionOf(partitionKey, this.opts.partitions)];
  }

  private deliver(invocationId: string, outcome: InvocationOutcome): void {
    const ws = this.waiters.get(invocationId);
    if (!ws) return;
    this.waiters.delete(invocationId);
    for (const w of ws) w(outcome);
  }

  private newInvocation(req: IngressRequest): { id: string; processor: PartitionProcessor; target: Target } {
    const svc = this.opts.schema.service(req.target.service);
    const target: Target = { ...req.target, serviceType: svc?.ty };
    const pk = targetPartitionKey(target, () => randomBytes(8));
    const id = newInvocationId(pk).toString();
    return { id, processor: this.processorFor(pk), target };
  }

  async call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    const { id, processor, target } = this.newInvocation(req);
    const outcome = new Promise<InvocationOutcome>((resolve, reject) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
      signal?.addEventListener('abort', () => {
        this.waiters.delete(id);
        reject(signal.reason ?? new Error('aborted'));
      });
    });
    await processor.append({
      kind: 'Invoke',
      ts: Date.now(),
      inv: { id, target, input: req.body, headers: req.headers, sink: { kind: 'ingress', node: 'local' } },
    });
    return { invocationId: id, outcome: await outcome };
  }

  async send(req: IngressRequest): Promise<SendReceipt> {
    const { id, processor, target } = this.newInvocation(req);
    const now = Date.now();
    const executionTime = req.delayMs && req.delayMs > 0 ? now + req.delayMs : undefined;
    await processor.append({
      kind: 'Invoke',
      ts: now,
      inv: { id, target, input: req.body, headers: req.headers, executionTime },
    });
    return {
      invocationId: id,
      status: 'Accepted',
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
