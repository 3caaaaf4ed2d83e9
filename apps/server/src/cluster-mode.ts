// Growing the one-process server into a cluster in place (`stead ctl config set --log-replication 2
// --partition-replication 2` against it), and running it as a cluster member from then on.
//
// The switch: the ingress and the admin API close, the engine hands over (every partition steps down, every local
// log is sealed and applied to its tail, the stores commit), and the process starts in itself, on the same data
// dir and the same HTTP ports, what a cluster member runs: a log server, a worker, an admin (with the controller
// and the log rebalancer) and an ingress, all reaching the embedded metadata store through its node port. Each
// sealed local log becomes segment 0 of its partition's virtual log, served read-only by a small log service on a
// node of its own (`server-local-log`), registered draining: no new segment goes there and the log rebalancer
// copies its records to the log servers, after which no segment names it. The worker resumes each partition from
// the applied offset in its store, leads it with an epoch above every one the engine used, and its first append
// starts segment 1 on the log servers with the configured replication; the controller adds replicas on the other
// workers. `cluster/server` records the mode (written before the first local log is sealed), so a restart starts
// these roles directly and never reopens the local logs for writing.
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AdminError } from '@stead/admin';
import { adminSettings, parseConfigPatch, startAdmin } from '@stead/app-admin';
import { ingressSettings, startIngress } from '@stead/app-ingress';
import { logServerSettings, startLogServer } from '@stead/app-log-server';
import { startWorker, workerSettings } from '@stead/app-worker';
import {
  engineSettings,
  httpSettings,
  invocationSettings,
  partitionLogIdsOf,
  registrySettings,
  requestIdentitySettings,
  snapshotSettings,
} from '@stead/cluster';
import {
  CLUSTER_KEYS,
  type ClusterConfig,
  encodePartitionTable,
  type Replication,
  readPartitionTable,
  updateClusterConfig,
} from '@stead/controller';
import {
  adoptLocalLog,
  LocalLogServer,
  LocalLogStore,
  loadNodes,
  logletIdOf,
  placementProblem,
  readChains,
  segmentsNaming,
  serveLogServer,
  updateNodes,
} from '@stead/log';
import { type MetadataClient, Precondition } from '@stead/metadata';
import { metadataEpochs } from '@stead/partition';
import { type RunningNode, settingsWith } from '@stead/runtime';
import type { ServerSettings } from './settings.ts';

/** The node id of every role the server runs in cluster mode (worker, log server, sequencer, admin, ingress). */
export const SERVER_NODE = 'server';
/** The node the sealed local logs are served from while the log rebalancer copies them to log servers. */
export const LOCAL_LOG_NODE = 'server-local-log';
const SERVER_KEY = 'cluster/server';
const CLUSTER_NAME = 'stead';

/** Node ports of the roles started in cluster mode: chosen when the server grows, kept across restarts. */
export interface ClusterPorts {
  worker: number;
  logServer: number;
  localLog: number;
}

/** `cluster/server`: what the metadata store knows of the server process. */
export interface ServerRecord {
  version: string;
  startedAt: string;
  partitions: number;
  /** Set once the server grew into a cluster: it then starts as cluster roles, never as the one-process engine. */
  mode?: 'cluster';
  ports?: ClusterPorts;
}

export async function readServerRecord(client: MetadataClient): Promise<ServerRecord | undefined> {
  const v = await client.get(SERVER_KEY);
  if (!v) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(v.value)) as ServerRecord;
  } catch (e) {
    throw new Error(`metadata key ${SERVER_KEY} does not decode: ${(e as Error).message}`);
  }
}

export async function writeServerRecord(client: MetadataClient, record: ServerRecord): Promise<void> {
  await client.put(SERVER_KEY, new TextEncoder().encode(JSON.stringify(record)), Precondition.none);
}

function hostOf(bindAddress: string, forClients: boolean): string {
  if (bindAddress !== '0.0.0.0') return bindAddress;
  return forClients ? '127.0.0.1' : hostname();
}

/** Where the roles in this process reach the embedded metadata store. */
function metadataAddress(s: ServerSettings): string {
  return `${hostOf(s.nodeBindAddress, true)}:${s.nodePort}`;
}

// ---- the request ---------------------------------------------------------------------------------------------

const ONE: Replication = { scope: 'node', count: 1 };

/**
 * The cluster config a `PATCH /cluster/config` body asks the one-process server for, once checked: replication
 * above one of partitions or logs, enough log servers registered (with the one the server starts) for the log
 * replication, no partition table yet, and
 * logs that were never trimmed (a new replica replays its partition's log from offset 0; snapshots to start
 * from do not exist yet). Throws AdminError(400) naming what is missing. Workers are not counted: they register
 * only once the partition table exists (the switch writes it), and the controller adds replicas as they come.
 */
export async function checkGrow(
  client: MetadataClient,
  body: unknown,
  logTrimPoints: readonly bigint[],
  snapshotsInBucket: boolean,
): Promise<ClusterConfig> {
  const asked = parseConfigPatch(body);
  const config = { partitionReplication: asked.partition ?? ONE, logReplication: asked.log ?? ONE };
  if (config.partitionReplication.count === 1 && config.logReplication.count === 1)
    throw new AdminError(
      400,
      'not a cluster: the one-process server keeps one copy of each partition and log; to grow it into a cluster, start log servers and workers with --metadata-address at its node port, then raise the replication above 1',
    );
  const [nodes, table] = await Promise.all([loadNodes(client), readPartitionTable(client)]);
  const logProblem = placementProblem(nodes, config.logReplication, [{ id: SERVER_NODE }]);
  if (logProblem)
    throw new AdminError(
      400,
      `cannot grow into a cluster with log replication {${config.logReplication.scope}: ${config.logReplication.count}}: ${logProblem} (the log servers registered in ${'cluster/log-nodes'} and the one this server starts); start more log servers with --metadata-address at this server's node port`,
    );
  if (table)
    throw new AdminError(
      400,
      'cannot grow into a cluster: a partition table exists already (an admin process runs against this server?)',
    );
  const trimmed = logTrimPoints.findIndex((t) => t > 0n);
  if (trimmed >= 0 && !snapshotsInBucket)
    throw new AdminError(
      400,
      `cannot grow into a cluster: the log of partition ${trimmed} is trimmed below offset ${logTrimPoints[trimmed]} (the one-process server trims its logs behind its stores), so new replicas must start from snapshots in a bucket they share: restart the server with --snapshot-bucket (and the same bucket settings on the workers), then grow`,
    );
  return config;
}

/** Writes the cluster config the server grows with, and records the mode and its node ports (the commit point). */
export async function commitGrow(
  client: MetadataClient,
  s: ServerSettings,
  config: ClusterConfig,
  record: ServerRecord,
): Promise<ServerRecord> {
  await updateClusterConfig(client, () => config);
  const host = hostOf(s.nodeBindAddress, true);
  const ports = { worker: await freePort(host), logServer: await freePort(host), localLog: await freePort(host) };
  const next: ServerRecord = { ...record, mode: 'cluster', ports };
  await writeServerRecord(client, next);
  return next;
}

/** A port nobody listens on now on `host` (the OS picks it). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

// ---- cluster mode --------------------------------------------------------------------------------------------

type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/**
 * Starts the cluster roles of the server in this process (see the module comment), after the sealed local logs
 * are adopted as segment 0 of their logs and the partition table is seeded with this worker leading every
 * partition. Returns one handle that stops them in the order that loses nothing: ingress, worker (it hands its
 * leaderships over first), admin, log server, local-log service.
 */
export async function startClusterRoles(
  s: ServerSettings,
  deps: { client: MetadataClient; dataDir: string; ports: ClusterPorts; log: Log },
): Promise<RunningNode> {
  const { client, dataDir, ports } = deps;
  const stops: Array<{ name: string; stop: () => Promise<unknown> }> = [];
  const shutdown = async (reason: string) => {
    for (const { name, stop } of stops.reverse().splice(0)) {
      try {
        await stop();
      } catch (e) {
        deps.log('warn', `stopping the in-process ${name} failed`, { error: e, reason });
      }
    }
    return 'stopped' as const;
  };
  try {
    const localLogs = await serveLocalLogs(s, deps);
    if (localLogs) stops.push({ name: 'local-log service', stop: localLogs });
    await seedPartitionTable(client, s.partitions);
    const grpcHost = hostOf(s.nodeBindAddress, false);
    const role = { nodeId: SERVER_NODE, metricsPort: 0, shutdownTimeout: Math.floor(s.shutdownTimeout / 2) };
    const shared = sharedSettings(s);
    const metadata = metadataAddress(s);
    const logServer = await startLogServer(
      settingsWith(logServerSettings, {
        ...role,
        bindAddress: s.nodeBindAddress,
        nodePort: ports.logServer,
        advertisedAddress: `${grpcHost}:${ports.logServer}`,
        clusterName: CLUSTER_NAME,
        dataDir: join(dataDir, 'log-server'),
        // Registered here, without the drain on shutdown of a log server leaving for good: this process also
        // runs the metadata store, so the cluster stops with it anyway.
        metadataAddress: 'none',
      }),
    );
    stops.push({ name: 'log server', stop: () => logServer.shutdown('server stopping') });
    await updateNodes(client, (c) => ({
      ...c,
      logServers: { ...c.logServers, [SERVER_NODE]: { address: `${grpcHost}:${ports.logServer}` } },
    }));
    const worker = await startWorker(
      settingsWith(workerSettings, {
        ...shared,
        ...role,
        bindAddress: s.nodeBindAddress,
        nodePort: ports.worker,
        advertisedAddress: `${grpcHost}:${ports.worker}`,
        metadataAddress: metadata,
        // The same layout as the engine's: the worker resumes each partition store at its applied offset.
        dataDir,
      }),
    );
    stops.push({ name: 'worker', stop: () => worker.shutdown('server stopping') });
    const admin = await startAdmin(
      settingsWith(adminSettings, {
        ...shared,
        ...role,
        bindAddress: s.bindAddress,
        adminPort: s.adminPort,
        metadataAddress: metadata,
        ingressEndpoint: `${s.httpTlsCertFile === 'none' ? 'http' : 'https'}://${hostOf(s.bindAddress, true)}:${s.ingressPort}`,
        partitions: s.partitions,
      }),
    );
    // Stopped after the worker, whose leaderships the controller hands over while it stops.
    stops.splice(stops.length - 1, 0, { name: 'admin', stop: () => admin.shutdown('server stopping') });
    const ingress = await startIngress(
      settingsWith(ingressSettings, {
        ...shared,
        ...role,
        bindAddress: s.bindAddress,
        ingressPort: s.ingressPort,
        grpcIngressPort: s.grpcIngressPort,
        metadataAddress: metadata,
      }),
    );
    stops.push({ name: 'ingress', stop: () => ingress.shutdown('server stopping') });
  } catch (e) {
    await shutdown('start failed');
    throw e;
  }
  return { shutdown };
}

/** The settings the server shares with the roles it runs in cluster mode (HTTP, invocations, registry, engine). */
function sharedSettings(s: ServerSettings): Pick<ServerSettings, SharedKey> {
  const keys = Object.keys({
    ...httpSettings,
    ...invocationSettings,
    ...registrySettings,
    ...requestIdentitySettings,
    ...engineSettings,
    ...snapshotSettings,
  });
  return Object.fromEntries(keys.map((k) => [k, s[k as SharedKey]])) as Pick<ServerSettings, SharedKey>;
}

type SharedKey =
  | keyof typeof httpSettings
  | keyof typeof invocationSettings
  | keyof typeof registrySettings
  | keyof typeof requestIdentitySettings
  | keyof typeof engineSettings
  | keyof typeof snapshotSettings;

/**
 * Adopts each sealed local log as segment 0 of its partition's log (sealing it first, when the switch was
 * interrupted before), and serves them read-only under LOCAL_LOG_NODE, registered draining, while any segment
 * names that node. Returns how to stop serving them; undefined when nothing names it any more (its log-nodes
 * entry is then removed) or the server never had local logs.
 */
async function serveLocalLogs(
  s: ServerSettings,
  deps: { client: MetadataClient; dataDir: string; ports: ClusterPorts; log: Log },
): Promise<(() => Promise<void>) | undefined> {
  const dir = join(deps.dataDir, 'log');
  if (!existsSync(dir)) return undefined;
  const store = await LocalLogStore.open(dir);
  const logIds = partitionLogIdsOf(s.partitions);
  const localLog = new Map(logIds.map((id, p) => [logletIdOf(id, 0), p]));
  try {
    for (const [p, logId] of logIds.entries())
      await adoptLocalLog(deps.client, logId, await store.loglet(p), LOCAL_LOG_NODE);
    if (segmentsNaming(await readChains(deps.client, logIds), LOCAL_LOG_NODE, 'log-server') === 0) {
      await store.close();
      await updateNodes(deps.client, (c) => {
        const { [LOCAL_LOG_NODE]: _, ...logServers } = c.logServers;
        return { ...c, logServers };
      });
      return undefined;
    }
    const server = await serveLogServer(new LocalLogServer(store, (id) => localLog.get(id)), {
      host: s.nodeBindAddress,
      port: deps.ports.localLog,
      identity: { nodeId: LOCAL_LOG_NODE, clusterName: CLUSTER_NAME },
    });
    const address = `${hostOf(s.nodeBindAddress, false)}:${deps.ports.localLog}`;
    await updateNodes(deps.client, (c) => ({
      ...c,
      logServers: { ...c.logServers, [LOCAL_LOG_NODE]: { address, draining: true } },
    }));
    deps.log('info', 'serving the sealed local logs until the log rebalancer copied them to log servers', {
      node: LOCAL_LOG_NODE,
      address,
    });
    return async () => {
      await server.close();
      await store.close();
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/**
 * The first partition table, unless one exists: this server the only replica and the leader of every partition,
 * with an epoch above every one its engine led with (the engine's epochs come from the same counters).
 */
async function seedPartitionTable(client: MetadataClient, partitions: number): Promise<void> {
  if (await readPartitionTable(client)) return;
  const epochs = metadataEpochs(client);
  const placements = [];
  for (let p = 0; p < partitions; p++)
    placements.push({ partition: p, replicas: [SERVER_NODE], leader: SERVER_NODE, epoch: await epochs.next(p) });
  const table = { partitions, replication: 1, placements, controllerTerm: 0, controller: SERVER_NODE };
  try {
    await client.put(CLUSTER_KEYS.partitionTable, encodePartitionTable(table), Precondition.doesNotExist);
  } catch (e) {
    // Written meanwhile (by a controller): that table stands.
    if ((e as { code?: unknown }).code !== 'precondition-failed') throw e;
  }
}
