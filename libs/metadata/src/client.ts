import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { metadata as pb } from '@stead/proto';
import { type GrpcTls, grpcChannelCredentials, type UnaryMethod, unaryCall } from '@stead/runtime';
import { isRetryable, MetadataError } from './errors.ts';
import { fromGrpcError, GRPC_MAX_MESSAGE_BYTES } from './grpc.ts';
import type { MetadataNode, RequestIdentity } from './node.ts';
import { type ChangeEvent, type Precondition, toPbPrecondition, type VersionedValue } from './state.ts';

export interface WatchHandle {
  close(): void;
}

/**
 * The metadata store as its users see it. Versions are positive integers that grow with every write of a key
 * (also across deletions). Errors are {@link MetadataError}s: `precondition-failed` (with `currentVersion`),
 * `invalid-argument`, `unavailable`, `unknown-outcome` (only after all retries), `closed`.
 */
export interface MetadataClient {
  /** Linearizable read; undefined when the key holds no value. */
  get(key: string): Promise<VersionedValue | undefined>;
  /** Stores `value` if `precondition` holds (default: always); returns the new version. */
  put(key: string, value: Uint8Array, precondition?: Precondition): Promise<number>;
  /** Deletes the value if `precondition` holds; returns whether there was one. */
  delete(key: string, precondition?: Precondition): Promise<boolean>;
  /**
   * Calls `onEvent` with the value of `key` whenever it changes, starting with the current value if its version
   * is above `fromVersion`. Survives member failures (resumes from the last version seen).
   */
  watch(key: string, fromVersion: number, onEvent: (e: ChangeEvent) => void): WatchHandle;
  close(): Promise<void>;
}

/** Hands out request ids: a client id, increasing sequence numbers, and the lowest still unanswered. */
class RequestIds {
  readonly clientId = randomUUID();
  private seq = 0;
  private readonly open = new Set<number>();
  next(): RequestIdentity & { done: () => void } {
    const seq = ++this.seq;
    this.open.add(seq);
    let lowest = seq;
    for (const s of this.open) if (s < lowest) lowest = s;
    return { clientId: this.clientId, seq, ackedBelow: lowest, done: () => this.open.delete(seq) };
  }
}

/** In-process client of a local member (the one-process server's single-member store). */
export class LocalMetadataClient implements MetadataClient {
  private readonly node: MetadataNode;
  private readonly ids = new RequestIds();
  private readonly timeoutMs: number;
  constructor(node: MetadataNode, opts: { timeoutMs?: number } = {}) {
    this.node = node;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  private async retry<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    let delay = 10;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!isRetryable(e) || Date.now() + delay > deadline) throw e;
        if ((e as MetadataError).code !== 'unknown-outcome')
          await this.node.waitForLeader(Math.max(deadline - Date.now(), 1)).catch(() => {});
        await sleep(delay);
        delay = Math.min(delay * 2, 200);
      }
    }
  }

  get(key: string): Promise<VersionedValue | undefined> {
    return this.retry(() => this.node.get(key));
  }
  async put(key: string, value: Uint8Array, precondition?: Precondition): Promise<number> {
    const rid = this.ids.next();
    try {
      return (await this.retry(() => this.node.put(key, value, precondition, rid))).version;
    } finally {
      rid.done();
    }
  }
  async delete(key: string, precondition?: Precondition): Promise<boolean> {
    const rid = this.ids.next();
    try {
      return (await this.retry(() => this.node.delete(key, precondition, rid))).existed;
    } finally {
      rid.done();
    }
  }
  watch(key: string, fromVersion: number, onEvent: (e: ChangeEvent) => void): WatchHandle {
    const stop = this.node.watch(key, fromVersion, onEvent);
    return { close: stop };
  }
  async close(): Promise<void> {}
}

export interface GrpcMetadataClientOptions {
  /** `host:port` of some members (the client finds the leader and learns new members from redirects). */
  readonly addresses: readonly string[];
  /** Total time one operation may take, retries included (default 10 s). */
  readonly timeoutMs?: number;
  /** Time one attempt may take before trying elsewhere (default 2 s). */
  readonly attemptTimeoutMs?: number;
  /** gRPC TLS of the connections (default: the process's). */
  readonly tls?: GrpcTls;
}

/** gRPC client: finds the leader, retries with the same request id (so a retried write applies once). */
export class GrpcMetadataClient implements MetadataClient {
  private readonly clients = new Map<string, pb.MetadataServiceClient>();
  private readonly addresses: string[];
  private leader: string | undefined;
  private next = 0;
  private readonly ids = new RequestIds();
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private closed = false;
  private readonly watches = new Set<() => void>();
  private readonly tls: GrpcTls | undefined;

  constructor(opts: GrpcMetadataClientOptions) {
    this.tls = opts.tls;
    if (opts.addresses.length === 0) throw new MetadataError('invalid-argument', 'no metadata store addresses given');
    this.addresses = [...opts.addresses];
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 2_000;
  }

  private client(addr: string): pb.MetadataServiceClient {
    let c = this.clients.get(addr);
    if (!c) {
      c = new pb.MetadataServiceClient(addr, grpcChannelCredentials(this.tls), {
        'grpc.max_receive_message_length': GRPC_MAX_MESSAGE_BYTES,
        'grpc.max_send_message_length': GRPC_MAX_MESSAGE_BYTES,
        'grpc.initial_reconnect_backoff_ms': 50,
        'grpc.max_reconnect_backoff_ms': 500,
      });
      this.clients.set(addr, c);
    }
    return c;
  }

  private pick(): string {
    if (this.leader) return this.leader;
    const a = this.addresses[this.next % this.addresses.length];
    return a;
  }

  /** Runs one RPC with leader discovery and retries. */
  private async call<Req, Res>(
    invoke: (c: pb.MetadataServiceClient, ...call: Parameters<UnaryMethod<Req, Res>>) => unknown,
    req: Req,
  ): Promise<Res> {
    const deadline = Date.now() + this.timeoutMs;
    let delay = 20;
    let last: MetadataError | undefined;
    for (;;) {
      if (this.closed) throw new MetadataError('closed', 'client is closed');
      const addr = this.pick();
      try {
        return await unaryCall<Req, Res>((...call) => invoke(this.client(addr), ...call), req, {
          deadline: Math.min(deadline, Date.now() + this.attemptTimeoutMs),
          mapError: fromGrpcError,
        });
      } catch (e) {
        const err = e as MetadataError;
        last = err;
        if (!isRetryable(err)) throw err;
        if (err.code === 'not-leader' && err.leaderAddress && err.leaderAddress !== addr) {
          this.leader = err.leaderAddress;
          if (!this.addresses.includes(err.leaderAddress)) this.addresses.push(err.leaderAddress);
          continue; // straight to the leader
        }
        this.leader = undefined;
        this.next++;
        if (Date.now() + delay >= deadline) {
          throw new MetadataError(
            err.code === 'unknown-outcome' ? 'unknown-outcome' : 'unavailable',
            `${err.message} (gave up after ${this.timeoutMs} ms)`,
          );
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 250);
      }
      void last;
    }
  }

  async get(key: string): Promise<VersionedValue | undefined> {
    try {
      const r = await this.call<pb.GetRequest, pb.GetResponse>((c, q, m, o, cb) => c.get(q, m, o, cb), {
        key,
        allowStale: false,
      });
      return { value: new Uint8Array(r.value), version: Number(r.version) };
    } catch (e) {
      if (e instanceof MetadataError && e.code === 'not-found') return undefined;
      throw e;
    }
  }

  async put(key: string, value: Uint8Array, precondition?: Precondition): Promise<number> {
    const rid = this.ids.next();
    try {
      const r = await this.call<pb.PutRequest, pb.PutResponse>((c, q, m, o, cb) => c.put(q, m, o, cb), {
        key,
        value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
        precondition: toPbPrecondition(precondition),
        requestId: { clientId: rid.clientId, seq: BigInt(rid.seq), ackedBelow: BigInt(rid.ackedBelow) },
      });
      return Number(r.version);
    } finally {
      rid.done();
    }
  }

  async delete(key: string, precondition?: Precondition): Promise<boolean> {
    const rid = this.ids.next();
    try {
      const r = await this.call<pb.DeleteRequest, pb.DeleteResponse>((c, q, m, o, cb) => c.delete(q, m, o, cb), {
        key,
        precondition: toPbPrecondition(precondition),
        requestId: { clientId: rid.clientId, seq: BigInt(rid.seq), ackedBelow: BigInt(rid.ackedBelow) },
      });
      return r.existed;
    } finally {
      rid.done();
    }
  }

  /** Cluster status as seen by the member at `address` (default: the current leader or first address). */
  async status(address?: string): Promise<pb.StatusResponse> {
    if (address) {
      return new Promise((resolve, reject) =>
        this.client(address).status(
          {},
          new grpc.Metadata(),
          { deadline: Date.now() + this.attemptTimeoutMs },
          (e, r) => (e ? reject(fromGrpcError(e)) : resolve(r)),
        ),
      );
    }
    return this.call<pb.StatusRequest, pb.StatusResponse>((c, q, m, o, cb) => c.status(q, m, o, cb), {});
  }

  async addMember(nodeId: string, address: string): Promise<pb.Member[]> {
    const r = await this.call<pb.AddMemberRequest, pb.MembershipResponse>(
      (c, q, m, o, cb) => c.addMember(q, m, o, cb),
      {
        nodeId,
        address,
      },
    );
    if (!this.addresses.includes(address)) this.addresses.push(address);
    return r.members;
  }

  async removeMember(nodeId: string): Promise<pb.Member[]> {
    const r = await this.call<pb.RemoveMemberRequest, pb.MembershipResponse>(
      (c, q, m, o, cb) => c.removeMember(q, m, o, cb),
      { nodeId },
    );
    return r.members;
  }

  async transferLeadership(nodeId = ''): Promise<pb.StatusResponse> {
    return this.call<pb.TransferLeadershipRequest, pb.StatusResponse>(
      (c, q, m, o, cb) => c.transferLeadership(q, m, o, cb),
      { nodeId },
    );
  }

  watch(key: string, fromVersion: number, onEvent: (e: ChangeEvent) => void): WatchHandle {
    let last = fromVersion;
    let lastDeleted = false;
    let stopped = false;
    let stream: grpc.ClientReadableStream<pb.WatchEvent> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let attempt = 0;
    const open = () => {
      if (stopped || this.closed) return;
      const addr = this.pick();
      const s = this.client(addr).watch({ key, fromVersion: BigInt(last) });
      stream = s;
      s.on('data', (e: pb.WatchEvent) => {
        attempt = 0;
        const version = Number(e.version);
        if (e.deleted) {
          if (lastDeleted) return;
          lastDeleted = true;
          last = Math.max(last, version);
        } else {
          if (version <= last && !lastDeleted) return;
          lastDeleted = false;
          last = version;
        }
        onEvent({ key: e.key, deleted: e.deleted, value: new Uint8Array(e.value), version });
      });
      const retry = () => {
        if (stopped || stream !== s) return;
        stream = undefined;
        this.next++;
        this.leader = undefined;
        const delay = Math.min(50 * 2 ** attempt++, 1000);
        timer = setTimeout(open, delay);
      };
      s.on('error', (e: grpc.ServiceError) => {
        if (e.code === grpc.status.INVALID_ARGUMENT) {
          stopped = true;
          return;
        }
        retry();
      });
      s.on('end', retry);
    };
    open();
    const close = () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      stream?.cancel();
      this.watches.delete(close);
    };
    this.watches.add(close);
    return { close };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.watches]) w();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
