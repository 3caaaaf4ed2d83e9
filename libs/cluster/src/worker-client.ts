import type * as grpc from '@grpc/grpc-js';
import type {
  ControlOperation,
  IngressRequest,
  IntrospectionRow,
  InvocationDescription,
  InvocationOutcome,
  InvocationQuery,
  RestartOptions,
  ScanOptions,
  ScheduleOperation,
  SendReceipt,
  StateReplacement,
} from '@stead/core';
import { worker as pb } from '@stead/proto';
import { GRPC_CLIENT_OPTIONS, type GrpcTls, grpcChannelCredentials, type UnaryMethod, unaryCall } from '@stead/runtime';
import {
  fromStatus,
  outcomeFrom,
  queryTo,
  replacementTo,
  requestTo,
  scanBatchFrom,
  scheduleRequestTo,
} from './wire.ts';
import { type SnapshotsAnswer, snapshotsFrom } from './worker-service.ts';

type Awakeable = { value: Uint8Array } | { failure: { code: number; message: string } };

/** A worker's node API reached over gRPC; every method takes an optional signal that cancels the call. */
export class WorkerClient {
  readonly address: string;
  private readonly client: pb.WorkerServiceClient;

  constructor(address: string, opts: { tls?: GrpcTls } = {}) {
    this.address = address;
    this.client = new pb.WorkerServiceClient(address, grpcChannelCredentials(opts.tls), GRPC_CLIENT_OPTIONS);
  }

  private unary<Req, Res>(
    method: UnaryMethod<Req, Res>,
    req: Req,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<Res> {
    return unaryCall(method, req, {
      client: this.client,
      signal: opts.signal,
      deadline: opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs,
      mapError: fromStatus,
    });
  }

  async call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    const r = await this.unary(this.client.call, requestTo(req), { signal });
    return { invocationId: r.invocationId, outcome: outcomeFrom(r.outcome) };
  }

  async send(req: IngressRequest, signal?: AbortSignal): Promise<SendReceipt> {
    const r = await this.unary(this.client.send, requestTo(req), { signal });
    const receipt: SendReceipt = {
      invocationId: r.invocationId,
      status: r.previouslyAccepted ? 'PreviouslyAccepted' : 'Accepted',
    };
    if (r.executionTime !== undefined) receipt.executionTime = r.executionTime;
    return receipt;
  }

  async attach(
    query: InvocationQuery,
    mode: 'attach' | 'output',
    signal?: AbortSignal,
  ): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    const r = await this.unary(this.client.attach, queryTo(query, mode), { signal });
    return { invocationId: r.invocationId, outcome: outcomeFrom(r.outcome) };
  }

  async completeAwakeable(awakeableId: string, result: Awakeable, signal?: AbortSignal): Promise<void> {
    const r: pb.CompleteAwakeableRequest =
      'value' in result
        ? { awakeableId, result: { $case: 'value', value: Buffer.from(result.value) } }
        : { awakeableId, result: { $case: 'failure', value: { ...result.failure, metadata: {} } } };
    await this.unary(this.client.completeAwakeable, r, { signal });
  }

  async control(invocationId: string, op: ControlOperation, signal?: AbortSignal): Promise<InvocationOutcome> {
    return outcomeFrom(await this.unary(this.client.control, { invocationId, operation: op }, { signal }));
  }

  async restartAsNew(
    invocationId: string,
    opts: RestartOptions = {},
    signal?: AbortSignal,
  ): Promise<InvocationOutcome> {
    const d = opts.deployment;
    // On the wire: '' not given or latest (the same when from > 0), 'keep', or a deployment id (never 'keep').
    const deployment = d === undefined || d === 'latest' ? '' : d === 'keep' ? 'keep' : d.id;
    const req = { invocationId, from: opts.from, deployment };
    return outcomeFrom(await this.unary(this.client.restartAsNew, req, { signal }));
  }

  async replaceState(req: StateReplacement, signal?: AbortSignal): Promise<InvocationOutcome> {
    return outcomeFrom(await this.unary(this.client.replaceState, replacementTo(req), { signal }));
  }

  async schedule(partitionKey: bigint, op: ScheduleOperation, signal?: AbortSignal): Promise<InvocationOutcome> {
    return outcomeFrom(await this.unary(this.client.schedule, scheduleRequestTo(partitionKey, op), { signal }));
  }

  async describe(invocationId: string, signal?: AbortSignal): Promise<InvocationDescription | undefined> {
    const r = await this.unary(this.client.describe, { invocationId }, { signal });
    return r.json === undefined ? undefined : (JSON.parse(r.json) as InvocationDescription);
  }

  async pinned(deploymentId: string, timeoutMs: number): Promise<{ count: number; partitions: number[] }> {
    const r = await this.unary(this.client.pinnedInvocations, { deploymentId }, { timeoutMs });
    return { count: Number(r.count), partitions: r.partitions };
  }

  ping(timeoutMs: number, signal?: AbortSignal): Promise<pb.PingResponse> {
    return this.unary(this.client.ping, {}, { timeoutMs, signal });
  }

  async createSnapshots(partitions: number[], timeoutMs: number): Promise<SnapshotsAnswer> {
    return snapshotsFrom(await this.unary(this.client.createSnapshots, { partitions }, { timeoutMs }));
  }

  async listSnapshots(partitions: number[], timeoutMs: number): Promise<SnapshotsAnswer> {
    return snapshotsFrom(await this.unary(this.client.listSnapshots, { partitions }, { timeoutMs }));
  }

  /**
   * The rows of introspection table `table` in `partition`, which this worker must lead (else RetryableError),
   * at most `opts.limit`, in the worker's batches, with at least `opts.columns` (all when absent). The call is
   * cancelled when `opts.signal` aborts (the iteration then rejects with its reason) or when the caller stops
   * iterating early.
   */
  async *scan(partition: number, table: string, opts: ScanOptions): AsyncGenerator<IntrospectionRow[]> {
    const { limit, signal } = opts;
    signal?.throwIfAborted();
    // No limit (Infinity) is sent as the largest one.
    const max = Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : Number.MAX_SAFE_INTEGER;
    const columns = opts.columns === undefined ? [] : [...opts.columns];
    const stream = this.client.scan({ table, partition, limit: BigInt(max), columns });
    const cancel = () => stream.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const batch of stream as AsyncIterable<pb.ScanBatch>) yield scanBatchFrom(table, batch);
    } catch (e) {
      signal?.throwIfAborted();
      // A gRPC status (the worker's error) maps to the engine's; a batch that does not decode stays as it is.
      throw typeof (e as grpc.ServiceError).code === 'number' ? fromStatus(e as grpc.ServiceError) : e;
    } finally {
      signal?.removeEventListener('abort', cancel);
      stream.cancel();
    }
  }

  close(): void {
    this.client.close();
  }
}

/** One client per worker address, shared by everything in a process that talks to workers. */
export class WorkerClients {
  private readonly clients = new Map<string, WorkerClient>();

  get(address: string): WorkerClient {
    let c = this.clients.get(address);
    if (!c) {
      c = new WorkerClient(address);
      this.clients.set(address, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
