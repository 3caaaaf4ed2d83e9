// The cluster records in the metadata store: their keys, their in-memory shape, and codecs that refuse bad bytes.
import { cluster as pb } from '@stead/proto';
import { ControllerError } from './errors.ts';
import type { NodeRole, PartitionPlacement } from './types.ts';

/** Every key this package reads or writes. */
export const CLUSTER_KEYS = {
  /** The ids of the registered nodes (the store cannot list keys). */
  nodeIds: 'cluster/node-ids',
  partitionTable: 'cluster/partition-table',
  controllerLease: 'cluster/controller-lease',
  /** Operator requests the controller has yet to carry out (see requests.ts). */
  requests: 'cluster/requests',
  node: (id: string): string => `cluster/nodes/${id}`,
} as const;

/** Format number every record carries; a reader refuses any other. */
const FORMAT = 1;

const ROLES: ReadonlySet<string> = new Set<NodeRole>([
  'worker',
  'ingress',
  'admin',
  'log-server',
  'sequencer',
  'metadata-server',
]);

/** One process of the cluster, as registered by itself. */
export interface NodeRecord {
  id: string;
  /** Random per process start; a restart registers a new one. */
  instance: string;
  roles: NodeRole[];
  /** host:port of the node-to-node gRPC API. */
  address: string;
  /** "region.zone" or "zone"; undefined when unknown. */
  location?: string;
  draining: boolean;
}

/** The partition table: where each partition runs, and which controller term wrote it. */
export interface PartitionTable {
  /** Fixed once the table exists. */
  partitions: number;
  replication: number;
  /** One entry per partition, ascending. */
  placements: PartitionPlacement[];
  /** Lease term of the writer; grows (never goes back) from one table version to the next. */
  controllerTerm: number;
  controller: string;
}

/** A value read from the metadata store with its version. */
export interface Versioned<T> {
  value: T;
  version: number;
}

export interface LeaseRecord {
  nodeId: string;
  instance: string;
  released: boolean;
}

function corrupt(key: string, why: string): ControllerError {
  return new ControllerError('corrupt-record', `metadata key '${key}' holds a value that is not ${why}`);
}

/** Decodes with `decode` and checks the format; a decoder exception becomes an error naming the key. */
function decodeMessage<T extends { format: number }>(
  key: string,
  bytes: Uint8Array,
  what: string,
  decode: (b: Uint8Array) => T,
): T {
  let msg: T;
  try {
    msg = decode(bytes);
  } catch (e) {
    throw corrupt(key, `${what} (${(e as Error).message})`);
  }
  if (msg.format !== FORMAT) throw corrupt(key, `${what} of format ${FORMAT} (format ${msg.format})`);
  return msg;
}

// ---- nodes ---------------------------------------------------------------------------------------------------

export function encodeNodeRecord(r: NodeRecord): Uint8Array {
  return pb.NodeRecord.encode({
    format: FORMAT,
    id: r.id,
    instance: r.instance,
    roles: [...r.roles],
    address: r.address,
    location: r.location ?? '',
    draining: r.draining,
  }).finish();
}

export function decodeNodeRecord(key: string, bytes: Uint8Array): NodeRecord {
  const m = decodeMessage(key, bytes, 'a node record', (b) => pb.NodeRecord.decode(b));
  if (m.id === '' || key !== CLUSTER_KEYS.node(m.id)) throw corrupt(key, `the node record of '${key}' (id '${m.id}')`);
  if (m.instance === '') throw corrupt(key, 'a node record (no instance)');
  const roles = m.roles.filter((r): r is NodeRole => ROLES.has(r)); // roles of newer versions are not ours to use
  const out: NodeRecord = { id: m.id, instance: m.instance, roles, address: m.address, draining: m.draining };
  if (m.location !== '') out.location = m.location;
  return out;
}

export function encodeNodeIndex(ids: readonly string[]): Uint8Array {
  return pb.NodeIndex.encode({ format: FORMAT, ids: [...ids] }).finish();
}

export function decodeNodeIndex(key: string, bytes: Uint8Array): string[] {
  const m = decodeMessage(key, bytes, 'a node index', (b) => pb.NodeIndex.decode(b));
  if (m.ids.some((id) => id === '')) throw corrupt(key, 'a node index (empty id)');
  return m.ids;
}

/** Refuses a node record that could not be read back (before it is written). */
export function checkNodeRecord(r: NodeRecord): void {
  const bad = (why: string) => new ControllerError('invalid-config', `node record: ${why}`);
  if (!r.id || /[/\s]/.test(r.id)) throw bad(`id '${r.id}' must be non-empty without '/' or spaces`);
  if (!r.instance) throw bad('instance must not be empty');
  for (const role of r.roles) if (!ROLES.has(role)) throw bad(`unknown role '${role}'`);
}

// ---- partition table -----------------------------------------------------------------------------------------

export function encodePartitionTable(t: PartitionTable): Uint8Array {
  return pb.PartitionTable.encode({
    format: FORMAT,
    partitions: t.partitions,
    replication: t.replication,
    placements: t.placements.map((p) => ({
      partition: p.partition,
      replicas: [...p.replicas],
      leader: p.leader ?? '',
      epoch: BigInt(p.epoch),
    })),
    controllerTerm: BigInt(t.controllerTerm),
    controller: t.controller,
  }).finish();
}

/** Decodes and checks the table: one entry per partition in range, leaders among the replicas. */
export function decodePartitionTable(key: string, bytes: Uint8Array): PartitionTable {
  const m = decodeMessage(key, bytes, 'a partition table', (b) => pb.PartitionTable.decode(b));
  if (m.partitions === 0) throw corrupt(key, 'a partition table (0 partitions)');
  const seen = new Set<number>();
  const placements: PartitionPlacement[] = [];
  for (const p of m.placements) {
    if (p.partition >= m.partitions || seen.has(p.partition))
      throw corrupt(key, `a partition table (partition ${p.partition} out of range or repeated)`);
    seen.add(p.partition);
    if (p.leader !== '' && !p.replicas.includes(p.leader))
      throw corrupt(key, `a partition table (leader of partition ${p.partition} is not one of its replicas)`);
    const placement: PartitionPlacement = { partition: p.partition, replicas: p.replicas, epoch: Number(p.epoch) };
    if (p.leader !== '') placement.leader = p.leader;
    placements.push(placement);
  }
  placements.sort((a, b) => a.partition - b.partition);
  return {
    partitions: m.partitions,
    replication: m.replication,
    placements,
    controllerTerm: Number(m.controllerTerm),
    controller: m.controller,
  };
}

// ---- lease ---------------------------------------------------------------------------------------------------

export function encodeLease(l: LeaseRecord): Uint8Array {
  return pb.ControllerLease.encode({ format: FORMAT, ...l }).finish();
}

export function decodeLease(key: string, bytes: Uint8Array): LeaseRecord {
  const m = decodeMessage(key, bytes, 'a controller lease', (b) => pb.ControllerLease.decode(b));
  if (m.nodeId === '' || m.instance === '') throw corrupt(key, 'a controller lease (no holder)');
  return { nodeId: m.nodeId, instance: m.instance, released: m.released };
}
