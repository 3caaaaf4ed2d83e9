// What a restate-server cluster knows about its partition leaders, read the way `restatectl` reads it: unary gRPC
// calls on a node's fabric port (ClusterCtrlSvc/GetClusterState, NodeCtlSvc/GetIdent). restate-server 1.7 does
// not expose partition state to the admin SQL endpoint, and the npm package ships no restatectl, so the few
// fields needed are decoded here by hand from the protobuf wire format (field numbers of restate's public
// `cluster.proto`, `common.proto` and `node_ctl_svc.proto`).
import { connect } from 'node:http2';

/** One field of a protobuf message: its number and its value (varint as bigint, or the bytes of a LEN field). */
type Field = { no: number; varint?: bigint; bytes?: Uint8Array };

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('protobuf: truncated varint');
    const b = buf[pos++]!;
    v |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [v, pos];
    shift += 7n;
  }
}

/** The fields of one message, in wire order (fixed32/64 fields are skipped: none are read here). */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, p] = readVarint(buf, pos);
    pos = p;
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, q] = readVarint(buf, pos);
      out.push({ no, varint: v });
      pos = q;
    } else if (wire === 2) {
      const [len, q] = readVarint(buf, pos);
      const end = q + Number(len);
      if (end > buf.length) throw new Error('protobuf: truncated field');
      out.push({ no, bytes: buf.subarray(q, end) });
      pos = end;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
  return out;
}

const first = (fs: Field[], no: number) => fs.find((f) => f.no === no);
const all = (fs: Field[], no: number) => fs.filter((f) => f.no === no);

/** One unary gRPC call with an empty request message; resolves with the response message. */
function grpcUnary(address: string, path: string, timeoutMs = 3_000): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const session = connect(address);
    const done = (err?: Error, msg?: Uint8Array) => {
      clearTimeout(timer);
      session.close();
      if (err) reject(err);
      else resolve(msg!);
    };
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`${path} at ${address}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    session.on('error', (err) => done(err));
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message: string | undefined;
    const headers = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', headers);
    req.on('trailers', headers);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err) => done(err));
    req.on('end', () => {
      if (status !== '0') return done(new Error(`${path} at ${address}: grpc-status ${status} ${message ?? ''}`));
      const body = Buffer.concat(chunks);
      if (body.length < 5) return done(new Error(`${path} at ${address}: empty answer`));
      // Length-prefixed message: 1 byte compressed flag, 4 bytes big-endian length.
      if (body[0] !== 0) return done(new Error(`${path} at ${address}: compressed answer`));
      done(undefined, body.subarray(5, 5 + body.readUInt32BE(1)));
    });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

/** The plain node id (N<id>) of the node listening at `address` (NodeCtlSvc/GetIdent → IdentResponse.node_id). */
export async function restateNodeId(address: string): Promise<number | undefined> {
  const ident = fields(await grpcUnary(address, '/restate.node_ctl_svc.NodeCtlSvc/GetIdent'));
  const nodeId = first(ident, 2)?.bytes;
  const id = nodeId ? first(fields(nodeId), 1)?.varint : undefined;
  return id === undefined ? undefined : Number(id);
}

export interface RestateClusterState {
  /** Plain node ids the cluster controller sees alive. */
  alive: number[];
  /** Per partition id, the plain node ids running a processor for it, and those whose processor leads. */
  partitions: Map<number, { replicas: number[]; leaders: number[] }>;
}

const RUN_MODE_LEADER = 1n;

/**
 * The cluster controller's view (ClusterCtrlSvc/GetClusterState): ClusterStateResponse.cluster_state(1) →
 * ClusterState.nodes(4, map<uint32, NodeState>) → NodeState.alive(1) → AliveNode.partitions(3,
 * map<uint32, PartitionProcessorStatus>) → PartitionProcessorStatus.effective_mode(3).
 */
export async function restateClusterState(address: string): Promise<RestateClusterState> {
  return parseClusterState(await grpcUnary(address, '/restate.cluster_ctrl.ClusterCtrlSvc/GetClusterState'));
}

/** Decodes a ClusterStateResponse message (the fields named above; everything else is skipped). */
export function parseClusterState(msg: Uint8Array): RestateClusterState {
  const state = first(fields(msg), 1)?.bytes;
  if (!state) throw new Error('GetClusterState: no cluster state in the answer');
  const out: RestateClusterState = { alive: [], partitions: new Map() };
  for (const entry of all(fields(state), 4)) {
    const e = fields(entry.bytes!);
    const nodeId = Number(first(e, 1)?.varint ?? 0n);
    const alive = first(fields(first(e, 2)?.bytes ?? new Uint8Array()), 1)?.bytes;
    if (!alive) continue;
    out.alive.push(nodeId);
    for (const p of all(fields(alive), 3)) {
      const pe = fields(p.bytes!);
      const partition = Number(first(pe, 1)?.varint ?? 0n);
      const status = fields(first(pe, 2)?.bytes ?? new Uint8Array());
      const row = out.partitions.get(partition) ?? { replicas: [], leaders: [] };
      row.replicas.push(nodeId);
      if (first(status, 3)?.varint === RUN_MODE_LEADER) row.leaders.push(nodeId);
      out.partitions.set(partition, row);
    }
  }
  return out;
}
