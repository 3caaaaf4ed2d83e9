// The admin API's write side for operators (`stead ctl`): the cluster config, draining and removing nodes,
// moving replicas and leaderships, sealing a log's segment and trimming a log. Requests to the controller go
// through the metadata store (`cluster/requests`), so whichever admin process runs it carries them out.
import { randomUUID } from 'node:crypto';
import { AdminError, type AdminReply, type AdminRouter, errorReply } from '@stead/admin';
import {
  type ClusterConfig,
  ControllerError,
  type ControllerHandle,
  deregisterNode,
  initClusterConfig,
  listNodes,
  type NodeRecord,
  type PartitionTable,
  parseReplication,
  type Replication,
  readClusterConfig,
  readPartitionTable,
  setNodeDraining,
  submitRequest,
  updateClusterConfig,
} from '@stead/controller';
import { type Bifrost, loadNodes, setLogNodeDraining, updateNodes } from '@stead/log';
import type { GrpcMetadataClient } from '@stead/metadata';

export interface OperationsOptions {
  metadata: GrpcMetadataClient;
  controller: ControllerHandle;
  /** A Bifrost client over the cluster's log servers and sequencers, made on first use. */
  bifrost: () => Bifrost;
}

/** `GET /cluster/config` and `PATCH /cluster/config` (and the start-up write of the admin's flags). */
function renderConfig(c: ClusterConfig, version?: number) {
  return { partition_replication: c.partitionReplication, log_replication: c.logReplication, version };
}

/**
 * The fields of a `PATCH /cluster/config` body (the admin's, and the one-process server's when it grows), each a
 * replication property as `parseReplication` takes it or a bare count; AdminError(400) for anything else.
 */
export function parseConfigPatch(body: unknown): { partition?: Replication; log?: Replication } {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new AdminError(400, 'expected a JSON object');
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => k !== 'partition_replication' && k !== 'log_replication');
  if (unknown.length > 0) throw new AdminError(400, `unknown field '${unknown[0]}'`);
  return {
    partition: replicationField(fields, 'partition_replication'),
    log: replicationField(fields, 'log_replication'),
  };
}

function replicationField(body: Record<string, unknown>, name: string): Replication | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw new AdminError(400, `${name}: expected a string`);
  try {
    return parseReplication(String(v));
  } catch (e) {
    if (e instanceof ControllerError) throw new AdminError(400, `${name}: ${e.message}`);
    throw e;
  }
}

function mountConfigRoutes(router: AdminRouter, o: OperationsOptions): void {
  router.get('/cluster/config', async (): Promise<AdminReply> => {
    const c = await readClusterConfig(o.metadata);
    return c ? { status: 200, json: renderConfig(c.value, c.version) } : errorReply(404, 'no cluster config yet');
  });
  router.patch('/cluster/config', async (req): Promise<AdminReply> => {
    const { partition, log } = parseConfigPatch(await req.json());
    if (!partition && !log)
      throw new AdminError(400, 'nothing to change: give partition_replication or log_replication');
    const next = await updateClusterConfig(o.metadata, (c) => {
      if (!c) throw new AdminError(409, 'no cluster config yet (the admin writes it at start)');
      return { partitionReplication: partition ?? c.partitionReplication, logReplication: log ?? c.logReplication };
    });
    return { status: 200, json: renderConfig(next, (await readClusterConfig(o.metadata))?.version) };
  });
}

/** The worker record and the log-nodes entry of `id` (either may be missing). */
async function findNode(o: OperationsOptions, id: string) {
  const [records, logNodes] = await Promise.all([listNodes(o.metadata), loadNodes(o.metadata)]);
  const record = records.find((r) => r.id === id);
  const logNode = logNodes.logServers[id] ?? logNodes.sequencers[id];
  return { record, logNode };
}

function heldPartitions(table: PartitionTable | undefined, id: string): number[] {
  return (table?.placements ?? []).filter((p) => p.replicas.includes(id)).map((p) => p.partition);
}

/**
 * Sets or clears `draining` on node `id`'s record and its log-nodes entry (`stead ctl nodes drain|undrain`, and a
 * Kubernetes scale-down). Returns which of the two exist.
 */
export async function setDraining(
  metadata: GrpcMetadataClient,
  id: string,
  draining: boolean,
): Promise<{ worker: boolean; log: boolean }> {
  const worker = await setNodeDraining(metadata, id, draining);
  const log = await setLogNodeDraining(metadata, id, draining);
  // The controller caches node records for seconds; the notice makes it read this one at its next round.
  if (worker) await submitRequest(metadata, { id: randomUUID(), kind: 'node-changed', node: id });
  return { worker, log };
}

/** Forgets node `id`: its record and index entry, and its log-nodes entries (`stead ctl nodes remove`). */
export async function forgetNode(metadata: GrpcMetadataClient, id: string): Promise<void> {
  await deregisterNode(metadata, id);
  // The controller's node list is up to a second old; the notice makes its next round read the index again, so
  // that the node leaves `GET /cluster` (and `stead ctl nodes list`) a round after, not a second after.
  await submitRequest(metadata, { id: randomUUID(), kind: 'node-changed', node: id });
  const logNodes = await loadNodes(metadata);
  if (!logNodes.logServers[id] && !logNodes.sequencers[id]) return;
  await updateNodes(metadata, (c) => {
    const { [id]: _s, ...logServers } = c.logServers;
    const { [id]: _q, ...sequencers } = c.sequencers;
    return { logServers, sequencers };
  });
}

function mountNodeRoutes(router: AdminRouter, o: OperationsOptions): void {
  const drainRoute = async (id: string, draining: boolean): Promise<AdminReply> => {
    const { worker, log } = await setDraining(o.metadata, id, draining);
    if (!worker && !log) return errorReply(404, `no node '${id}' (neither a registered node nor a log node)`);
    return { status: 200, json: { node: id, draining, node_record: worker, log_node: log } };
  };
  router.post('/cluster/nodes/:id/drain', (req) => drainRoute(req.params.id, true));
  router.post('/cluster/nodes/:id/undrain', (req) => drainRoute(req.params.id, false));
  router.delete('/cluster/nodes/:id', async (req): Promise<AdminReply> => {
    const { id } = req.params;
    const force = req.query.get('force') === 'true';
    const { record, logNode } = await findNode(o, id);
    if (!record && !logNode) return errorReply(404, `no node '${id}'`);
    const refusal = removalRefusal(o, id, record, logNode, (await readPartitionTable(o.metadata))?.value, force);
    if (refusal) return errorReply(409, refusal);
    await forgetNode(o.metadata, id);
    return { status: 200, json: { node: id, removed: true } };
  });
}

/**
 * Why node `id` may not be removed now, or undefined. It must hold no replica and be drained (or not alive);
 * `force` skips both checks for a node that is not known to be alive. Liveness is what the active controller
 * last saw; an admin on standby does not know it.
 */
function removalRefusal(
  o: OperationsOptions,
  id: string,
  record: NodeRecord | undefined,
  logNode: { draining?: boolean } | undefined,
  table: PartitionTable | undefined,
  force: boolean,
): string | undefined {
  const alive = o.controller.status().lastRound?.nodes.find((n) => n.id === id)?.alive;
  if (force && alive !== true) return undefined;
  const held = heldPartitions(table, id);
  if (held.length > 0)
    return `${id} holds replicas of partitions ${held.join(',')}: drain it first (stead ctl nodes drain ${id})`;
  const drained = (record === undefined || record.draining) && (logNode === undefined || logNode.draining === true);
  if (!drained && alive !== false)
    return `${id} is ${alive ? 'alive' : 'perhaps alive (this admin does not run the controller)'} and not drained: drain it first (stead ctl nodes drain ${id})${alive ? '' : ', or use force for a node that is gone'}`;
  return undefined;
}

function partitionParam(text: string, table: PartitionTable | undefined): number {
  const p = Number(text);
  if (!table) throw new AdminError(409, 'no partition table yet');
  if (!/^\d+$/.test(text) || p >= table.partitions)
    throw new AdminError(404, `no partition ${text}: the cluster has partitions 0..${table.partitions - 1}`);
  return p;
}

async function stringFields(req: { json(): Promise<unknown> }, names: string[]): Promise<Record<string, string>> {
  const body = (await req.json()) as Record<string, unknown> | null;
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = body?.[n];
    if (typeof v !== 'string' || v === '') throw new AdminError(400, `${n}: expected a node id`);
    out[n] = v;
  }
  return out;
}

function mountPartitionRoutes(router: AdminRouter, o: OperationsOptions): void {
  router.post('/cluster/partitions/:p/move', async (req): Promise<AdminReply> => {
    const { from, to } = await stringFields(req, ['from', 'to']);
    const table = (await readPartitionTable(o.metadata))?.value;
    const p = partitionParam(req.params.p, table);
    const placement = table!.placements[p];
    if (!placement.replicas.includes(from))
      return errorReply(409, `${from} is not a replica of partition ${p} (replicas: ${placement.replicas.join(',')})`);
    if (placement.replicas.includes(to)) return errorReply(409, `${to} is already a replica of partition ${p}`);
    const target = (await listNodes(o.metadata)).find((n) => n.id === to);
    if (!target?.roles.includes('worker')) return errorReply(404, `no worker '${to}'`);
    if (target.draining) return errorReply(409, `${to} is draining: it takes no replicas`);
    const request = { id: randomUUID(), kind: 'move' as const, partition: p, from, to };
    await submitRequest(o.metadata, request);
    return { status: 202, json: { request } };
  });
  router.post('/cluster/partitions/:p/transfer-leader', async (req): Promise<AdminReply> => {
    const { to } = await stringFields(req, ['to']);
    const table = (await readPartitionTable(o.metadata))?.value;
    const p = partitionParam(req.params.p, table);
    const placement = table!.placements[p];
    if (placement.leader === to) return { status: 200, json: { done: true, leader: to } };
    if (!placement.replicas.includes(to))
      return errorReply(
        409,
        `${to} is not a replica of partition ${p} (replicas: ${placement.replicas.join(',')}); move a replica there first (stead ctl partitions move)`,
      );
    const request = { id: randomUUID(), kind: 'transfer-leader' as const, partition: p, to };
    await submitRequest(o.metadata, request);
    return { status: 202, json: { request } };
  });
}

function mountLogRoutes(router: AdminRouter, o: OperationsOptions): void {
  router.post('/cluster/logs/:log/seal-segment', async (req): Promise<AdminReply> => {
    const { log } = req.params;
    const bifrost = o.bifrost();
    if (!(await bifrost.chain(log, true))) return errorReply(404, `log '${log}' not found`);
    const chain = await bifrost.reconfigure(log, 'operator');
    const open = chain.segments.at(-1)!;
    return {
      status: 200,
      json: { log, segments: chain.segments.length, open_segment: { index: open.index, base: String(open.base) } },
    };
  });
  router.post('/cluster/logs/:log/trim', async (req): Promise<AdminReply> => {
    const { log } = req.params;
    const body = (await req.json()) as { to?: unknown } | null;
    const to = body?.to;
    if ((typeof to !== 'string' && typeof to !== 'number') || !/^\d+$/.test(String(to)))
      throw new AdminError(400, 'to: expected an offset (a whole number, as a string)');
    const chain = await o.bifrost().trim(log, BigInt(to));
    if (!chain) return errorReply(404, `log '${log}' not found`);
    return { status: 200, json: { log, trim_point: String(chain.trimPoint), segments: chain.segments.length } };
  });
}

/** Mounts the operator routes; see the module comment. */
export function mountOperations(router: AdminRouter, o: OperationsOptions): void {
  mountConfigRoutes(router, o);
  mountNodeRoutes(router, o);
  mountPartitionRoutes(router, o);
  mountLogRoutes(router, o);
}

/** The cluster config as this admin's flags say, written when the cluster has none yet. */
export function initConfigFromFlags(
  client: GrpcMetadataClient,
  partitionReplication: Replication,
  logReplication: Replication,
) {
  return initClusterConfig(client, { partitionReplication, logReplication });
}
