import { randomUUID } from 'node:crypto';
import {
  errorReply,
  MetadataSchemaStore,
  mountInvocationRoutes,
  mountMetadataRoutes,
  mountScheduleRoutes,
  mountStateRoutes,
  SchemaRegistry,
  startAdminServer,
} from '@stead/admin';
import { combineSources, mountQueryRoutes, registryIntrospection } from '@stead/admin/query';
import {
  httpSecurity,
  invocationDefaults,
  partitionLogId,
  partitionLogIdsOf,
  RemoteBackend,
  requestIdentity,
  routing,
  TableLeaders,
  WorkerClients,
} from '@stead/cluster';
import { Controller, listNodes, parseReplication, type RoundReport, readPartitionTable } from '@stead/controller';
import { corsPolicy } from '@stead/core';
import { discover } from '@stead/invoker';
import { resolveNodeLocation } from '@stead/kubernetes';
import { type LogChain, readChain, readChains } from '@stead/log';
import { GrpcMetadataClient } from '@stead/metadata';
import { fixPartitionCount, PartitionCountMismatch } from '@stead/partition';
import {
  addressList,
  createRegistry,
  errorMessage,
  NodeLifecycle,
  type RunningNode,
  readGauge,
  readLabeledGauge,
  requireNodeId,
  StartupError,
} from '@stead/runtime';
import { UI_DIST_DIR } from '@stead/ui';
import { ScaleDowns } from './kubernetes.ts';
import { startLogRebalancing } from './logs.ts';
import { initConfigFromFlags, mountOperations } from './operations.ts';
import type { AdminSettings } from './settings.ts';
import { clusterSnapshots, mountSnapshotRoutes } from './snapshots.ts';
import { ReplicaReports, startLogTrimming } from './trims.ts';

export const VERSION = '0.1.0';

/**
 * Wires config → metadata client → schema registry (kept in the metadata store) → controller (one active among
 * the admin processes) → the admin API, whose invocation routes go to partition leaders.
 */
export async function startAdmin(s: AdminSettings): Promise<RunningNode> {
  const id = requireNodeId(s.nodeId);
  const addresses = addressList(s.metadataAddress);
  if (addresses.length === 0) throw new StartupError('--metadata-address: no metadata store address given');
  // Checked when the settings loaded (the parser's message refuses a bad value); parsed once here.
  const partitionReplication = parseReplication(s.partitionReplication);
  const logReplication = parseReplication(s.logReplication);
  const instance = randomUUID();
  const node = new NodeLifecycle({ component: 'admin', fields: { node: id }, shutdownTimeoutMs: s.shutdownTimeout });
  // Discovery requests are signed here (the workers sign the invocations); an unusable key refuses the start.
  const signer = requestIdentity(s, node.log);
  // Before anything starts: a token file or certificate that cannot be used stops the process at once.
  const security = httpSecurity(s, node.log);
  if (security.auth) node.onClose('token file watch', async () => security.auth?.close());
  // The admin places nothing; a malformed --location is still refused, and kubernetes:<node> logged.
  await resolveNodeLocation(s.location, { log: node.log });
  const metadata = new GrpcMetadataClient({ addresses });
  node.onClose('metadata client', () => metadata.close());
  await node.start(
    () => fixPartitionCount(metadata, s.partitions),
    (e) => (e instanceof PartitionCountMismatch ? e.message : `cannot reach the metadata store: ${errorMessage(e)}`),
  );
  await node.start(
    () => initConfigFromFlags(metadata, partitionReplication, logReplication),
    (e) => `cannot write the cluster config: ${errorMessage(e)}`,
  );
  const defaults = invocationDefaults(s);
  const schema = await node.start(
    () =>
      SchemaRegistry.open({
        store: new MetadataSchemaStore({ client: metadata }),
        discover: (uri, o) => discover(uri, { ...o, signer }),
        minProtocolVersion: 5,
        maxProtocolVersion: s.maxServiceProtocolVersion,
        allowLinkLocal: s.allowLinkLocalDeployments,
        maxDiscoveryResponseBytes: s.maxDiscoveryResponseSize,
      }),
    'cannot open the schema registry in the metadata store',
  );
  node.onClose('schema registry', () => schema.close());
  const workers = new WorkerClients();
  const replicaReports = new ReplicaReports();
  node.onClose('worker clients', () => workers.close());
  const scaleDowns: ScaleDowns = new ScaleDowns({
    node,
    metadata,
    statefulSets: s.kubernetesStatefulsets,
    controller: () => controller,
    logs: () => logs,
  });
  const controller = new Controller({
    client: metadata,
    nodeId: id,
    instance,
    config: {
      partitions: s.partitions,
      partitionReplication: partitionReplication.count,
      partitionReplicationScope: partitionReplication.scope,
      nodeFailureTimeoutMs: s.nodeFailureTimeout,
      replicaReplacementDelayMs: s.replicaReplacementDelay,
      roundMs: s.heartbeatInterval,
      leaseTimeoutMs: s.controllerLeaseTimeout,
      leaseRenewMs: Math.max(10, Math.floor(s.controllerLeaseTimeout / 3)),
    },
    ping: async (n) => {
      try {
        const r = await workers.get(n.address).ping(s.heartbeatInterval);
        if (r.instance === n.instance) replicaReports.record(n.id, r.partitions);
        return { instance: r.instance, draining: r.draining };
      } catch (e) {
        // Nothing listens at the address (the process is gone): the controller need not wait out the timeout.
        if (/ECONNREFUSED/.test(errorMessage(e))) return { refused: true };
        throw e;
      }
    },
    scaledAway: () => scaleDowns.scaledAway(),
    log: node.log,
  }).run();
  node.onClose('controller', () => controller.stop());
  const leaders = await node.start(
    () => TableLeaders.start({ client: metadata, log: node.log }),
    'cannot read the partition table',
  );
  node.onClose('partition table', () => leaders.close());
  const backend = new RemoteBackend({ leaders, connect: (a) => workers.get(a), ...routing(schema, defaults) });
  node.onClose('forwarding', () => backend.close());
  const registry = createRegistry({ component: 'admin', node: id });
  readGauge(registry, 'stead_controller_active', 'This admin process runs the active controller (1) or not (0)', () =>
    controller.status().active ? 1 : 0,
  );
  const logs = startLogRebalancing({
    node,
    metadata,
    registry,
    partitions: s.partitions,
    active: () => controller.status().active,
    logReplication,
    nodeFailureTimeoutMs: s.nodeFailureTimeout,
    replacementDelayMs: s.replicaReplacementDelay,
    leaving: () => scaleDowns.scaledAway(),
  });
  registerPlacementMetrics(registry, () => controller.status().lastRound);
  startLogTrimming({
    node,
    metadata,
    bifrost: logs.bifrost,
    registry,
    active: () => controller.status().active,
    reports: replicaReports,
    nodeFailureTimeoutMs: s.nodeFailureTimeout,
    trimDelayMs: s.trimDelay,
    trimWithoutSnapshots: s.trimWithoutSnapshots,
  });
  const admin = await node.start(
    () =>
      startAdminServer({
        host: s.bindAddress,
        port: s.adminPort,
        registry: schema,
        version: VERSION,
        ingressEndpoint: s.ingressEndpoint,
        serviceDefaults: defaults,
        pinnedInvocations: (deploymentId) => backend.pinnedInvocations(deploymentId),
        extend: (router) => {
          mountInvocationRoutes(router, backend);
          mountStateRoutes(router, schema, backend);
          mountScheduleRoutes(router, { registry: schema, backend, source: backend.introspection, defaults });
          const sql = mountQueryRoutes(router, {
            source: combineSources(registryIntrospection(schema), backend.introspection),
          });
          node.onClose('SQL engine', () => sql.close());
          router.get('/cluster', async () => {
            const status = clusterStatus(controller.status(), leaders, scaleDowns.scaledAway());
            // A standby admin does not know who is alive; it lists the registered nodes (without `alive`).
            status.controller.nodes ??= (await listNodes(metadata)).map(({ id, roles, address, draining }) => ({
              id,
              roles,
              address,
              draining,
            }));
            // One read of the partition logs' chains serves both the logs and the log nodes.
            const partitions = leaders.current()?.value.partitions ?? 0;
            const chains = await readChains(metadata, partitionLogIdsOf(partitions));
            const away = scaleDowns.scaledAway();
            const logNodes = (await logs.logNodes(chains)).map((n) => ({ ...n, scaled_away: away.has(n.id) }));
            return {
              status: 200,
              json: {
                ...status,
                logs: partitionLogs(partitions, chains),
                log_nodes: logNodes,
                kubernetes: scaleDowns.view(),
              },
            };
          });
          router.get('/cluster/logs/:log', async (req) => {
            const chain = await logChain(metadata, req.params.log);
            return chain ? { status: 200, json: chain } : errorReply(404, `log '${req.params.log}' not found`);
          });
          mountOperations(router, { metadata, controller, bifrost: () => logs.bifrost });
          router.post('/cluster/nodes/:id/prestop', async (req) => ({
            status: 200,
            json: await scaleDowns.prestop(req.params.id),
          }));
          mountSnapshotRoutes(
            router,
            clusterSnapshots(workers, async () => ({
              table: (await readPartitionTable(metadata))?.value,
              addresses: new Map(
                (await listNodes(metadata)).filter((n) => n.roles.includes('worker')).map((n) => [n.id, n.address]),
              ),
            })),
            () => leaders.current()?.value.partitions ?? s.partitions,
          );
          mountMetadataRoutes(router, {
            client: metadata,
            members: async () => {
              const st = await metadata.status();
              return {
                clusterName: st.clusterName,
                leader: st.leaderId ? { id: st.leaderId, address: st.leaderAddress } : undefined,
                term: Number(st.term),
                members: st.members.map((m) => ({ id: m.nodeId, address: m.address, learner: m.learner })),
              };
            },
          });
        },
        onError: (err) => node.log('error', 'admin request failed', { error: err }),
        cors: corsPolicy(s.adminCorsAllowedOrigins, s.corsAllowCredentials),
        uiDir: UI_DIST_DIR,
        idleTimeoutMs: s.httpIdleTimeout,
        maxConnections: s.maxConnections,
        auth: security.auth,
        tls: security.tls,
        onTlsReload: security.onTlsReload,
      }),
    `cannot serve the admin API on ${s.bindAddress}:${s.adminPort}`,
  );
  node.onClose('admin API', () => admin.close());
  scaleDowns.start();
  const probes = await node.serveProbes({ host: s.bindAddress, port: s.metricsPort, registry, ready: () => true });
  node.log('info', 'admin serving', {
    admin: `${security.scheme}://${s.bindAddress}:${admin.port}`,
    authentication: security.auth ? `bearer tokens from ${security.auth.file}` : 'off',
    metrics: probes.port,
    instance,
  });
  return { shutdown: (reason) => node.shutdown(reason) };
}

/** Each partition log's open segment: which sequencer takes its appends (the leader's worker, normally). */
function partitionLogs(partitions: number, chains: readonly LogChain[]) {
  return Array.from({ length: partitions }, (_, p) => {
    const chain = chains.find((c) => c.logId === partitionLogId(p));
    const open = chain?.segments.at(-1);
    return {
      partition: p,
      log: partitionLogId(p),
      segments: chain?.segments.length ?? 0,
      sequencer: open?.sequencer.id,
      trim_point: chain ? String(chain.trimPoint) : undefined,
    };
  });
}

/**
 * `GET /cluster/logs/{id}`: the log's chain of segments as kept in the metadata store (offsets as decimal strings,
 * `sealed_tail` absent on the open segment); undefined when the store has no such log.
 */
async function logChain(metadata: GrpcMetadataClient, logId: string) {
  const chain = (await readChain(metadata, logId))?.chain;
  if (!chain) return undefined;
  return {
    log: chain.logId,
    trim_point: String(chain.trimPoint),
    sealed: chain.sealed === true,
    segments: chain.segments.map((s) => ({
      index: s.index,
      base: String(s.base),
      loglet: s.logletId,
      sequencer: s.sequencer,
      nodeset: s.nodeset,
      replication: s.replication,
      sealed_tail: s.sealedTail === undefined ? undefined : String(s.sealedTail),
    })),
  };
}

/** `GET /cluster`: the controller's view (when this process runs it) and the partition table as last seen. */
function clusterStatus(
  status: ReturnType<ReturnType<Controller['run']>['status']>,
  leaders: TableLeaders,
  scaledAway: ReadonlySet<string>,
) {
  const t = leaders.current();
  return {
    controller: {
      node: status.nodeId,
      active: status.active,
      term: status.term,
      lease_holder: status.leaseHolder,
      nodes: status.lastRound?.nodes.map((n) => ({ ...n, scaled_away: scaledAway.has(n.id) })) as
        | Array<{
            id: string;
            roles: string[];
            address: string;
            alive?: boolean;
            draining: boolean;
            scaled_away?: boolean;
          }>
        | undefined,
      unavailable_partitions: status.lastRound?.unavailable,
    },
    partition_table: t && {
      version: t.version,
      partitions: t.value.partitions,
      replication: t.value.replication,
      placements: t.value.placements,
    },
  };
}

/**
 * Per worker (label `worker`: `node` is this process's), from the active controller's last round (no samples on
 * a standby admin): partitions it holds a replica of, partitions it leads, and for a draining worker both
 * together (what is left to move off it).
 */
function registerPlacementMetrics(registry: ReturnType<typeof createRegistry>, round: () => RoundReport | undefined) {
  const perWorker =
    (count: (r: RoundReport, id: string) => number, only?: (n: RoundReport['nodes'][number]) => boolean) => () => {
      const r = round();
      const out = new Map<string, number>();
      for (const n of r?.nodes ?? []) {
        if (n.roles.includes('worker') && (only?.(n) ?? true)) out.set(n.id, count(r!, n.id));
      }
      return out;
    };
  const replicas = (r: RoundReport, id: string) => r.table.placements.filter((p) => p.replicas.includes(id)).length;
  const leads = (r: RoundReport, id: string) => r.table.placements.filter((p) => p.leader === id).length;
  readLabeledGauge(
    registry,
    'stead_partitions_per_worker',
    'Partitions a worker holds a replica of',
    'worker',
    perWorker(replicas),
  );
  readLabeledGauge(registry, 'stead_leaders_per_worker', 'Partitions a worker leads', 'worker', perWorker(leads));
  readLabeledGauge(
    registry,
    'stead_drain_remaining',
    'Replicas plus leaderships still on a draining worker',
    'worker',
    perWorker(
      (r, id) => replicas(r, id) + leads(r, id),
      (n) => n.draining,
    ),
  );
}
