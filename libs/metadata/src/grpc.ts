import * as grpc from '@grpc/grpc-js';
import { metadata as pb } from '@stead/proto';
import type { Member, Message } from '@stead/raft';
import {
  authorizePeer,
  type CallWithPeer,
  type GrpcTls,
  grpcChannelCredentials,
  listenGrpc,
  type PeerRule,
  peerOf,
  processGrpcTls,
} from '@stead/runtime';
import { memberToPb, messageFromPb, messageToPb } from './codec.ts';
import { MetadataError, type MetadataErrorCode } from './errors.ts';
import { type Logger, silentLogger } from './log.ts';
import type { MetadataNode, RaftTransport } from './node.ts';
import { fromPbPrecondition } from './state.ts';

export const GRPC_MAX_MESSAGE_BYTES = 64 << 20;

export const TRAILER_LEADER_ID = 'stead-leader-id';
export const TRAILER_LEADER_ADDRESS = 'stead-leader-address';
export const TRAILER_CURRENT_VERSION = 'stead-current-version';
export const TRAILER_ERROR_CODE = 'stead-error';

const CODES: Record<MetadataErrorCode, grpc.status> = {
  'not-found': grpc.status.NOT_FOUND,
  'precondition-failed': grpc.status.FAILED_PRECONDITION,
  'invalid-argument': grpc.status.INVALID_ARGUMENT,
  'not-leader': grpc.status.UNAVAILABLE,
  unavailable: grpc.status.UNAVAILABLE,
  'unknown-outcome': grpc.status.ABORTED,
  'data-dir-mismatch': grpc.status.FAILED_PRECONDITION,
  'permission-denied': grpc.status.PERMISSION_DENIED,
  closed: grpc.status.UNAVAILABLE,
};

/** Turns an error into a gRPC status with trailers the client understands. */
export function toGrpcError(e: unknown): Partial<grpc.StatusObject> {
  const md = new grpc.Metadata();
  if (e instanceof MetadataError) {
    md.set(TRAILER_ERROR_CODE, e.code);
    if (e.leaderId) md.set(TRAILER_LEADER_ID, e.leaderId);
    if (e.leaderAddress) md.set(TRAILER_LEADER_ADDRESS, e.leaderAddress);
    if (e.code === 'precondition-failed') md.set(TRAILER_CURRENT_VERSION, String(e.currentVersion));
    return { code: CODES[e.code], details: e.message, metadata: md };
  }
  return { code: grpc.status.INTERNAL, details: `internal error: ${(e as Error)?.message ?? String(e)}`, metadata: md };
}

/** Turns a gRPC error back into a MetadataError. */
export function fromGrpcError(e: grpc.ServiceError): MetadataError {
  const get = (k: string) => {
    const v = e.metadata?.get(k)?.[0];
    return v === undefined ? '' : String(v);
  };
  const code = get(TRAILER_ERROR_CODE) as MetadataErrorCode | '';
  const extra = {
    leaderId: get(TRAILER_LEADER_ID),
    leaderAddress: get(TRAILER_LEADER_ADDRESS),
    currentVersion: Number(get(TRAILER_CURRENT_VERSION) || 0),
  };
  const details = e.details || e.message;
  if (code) return new MetadataError(code, details, extra);
  switch (e.code) {
    case grpc.status.NOT_FOUND:
      return new MetadataError('not-found', details);
    case grpc.status.FAILED_PRECONDITION:
      return new MetadataError('precondition-failed', details, extra);
    case grpc.status.INVALID_ARGUMENT:
      return new MetadataError('invalid-argument', details);
    case grpc.status.ABORTED:
      return new MetadataError('unknown-outcome', details);
    case grpc.status.PERMISSION_DENIED:
    case grpc.status.UNAUTHENTICATED:
      return new MetadataError('permission-denied', details);
    case grpc.status.DEADLINE_EXCEEDED:
    case grpc.status.CANCELLED:
      return new MetadataError('unknown-outcome', details);
    default:
      return new MetadataError('unavailable', details, extra);
  }
}

const MALFORMED = Symbol('malformed');
type Malformed = { [MALFORMED]: string };

/** A copy of a generated service definition whose request decoding never throws (so handlers can say why). */
function tolerant<T extends grpc.ServiceDefinition>(def: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    out[name] = {
      ...m,
      requestDeserialize: (buf: Buffer) => {
        try {
          return m.requestDeserialize(buf);
        } catch (e) {
          return { [MALFORMED]: (e as Error).message } satisfies Malformed;
        }
      },
    };
  }
  return out as T;
}

function malformed(req: unknown): string | undefined {
  return req && typeof req === 'object' && MALFORMED in req ? (req as Malformed)[MALFORMED] : undefined;
}

/** Who may make a call (undefined = any peer the listener took): see {@link metadataRule}. */
type Guard = (req: unknown, call: CallWithPeer) => Partial<grpc.StatusObject> | undefined;

function unary<Req, Res>(
  fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  guard?: Guard,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const bad = malformed(call.request);
    if (bad !== undefined) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: `malformed request payload: ${bad}` });
      return;
    }
    const refused = guard?.(call.request, call);
    if (refused) {
      callback(refused);
      return;
    }
    fn(call.request, call).then(
      (res) => callback(null, res),
      (e) => callback(toGrpcError(e)),
    );
  };
}

function statusToPb(node: MetadataNode): pb.StatusResponse {
  const s = node.status();
  return {
    nodeId: s.nodeId,
    clusterName: s.clusterName,
    role: s.role,
    term: BigInt(s.term),
    leaderId: s.leaderId,
    leaderAddress: s.leaderAddress,
    commitIndex: BigInt(s.commitIndex),
    appliedIndex: BigInt(s.appliedIndex),
    clusterId: s.clusterId,
    members: s.members.map(memberToPb),
    lastIndex: BigInt(s.lastIndex),
    snapshotIndex: BigInt(s.snapshotIndex),
  };
}

function ridOf(r: pb.RequestId | undefined) {
  if (!r || !r.clientId) return undefined;
  return { clientId: r.clientId, seq: Number(r.seq), ackedBelow: Number(r.ackedBelow) };
}

/** The metadata service's calls that change the store or its membership: cluster members only. */
const MEMBER_CALLS = new Set(['put', 'delete', 'addMember', 'removeMember', 'transferLeadership']);

/**
 * Who may make a call of the metadata or Raft service (a pure function of the call and its request; see
 * authorizePeer for how plaintext and non-member peers fare): writes, deletes and membership changes need a
 * member certificate; Raft traffic needs the certificate of the node it says it comes from (`from`), so that
 * only that Raft member speaks as it; reads (get, watch, status) take any peer the listener accepted.
 */
export function metadataRule(method: string, req: unknown): PeerRule | undefined {
  if (method === 'raft.send') return { node: (req as { from?: string }).from ?? '', what: 'raft messages' };
  if (MEMBER_CALLS.has(method)) return { member: true, what: `metadata ${method}` };
  return undefined;
}

/**
 * Registers the metadata service and the Raft transport service of `node` on a gRPC server; `tls` (the process's
 * by default) gives the mode the authorisation of each call follows.
 */
export function addMetadataServices(
  server: grpc.Server,
  node: MetadataNode,
  log: Logger = silentLogger,
  tls: GrpcTls = processGrpcTls(),
): void {
  const guard =
    (method: string): Guard =>
    (req, call) => {
      const rule = metadataRule(method, req);
      const refused = rule && authorizePeer(tls.mode, peerOf(call), rule);
      if (!refused) return undefined;
      log.warn('refused a metadata call', { method, reason: refused.details });
      return refused;
    };
  const impl: pb.MetadataServiceServer = {
    get: unary(async (req: pb.GetRequest) => {
      const v = await node.get(req.key, { allowStale: req.allowStale });
      if (!v) throw new MetadataError('not-found', `no value under key '${req.key}'`);
      return { value: Buffer.from(v.value), version: BigInt(v.version) };
    }),
    put: unary(async (req: pb.PutRequest) => {
      const r = await node.put(req.key, req.value, fromPbPrecondition(req.precondition), ridOf(req.requestId));
      return { version: BigInt(r.version) };
    }, guard('put')),
    delete: unary(async (req: pb.DeleteRequest) => {
      const r = await node.delete(req.key, fromPbPrecondition(req.precondition), ridOf(req.requestId));
      return { existed: r.existed };
    }, guard('delete')),
    watch: (call) => {
      const bad = malformed(call.request);
      if (bad !== undefined) {
        call.destroy(
          Object.assign(new Error(`malformed request payload: ${bad}`), { code: grpc.status.INVALID_ARGUMENT }),
        );
        return;
      }
      let stop: (() => void) | undefined;
      try {
        stop = node.watch(call.request.key, Number(call.request.fromVersion), (e) => {
          call.write({ key: e.key, deleted: e.deleted, value: Buffer.from(e.value), version: BigInt(e.version) });
        });
      } catch (e) {
        const st = toGrpcError(e);
        call.destroy(Object.assign(new Error(st.details), st));
        return;
      }
      const end = () => stop?.();
      call.on('cancelled', end);
      call.on('close', end);
      call.on('error', end);
      const off = node.onClose(() => {
        end();
        call.destroy(Object.assign(new Error('metadata member is shut down'), { code: grpc.status.UNAVAILABLE }));
      });
      call.on('close', off);
    },
    status: unary(async () => statusToPb(node)),
    addMember: unary(async (req: pb.AddMemberRequest) => {
      const members = await node.addMember(req.nodeId, req.address);
      return { members: members.map(memberToPb) };
    }, guard('addMember')),
    removeMember: unary(async (req: pb.RemoveMemberRequest) => {
      if (!req.nodeId) throw new MetadataError('invalid-argument', 'node_id must not be empty');
      const members = await node.removeMember(req.nodeId);
      return { members: members.map(memberToPb) };
    }, guard('removeMember')),
    transferLeadership: unary(async (req: pb.TransferLeadershipRequest) => {
      await node.transferLeadership(req.nodeId || undefined);
      return statusToPb(node);
    }, guard('transferLeadership')),
  };
  server.addService(tolerant(pb.MetadataServiceService), impl);

  const raftImpl: pb.RaftServiceServer = {
    send: unary(async (req: pb.RaftBatch, call) => {
      if (req.clusterName !== node.clusterName) {
        log.warn('refused raft traffic from another cluster', {
          from: req.from,
          peer: call.getPeer(),
          theirCluster: req.clusterName,
          ourCluster: node.clusterName,
        });
        throw new MetadataError(
          'data-dir-mismatch',
          `member ${node.nodeId} belongs to cluster '${node.clusterName}', not '${req.clusterName}'`,
        );
      }
      let msgs: Message[];
      try {
        msgs = req.messages.map(messageFromPb);
      } catch (e) {
        throw new MetadataError('invalid-argument', `malformed raft message: ${(e as Error).message}`);
      }
      try {
        node.receive(msgs, req.fromAddress || undefined, req.clusterId || undefined);
      } catch (e) {
        log.warn('refused raft traffic from another cluster', {
          from: req.from,
          peer: call.getPeer(),
          error: (e as Error).message,
        });
        throw e;
      }
      return {};
    }, guard('raft.send')),
  };
  server.addService(tolerant(pb.RaftServiceService), raftImpl);
}

/** gRPC client side of the Raft transport: per peer, batches queued messages into pipelined unary calls. */
export class GrpcRaftTransport implements RaftTransport {
  private readonly peers = new Map<
    string,
    { client: pb.RaftServiceClient; queue: pb.RaftMessage[]; inflight: number }
  >();
  private readonly clusterName: string;
  private readonly from: string;
  private readonly fromAddress: string;
  private readonly log: Logger;
  private closed = false;
  private readonly lastWarn = new Map<string, number>();

  /** Our cluster id, sent along (set once known). */
  clusterId: () => string = () => '';

  private readonly tls: GrpcTls | undefined;

  constructor(opts: { clusterName: string; nodeId: string; address: string; logger?: Logger; tls?: GrpcTls }) {
    this.tls = opts.tls;
    this.clusterName = opts.clusterName;
    this.from = opts.nodeId;
    this.fromAddress = opts.address;
    this.log = opts.logger ?? silentLogger;
  }

  send(to: Member, messages: Message[]): void {
    if (this.closed) return;
    let peer = this.peers.get(to.addr);
    if (!peer) {
      peer = {
        client: new pb.RaftServiceClient(to.addr, grpcChannelCredentials(this.tls), {
          'grpc.max_receive_message_length': GRPC_MAX_MESSAGE_BYTES,
          'grpc.max_send_message_length': GRPC_MAX_MESSAGE_BYTES,
          'grpc.initial_reconnect_backoff_ms': 100,
          'grpc.max_reconnect_backoff_ms': 1000,
        }),
        queue: [],
        inflight: 0,
      };
      this.peers.set(to.addr, peer);
    }
    for (const m of messages) peer.queue.push(messageToPb(m));
    if (peer.queue.length > 10_000) peer.queue.splice(0, peer.queue.length - 10_000);
    this.flush(to.addr);
  }

  private flush(addr: string): void {
    const peer = this.peers.get(addr);
    if (!peer) return;
    while (peer.inflight < 4 && peer.queue.length > 0 && !this.closed) {
      const batch = peer.queue.splice(0, 512);
      peer.inflight++;
      peer.client.send(
        {
          clusterName: this.clusterName,
          from: this.from,
          fromAddress: this.fromAddress,
          messages: batch,
          clusterId: this.clusterId(),
        },
        new grpc.Metadata(),
        { deadline: Date.now() + 5000 },
        (err) => {
          peer.inflight--;
          if (err && !this.closed) {
            const now = Date.now();
            if (now - (this.lastWarn.get(addr) ?? 0) > 5000) {
              this.lastWarn.set(addr, now);
              this.log.warn('raft messages to peer failed', { peer: addr, error: err.details || err.message });
            }
          }
          this.flush(addr);
        },
      );
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.peers.values()) p.client.close();
    this.peers.clear();
  }
}

/** Starts a gRPC server for `node` on `host:port` (port 0 picks one); returns the bound port. */
export async function serveMetadata(
  node: MetadataNode,
  opts: { host?: string; port: number; logger?: Logger; tls?: GrpcTls },
): Promise<{ server: grpc.Server; port: number; close: () => Promise<void> }> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': GRPC_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': GRPC_MAX_MESSAGE_BYTES,
  });
  const tls = opts.tls ?? processGrpcTls();
  addMetadataServices(server, node, opts.logger, tls);
  const serving = await listenGrpc(server, opts.host ?? '0.0.0.0', opts.port, 1000, tls);
  return { server, port: serving.port, close: serving.close };
}
