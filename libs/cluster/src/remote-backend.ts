import {
  type ControlOperation,
  fanIn,
  type IngressRequest,
  type IntrospectionRow,
  type IntrospectionSource,
  type InvocationBackend,
  type InvocationDescription,
  type InvocationOutcome,
  type InvocationQuery,
  OverloadedError,
  partitionKeyOf,
  partitionOf,
  type RestartOptions,
  type ScanOptions,
  type ScheduleOperation,
  type SendReceipt,
  type StateReplacement,
} from '@stead/core';
import { RetryableError } from './wire.ts';
import type { WorkerClient } from './worker-client.ts';

/** Where partitions are led: the partition table and the node addresses, as last seen. */
export interface LeaderDirectory {
  /** The partition count of the cluster (fixed at its first start). */
  readonly partitions: number;
  /** The worker leading `partition` (its node id and gRPC address), or undefined while it has none. */
  leader(partition: number): { nodeId: string; address: string } | undefined;
  /** Calls `listener` after every change of the table or of the node addresses; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

export interface RemoteBackendOptions {
  leaders: LeaderDirectory;
  /** A client for a worker's address (cached by the caller or here). */
  connect: (address: string) => WorkerClient;
  /**
   * The invocation a request names and the partition key it lives under; for a plain invocation a fresh id, so
   * that a retry (same request object) names the same invocation.
   */
  plan: (req: IngressRequest) => { invocationId: string; partitionKey: bigint };
  /** The partition key of the invocation an attach/output query names. */
  partitionKeyOfQuery: (query: InvocationQuery) => bigint;
  /** The partition key of an invocation id (throws InputError for a malformed one). */
  partitionKeyOfInvocation: (invocationId: string) => bigint;
  /** The partition key of the invocation an awakeable belongs to (throws InputError for a malformed id). */
  partitionKeyOfAwakeable: (awakeableId: string) => bigint;
  /** Give up a request whose partition has no reachable leader for this long (503; default 30 s). */
  unavailableAfterMs?: number;
}

/** A request in flight to a leader: cancelled (and retried on the new one) when the partition's leader changes. */
interface InFlight {
  partition: number;
  nodeId: string;
  abort: AbortController;
}

const RETRY_MIN_MS = 20;
const RETRY_MAX_MS = 250;
/** Partitions an introspection query reads at once (each from its leader). */
const SCAN_PARALLELISM = 4;

/**
 * The engine as an ingress or admin process sees it in a cluster: each request goes over gRPC to the worker that
 * leads its partition. When that worker answers "not the leader", cannot be reached, or is replaced as leader
 * while the request waits (a stopped process never answers), the request is sent again to the new leader. A
 * retry names the same invocation (ids are chosen here, before the first attempt), so it attaches to the
 * invocation the first attempt started instead of starting a second one.
 */
export class RemoteBackend implements InvocationBackend {
  private readonly o: RemoteBackendOptions;
  private readonly inFlight = new Set<InFlight>();
  private readonly changeWaiters = new Set<() => void>();
  private readonly unsubscribe: () => void;
  /** Requests sent again after a failure or a leader change. */
  retries = 0;

  constructor(opts: RemoteBackendOptions) {
    this.o = opts;
    this.unsubscribe = opts.leaders.onChange(() => this.leadersChanged());
  }

  private leadersChanged(): void {
    for (const f of this.inFlight) {
      const now = this.o.leaders.leader(f.partition);
      if (now?.nodeId !== f.nodeId) f.abort.abort(new RetryableError('the partition leader changed', 0));
    }
    const waiters = [...this.changeWaiters];
    this.changeWaiters.clear();
    for (const w of waiters) w();
  }

  /** Resolves on the next change of the directory, after `ms`, or when `signal` aborts. */
  private pause(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.changeWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.changeWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private partitionOfKey(partitionKey: bigint): number {
    return partitionOf(partitionKey, this.o.leaders.partitions);
  }

  /**
   * Runs `op` against the leader of `partition` until it answers with something other than a retryable error;
   * `signal` is the caller's (its abort ends the request with the abort's reason).
   */
  private async forward<T>(
    partition: number,
    op: (client: WorkerClient, signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const giveUpAt = Date.now() + (this.o.unavailableAfterMs ?? 30_000);
    let last = 'no leader is known yet';
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw signal.reason;
      const leader = this.o.leaders.leader(partition);
      if (leader !== undefined) {
        const f: InFlight = { partition, nodeId: leader.nodeId, abort: new AbortController() };
        const onAbort = () => f.abort.abort(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.inFlight.add(f);
        try {
          return await op(this.o.connect(leader.address), f.abort.signal);
        } catch (e) {
          if (signal?.aborted) throw signal.reason;
          if (!(e instanceof RetryableError) && !f.abort.signal.aborted) throw e;
          last = `${leader.nodeId} (${leader.address}): ${(e as Error).message}`;
        } finally {
          this.inFlight.delete(f);
          signal?.removeEventListener('abort', onAbort);
        }
      }
      if (Date.now() >= giveUpAt)
        throw new OverloadedError(`partition ${partition} has no reachable leader: ${last}`, { status: 503 });
      this.retries++;
      await this.pause(Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt), signal);
    }
  }

  private planned(req: IngressRequest): { req: IngressRequest; partition: number } {
    const p = this.o.plan(req);
    return { req: { ...req, invocationId: p.invocationId }, partition: this.partitionOfKey(p.partitionKey) };
  }

  private partitionOfInvocation(invocationId: string): number {
    return this.partitionOfKey(this.o.partitionKeyOfInvocation(invocationId));
  }

  call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    const p = this.planned(req);
    return this.forward(p.partition, (c, s) => c.call(p.req, s), signal);
  }

  send(req: IngressRequest): Promise<SendReceipt> {
    const p = this.planned(req);
    return this.forward(p.partition, (c, s) => c.send(p.req, s));
  }

  attach(
    query: InvocationQuery,
    mode: 'attach' | 'output',
    signal?: AbortSignal,
  ): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    const partition = this.partitionOfKey(this.o.partitionKeyOfQuery(query));
    return this.forward(partition, (c, s) => c.attach(query, mode, s), signal);
  }

  completeAwakeable(
    awakeableId: string,
    result: { value: Uint8Array } | { failure: { code: number; message: string } },
  ): Promise<void> {
    const partition = this.partitionOfKey(this.o.partitionKeyOfAwakeable(awakeableId));
    return this.forward(partition, (c, s) => c.completeAwakeable(awakeableId, result, s));
  }

  control(invocationId: string, op: ControlOperation): Promise<InvocationOutcome> {
    return this.forward(this.partitionOfInvocation(invocationId), (c, s) => c.control(invocationId, op, s));
  }

  restartAsNew(invocationId: string, opts?: RestartOptions): Promise<InvocationOutcome> {
    return this.forward(this.partitionOfInvocation(invocationId), (c, s) => c.restartAsNew(invocationId, opts, s));
  }

  replaceState(req: StateReplacement): Promise<InvocationOutcome> {
    return this.forward(this.partitionOfKey(partitionKeyOf(req.key)), (c, s) => c.replaceState(req, s));
  }

  schedule(partitionKey: bigint, op: ScheduleOperation): Promise<InvocationOutcome> {
    return this.forward(this.partitionOfKey(partitionKey), (c, s) => c.schedule(partitionKey, op, s));
  }

  describe(invocationId: string): Promise<InvocationDescription | undefined> {
    return this.forward(this.partitionOfInvocation(invocationId), (c, s) => c.describe(invocationId, s));
  }

  /** Unfinished invocations pinned to a deployment over all partitions (each leader counts its own). */
  async pinnedInvocations(deploymentId: string): Promise<number> {
    const byAddress = new Map<string, number[]>();
    for (let p = 0; p < this.o.leaders.partitions; p++) {
      const l = this.o.leaders.leader(p);
      if (l === undefined)
        throw new OverloadedError(`partition ${p} has no leader; cannot count its invocations`, { status: 503 });
      byAddress.set(l.address, [...(byAddress.get(l.address) ?? []), p]);
    }
    const counted = new Set<number>();
    let total = 0;
    for (const address of byAddress.keys()) {
      const r = await this.o.connect(address).pinned(deploymentId, 10_000);
      for (const p of r.partitions) counted.add(p);
      total += r.count;
    }
    if (counted.size < this.o.leaders.partitions)
      throw new OverloadedError('leadership changed while counting pinned invocations; retry', { status: 503 });
    return total;
  }

  /**
   * Restate's SQL introspection tables kept in the partitions, read from each partition's leader (Scan, up to
   * SCAN_PARALLELISM partitions at once), with one row limit over all partitions.
   */
  readonly introspection: IntrospectionSource = {
    scan: (table, opts) => this.scanAll(table, opts),
  };

  private scanAll(table: string, opts: ScanOptions): AsyncGenerator<IntrospectionRow[]> {
    const partitions = Array.from({ length: this.o.leaders.partitions }, (_, p) => p);
    return fanIn(
      partitions.map((p) => (signal: AbortSignal) => this.scanPartition(p, table, { ...opts, signal })),
      { parallel: SCAN_PARALLELISM, limit: opts.limit, signal: opts.signal },
    );
  }

  /**
   * One partition's rows from its leader. As `forward`: not the leader, or unreachable, and the scan starts again
   * on the current leader; but only while nothing was read, since a second read could repeat rows: a scan that
   * breaks off later fails the query (503, to be retried).
   */
  private async *scanPartition(
    partition: number,
    table: string,
    opts: ScanOptions & { signal: AbortSignal },
  ): AsyncGenerator<IntrospectionRow[]> {
    const { signal } = opts;
    const giveUpAt = Date.now() + (this.o.unavailableAfterMs ?? 30_000);
    let last = 'no leader is known yet';
    let read = 0;
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      const leader = this.o.leaders.leader(partition);
      if (leader !== undefined) {
        try {
          for await (const rows of this.o.connect(leader.address).scan(partition, table, opts)) {
            read += rows.length;
            yield rows;
          }
          return;
        } catch (e) {
          if (signal.aborted || !(e instanceof RetryableError)) throw e;
          last = `${leader.nodeId} (${leader.address}): ${e.message}`;
          if (read > 0)
            throw new OverloadedError(
              `reading partition ${partition} broke off after ${read} rows (${last}); run the query again`,
              { status: 503 },
            );
        }
      }
      if (Date.now() >= giveUpAt)
        throw new OverloadedError(`partition ${partition} has no reachable leader: ${last}`, { status: 503 });
      this.retries++;
      await this.pause(Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt), signal);
    }
  }

  close(): void {
    this.unsubscribe();
    for (const f of this.inFlight) f.abort.abort(new Error('closing'));
  }
}
