// Registration and listing of nodes, and reading the partition table: plain reads and conditional writes.
import { type MetadataClient, Precondition } from '@stead/metadata';
import {
  CLUSTER_KEYS,
  checkNodeRecord,
  decodeNodeIndex,
  decodeNodeRecord,
  decodePartitionTable,
  encodeNodeIndex,
  encodeNodeRecord,
  type NodeRecord,
  type PartitionTable,
  type Versioned,
} from './records.ts';

/** A conditional write lost: someone else wrote the key since it was read. */
export function isPreconditionFailed(e: unknown): boolean {
  return (e as { code?: unknown } | undefined)?.code === 'precondition-failed';
}

/** Reads the node index, changes it and writes it back conditionally until the write wins. */
async function updateNodeIndex(client: MetadataClient, change: (ids: string[]) => string[] | undefined): Promise<void> {
  const key = CLUSTER_KEYS.nodeIds;
  for (;;) {
    const cur = await client.get(key);
    const ids = cur ? decodeNodeIndex(key, cur.value) : [];
    const next = change(ids);
    if (next === undefined) return; // nothing to change
    try {
      await client.put(
        key,
        encodeNodeIndex(next),
        cur ? Precondition.matchesVersion(cur.version) : Precondition.doesNotExist,
      );
      return;
    } catch (e) {
      if (!isPreconditionFailed(e)) throw e;
    }
  }
}

/**
 * Writes the record of this process (a restart, with a new instance, replaces the previous one) and adds its id
 * to the node index. Returns the version of the record.
 */
export async function registerNode(client: MetadataClient, record: NodeRecord): Promise<number> {
  checkNodeRecord(record);
  // Record first, then index: a reader that finds an id in the index without a record skips it.
  const version = await client.put(CLUSTER_KEYS.node(record.id), encodeNodeRecord(record));
  await updateNodeIndex(client, (ids) => (ids.includes(record.id) ? undefined : [...ids, record.id].sort()));
  return version;
}

/** Removes a node for good (a scaled-down worker): its index entry, then its record. */
export async function deregisterNode(client: MetadataClient, id: string): Promise<void> {
  await updateNodeIndex(client, (ids) => (ids.includes(id) ? ids.filter((x) => x !== id) : undefined));
  await client.delete(CLUSTER_KEYS.node(id));
}

/** The ids in the node index (none before the first registration). */
export async function readNodeIndex(client: MetadataClient): Promise<string[]> {
  const index = await client.get(CLUSTER_KEYS.nodeIds);
  return index ? decodeNodeIndex(CLUSTER_KEYS.nodeIds, index.value) : [];
}

/** The record of node `id`; undefined when the index names it but it has none (registration under way). */
export async function readNodeRecord(client: MetadataClient, id: string): Promise<NodeRecord | undefined> {
  const key = CLUSTER_KEYS.node(id);
  const v = await client.get(key);
  return v ? decodeNodeRecord(key, v.value) : undefined;
}

/** The records found, sorted by id. */
export function sortedRecords(records: readonly (NodeRecord | undefined)[]): NodeRecord[] {
  return records.filter((r): r is NodeRecord => r !== undefined).sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Every registered node, sorted by id. Throws a `corrupt-record` ControllerError naming a bad key. */
export async function listNodes(client: MetadataClient): Promise<NodeRecord[]> {
  const ids = await readNodeIndex(client);
  return sortedRecords(await Promise.all(ids.map((id) => readNodeRecord(client, id))));
}

/** The partition table with its version, or undefined before the first controller wrote one. */
export async function readPartitionTable(client: MetadataClient): Promise<Versioned<PartitionTable> | undefined> {
  const v = await client.get(CLUSTER_KEYS.partitionTable);
  return v ? { value: decodePartitionTable(CLUSTER_KEYS.partitionTable, v.value), version: v.version } : undefined;
}

/**
 * Sets `draining` on node `id`'s record (conditional on the version read, retried until it wins). Returns false
 * when the node has no record. A process that registers again (a restart) writes `draining: false`.
 */
export async function setNodeDraining(client: MetadataClient, id: string, draining: boolean): Promise<boolean> {
  const key = CLUSTER_KEYS.node(id);
  for (;;) {
    const cur = await client.get(key);
    if (!cur) return false;
    const record = decodeNodeRecord(key, cur.value);
    if (record.draining === draining) return true;
    try {
      await client.put(key, encodeNodeRecord({ ...record, draining }), Precondition.matchesVersion(cur.version));
      return true;
    } catch (e) {
      if (!isPreconditionFailed(e)) throw e;
    }
  }
}
