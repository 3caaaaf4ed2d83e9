import * as grpc from '@grpc/grpc-js';
import { logServer as pb } from '@stead/proto';
import {
  authorizePeer,
  type CallWithPeer,
  type GrpcTls,
  grpcChannelCredentials,
  type PeerRule,
  peerOf,
  processGrpcTls,
  type UnaryMethod,
  unaryCall,
} from '@stead/runtime';
import type {
  GetDigestResponse,
  GetRecordsResponse,
  LogletState,
  LogServerApi,
  StoreRequest,
  StoreResponse,
  StoreStatus,
} from '../replicated/types.ts';
import { LogUnavailableError } from '../replicated/types.ts';
import { CHANNEL_OPTIONS, CLIENT_OPTIONS, listenGrpc, type ServingGrpc } from './grpc-common.ts';

const STATUS_TO_PB: Record<StoreStatus, pb.StoreStatus> = {
  ok: pb.StoreStatus.STORE_STATUS_OK,
  sealed: pb.StoreStatus.STORE_STATUS_SEALED,
  trimmed: pb.StoreStatus.STORE_STATUS_TRIMMED,
  malformed: pb.StoreStatus.STORE_STATUS_MALFORMED,
};
const STATUS_FROM_PB = new Map<pb.StoreStatus, StoreStatus>(
  Object.entries(STATUS_TO_PB).map(([k, v]) => [v, k as StoreStatus]),
);

const stateToPb = (s: LogletState): pb.LogletState => ({ ...s });
const stateFromPb = (s: pb.LogletState | undefined): LogletState => ({
  localTail: s?.localTail ?? 0n,
  knownGlobalTail: s?.knownGlobalTail ?? 0n,
  trimPoint: s?.trimPoint ?? 0n,
  sealed: s?.sealed ?? false,
});

class BadRequest extends Error {}

/** A call its peer may not make (see logServerRule). */
class Refused extends Error {
  readonly code: grpc.status;
  constructor(code: grpc.status, details: string) {
    super(details);
    this.code = code;
  }
}

/** The node that sequences a loglet (from its segment in the metadata store), or undefined when none names it. */
export type LogletSequencers = (logletId: string) => Promise<string | undefined>;

/**
 * Who may make a log server call (pure; see authorizePeer for plaintext and non-member peers):
 * - Store of new records: only the loglet's sequencer (`owner`, from its segment in the metadata store; `null`
 *   when the metadata store names none: nobody may, as no loglet takes records before its segment exists).
 *   Without a way to look the owner up (`owner` undefined: a log server without metadata store) a member may.
 * - Store with `repair` (a sealer copying records of a sealed loglet, or a re-replication), Seal and Trim: members.
 * - Reads (GetRecords, GetDigest, WaitForTail, Identify): any peer the listener accepted.
 */
export function logServerRule(
  method: 'store' | 'seal' | 'trim' | 'read',
  req: { logletId: string; repair?: boolean },
  owner: string | null | undefined,
): PeerRule | undefined {
  if (method === 'read') return undefined;
  if (method !== 'store' || req.repair || owner === undefined)
    return { member: true, what: `${method} of loglet ${req.logletId}` };
  if (owner === null)
    return { node: '', what: `store to loglet ${req.logletId} (no segment in the metadata store names its sequencer)` };
  return { node: owner, what: `store to loglet ${req.logletId} (only its sequencer may)` };
}

function storeFromPb(r: pb.StoreRequest): StoreRequest {
  if (!r.logletId) throw new BadRequest('store: loglet id missing');
  if (r.payloads.length === 0) throw new BadRequest('store: no records');
  return {
    logletId: r.logletId,
    firstOffset: r.firstOffset,
    payloads: r.payloads,
    knownGlobalTail: r.knownGlobalTail,
    repair: r.repair,
  };
}

function toStatus(e: unknown): Partial<grpc.StatusObject> {
  if (e instanceof Refused) return { code: e.code, details: e.message };
  if (e instanceof BadRequest) return { code: grpc.status.INVALID_ARGUMENT, details: e.message };
  return { code: grpc.status.UNAVAILABLE, details: `log server: ${(e as Error)?.message ?? String(e)}` };
}

function unary<Req, Res>(fn: (req: Req, call: CallWithPeer) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, cb) => {
    let p: Promise<Res>;
    try {
      p = fn(call.request, call);
    } catch (e) {
      cb(toStatus(e));
      return;
    }
    p.then(
      (v) => cb(null, v),
      (e: unknown) => cb(toStatus(e)),
    );
  };
}

function range(what: string, loglet: string, from: bigint, to: bigint): void {
  if (!loglet) throw new BadRequest(`${what}: loglet id missing`);
  if (from > to) throw new BadRequest(`${what}: from ${from} is above to ${to}`);
}

export type LogServerGrpcServer = ServingGrpc;

/**
 * Serves a log server (core) over gRPC. `close()` ends the calls that stay open by design first (a sequencer's
 * store stream, once the stores it sent are answered; a reader's wait for the tail, with UNAVAILABLE, which its
 * client takes as it takes any log server it cannot reach): a graceful shutdown waits for every open call, and
 * would otherwise wait for these until its deadline (2 s) on every stop of a log server.
 */
export async function serveLogServer(
  core: LogServerApi,
  opts: {
    host: string;
    port: number;
    identity: { nodeId: string; clusterName: string };
    /** gRPC TLS of the listener and mode of the authorisation (default: the process's). */
    tls?: GrpcTls;
    /** Looks up a loglet's sequencer, so that only it may store new records (see logServerRule). */
    sequencers?: LogletSequencers;
  },
): Promise<LogServerGrpcServer> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  const tls = opts.tls ?? processGrpcTls();
  const owners = new Map<string, string | null>();
  const ownerOf = async (logletId: string): Promise<string | null | undefined> => {
    if (!opts.sequencers) return undefined;
    const known = owners.get(logletId);
    if (known) return known;
    const found = (await opts.sequencers(logletId)) ?? null;
    // A loglet's sequencer never changes: remembered once found (a miss is looked up again next time).
    if (found) owners.set(logletId, found);
    return found;
  };
  /** Throws Refused when the peer of `call` may not make it. */
  const check = async (
    call: CallWithPeer,
    method: 'store' | 'seal' | 'trim',
    req: { logletId: string; repair?: boolean },
  ): Promise<void> => {
    if (tls.mode === 'off') return;
    const peer = peerOf(call);
    // Plaintext peers need no owner lookup: authorizePeer decides on the mode alone.
    const owner = peer.secure && method === 'store' && !req.repair ? await ownerOf(req.logletId) : undefined;
    const rule = logServerRule(method, req, peer.secure ? owner : undefined);
    const refused = rule && authorizePeer(tls.mode, peer, rule);
    if (refused) throw new Refused(refused.code, refused.details);
  };
  /** How to end each open store stream and wait for the tail (see above). */
  const open = new Set<() => void>();
  const storeOne = async (r: pb.StoreRequest, call: CallWithPeer): Promise<pb.StoreResponse> => {
    await check(call, 'store', r);
    const res = await core.store(storeFromPb(r));
    return { id: r.id, status: STATUS_TO_PB[res.status], localTail: res.localTail, sealed: res.sealed, error: '' };
  };
  const impl: pb.LogServerServiceServer = {
    storeStream(call) {
      let pending = 0;
      let ending = false;
      const endWhenAnswered = () => {
        if (ending && pending === 0 && call.writable) call.end();
      };
      const end = () => {
        ending = true;
        endWhenAnswered();
      };
      open.add(end);
      call.on('data', (r: pb.StoreRequest) => {
        pending++;
        storeOne(r, call)
          .then(
            (res) => {
              if (!call.cancelled && call.writable) call.write(res);
            },
            (e: unknown) => {
              if (!call.cancelled && call.writable)
                call.write({
                  id: r.id,
                  status: pb.StoreStatus.STORE_STATUS_UNSPECIFIED,
                  localTail: 0n,
                  sealed: false,
                  error: (e as Error)?.message ?? String(e),
                });
            },
          )
          .finally(() => {
            pending--;
            endWhenAnswered();
          });
      });
      call.on('end', () => {
        open.delete(end);
        call.end();
      });
      call.on('error', () => open.delete(end));
      call.on('cancelled', () => open.delete(end));
    },
    store: unary(storeOne),
    getRecords: unary(async (r: pb.GetRecordsRequest): Promise<pb.GetRecordsResponse> => {
      range('get records', r.logletId, r.from, r.to);
      const res = await core.getRecords({
        logletId: r.logletId,
        from: r.from,
        to: r.to,
        maxBytes: r.maxBytes > 0n ? Number(r.maxBytes) : undefined,
      });
      return {
        state: stateToPb(res),
        records: res.records.map((x) => ({ offset: x.offset, payload: Buffer.from(x.payload) })),
        next: res.next,
      };
    }),
    getDigest: unary(async (r: pb.GetDigestRequest): Promise<pb.GetDigestResponse> => {
      range('get digest', r.logletId, r.from, r.to);
      const res = await core.getDigest({ logletId: r.logletId, from: r.from, to: r.to });
      return { state: stateToPb(res), offsets: res.offsets };
    }),
    waitForTail: (call, cb) => {
      if (!call.request.logletId) {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: 'wait for tail: loglet id missing' });
        return;
      }
      const ac = new AbortController();
      const end = () => ac.abort(new Error('shutting down'));
      open.add(end);
      call.on('cancelled', () => ac.abort());
      core
        .waitForTail({ logletId: call.request.logletId, above: call.request.above }, ac.signal)
        .then(
          (s) => cb(null, stateToPb(s)),
          (e: unknown) => cb(toStatus(e)),
        )
        .finally(() => open.delete(end));
    },
    seal: unary(async (r: pb.SealRequest, call) => {
      if (!r.logletId) throw new BadRequest('seal: loglet id missing');
      await check(call, 'seal', r);
      return stateToPb(await core.seal({ logletId: r.logletId }));
    }),
    trim: unary(async (r: pb.TrimRequest, call) => {
      if (!r.logletId) throw new BadRequest('trim: loglet id missing');
      await check(call, 'trim', r);
      return stateToPb(await core.trim({ logletId: r.logletId, upTo: r.upTo }));
    }),
    identify: unary(async () => ({ ...opts.identity })),
  };
  server.addService(pb.LogServerServiceService, impl);
  const serving = await listenGrpc(server, opts.host, opts.port, undefined, tls);
  return {
    port: serving.port,
    close: () => {
      for (const end of [...open]) end();
      return serving.close();
    },
  };
}

/**
 * A log server reached over gRPC. Stores share one bidirectional stream (pipelined, answered by id); a broken
 * stream fails its in-flight stores with LogUnavailableError and the next store opens a new one.
 */
export class GrpcLogServerClient implements LogServerApi {
  private readonly client: pb.LogServerServiceClient;
  private readonly timeoutMs: number;
  private stream: grpc.ClientDuplexStream<pb.StoreRequest, pb.StoreResponse> | undefined;
  private readonly inflight = new Map<bigint, { resolve: (r: StoreResponse) => void; reject: (e: unknown) => void }>();
  private nextId = 1n;

  constructor(address: string, opts: { timeoutMs?: number; tls?: GrpcTls } = {}) {
    this.client = new pb.LogServerServiceClient(address, grpcChannelCredentials(opts.tls), CLIENT_OPTIONS);
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  private openStream(): grpc.ClientDuplexStream<pb.StoreRequest, pb.StoreResponse> {
    if (this.stream) return this.stream;
    const s = this.client.storeStream();
    this.stream = s;
    s.on('data', (r: pb.StoreResponse) => {
      const w = this.inflight.get(r.id);
      if (!w) return;
      this.inflight.delete(r.id);
      const status = STATUS_FROM_PB.get(r.status);
      if (!status) w.reject(new LogUnavailableError(`log server store failed: ${r.error || 'no status'}`));
      else w.resolve({ status, localTail: r.localTail, sealed: r.sealed });
    });
    const broken = (why: string) => {
      if (this.stream !== s) return;
      this.stream = undefined;
      const waiting = [...this.inflight.values()];
      this.inflight.clear();
      for (const w of waiting) w.reject(new LogUnavailableError(`log server stream broke: ${why}`));
    };
    s.on('error', (e: Error) => broken(e.message));
    s.on('end', () => broken('closed by the server'));
    s.on('close', () => broken('closed'));
    return s;
  }

  store(req: StoreRequest): Promise<StoreResponse> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.inflight.set(id, { resolve, reject });
      try {
        this.openStream().write({
          id,
          logletId: req.logletId,
          firstOffset: req.firstOffset,
          payloads: req.payloads.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)),
          knownGlobalTail: req.knownGlobalTail,
          repair: req.repair ?? false,
        });
      } catch (e) {
        this.inflight.delete(id);
        reject(new LogUnavailableError(`log server: ${(e as Error).message}`));
      }
    });
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, req: Req, signal?: AbortSignal, deadline = true): Promise<Res> {
    return unaryCall(method, req, {
      client: this.client,
      deadline: deadline ? Date.now() + this.timeoutMs : undefined,
      signal,
      mapError: (e) =>
        e.code === grpc.status.INVALID_ARGUMENT
          ? new Error(`log server refused the request: ${e.details}`)
          : new LogUnavailableError(`log server: ${e.details || e.message}`),
    });
  }

  async getRecords(req: {
    logletId: string;
    from: bigint;
    to: bigint;
    maxBytes?: number;
  }): Promise<GetRecordsResponse> {
    const r = await this.call(this.client.getRecords, {
      logletId: req.logletId,
      from: req.from,
      to: req.to,
      maxBytes: BigInt(req.maxBytes ?? 0),
    });
    return {
      ...stateFromPb(r.state),
      records: r.records.map((x) => ({ offset: x.offset, payload: x.payload })),
      next: r.next,
    };
  }

  async getDigest(req: { logletId: string; from: bigint; to: bigint }): Promise<GetDigestResponse> {
    const r = await this.call(this.client.getDigest, req);
    return { ...stateFromPb(r.state), offsets: r.offsets };
  }

  async waitForTail(req: { logletId: string; above: bigint }, signal?: AbortSignal): Promise<LogletState> {
    return stateFromPb(await this.call(this.client.waitForTail, req, signal, false));
  }

  async seal(req: { logletId: string }): Promise<LogletState> {
    return stateFromPb(await this.call(this.client.seal, req));
  }

  async trim(req: { logletId: string; upTo: bigint }): Promise<LogletState> {
    return stateFromPb(await this.call(this.client.trim, req));
  }

  async identify(): Promise<{ nodeId: string; clusterName: string }> {
    return this.call(this.client.identify, {});
  }

  close(): void {
    this.stream?.end();
    this.client.close();
  }
}
