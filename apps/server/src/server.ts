import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type AdminReply,
  type AdminRequest,
  type AdminRouter,
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
import { mountSnapshotRoutes } from '@stead/app-admin';
import {
  type HttpSecurity,
  httpSecurity,
  invocationDefaults,
  partitionLogId,
  requestIdentity,
  snapshotRepository,
  snapshotService,
} from '@stead/cluster';
import { corsPolicy, type InvocationDefaults } from '@stead/core';
import {
  type IngressMetrics,
  invocationRoutes,
  registerIngressMetrics,
  startGrpcIngress,
  startIngressServer,
} from '@stead/ingress';
import { discover, type RequestSigner } from '@stead/invoker';
import { registerAppendMetrics } from '@stead/log';
import { createMetadataStore, type MetadataClient, type MetadataStore } from '@stead/metadata';
import {
  Engine,
  type EpochSource,
  fixPartitionCount,
  metadataEpochs,
  PartitionCountMismatch,
  registerHostMetrics,
  registerInvocationMetrics,
  registerSnapshotMetrics,
} from '@stead/partition';
import { createRegistry, errorMessage, NodeLifecycle, type RunningNode, readGauge } from '@stead/runtime';
import { UI_DIST_DIR } from '@stead/ui';
import { Gauge, type Registry } from 'prom-client';
import {
  checkGrow,
  commitGrow,
  readServerRecord,
  SERVER_NODE,
  type ServerRecord,
  startClusterRoles,
  writeServerRecord,
} from './cluster-mode.ts';
import type { ServerSettings } from './settings.ts';

type LeveldbStats = Engine['leveldbStats']['log'];

export const VERSION = '0.1.0';

/**
 * Starts every role in this process: probes, metadata store, engine, admin API, ingress (closed in reverse). A
 * server that grew into a cluster (see cluster-mode.ts) starts its cluster roles instead of the engine.
 */
export async function startServer(s: ServerSettings): Promise<RunningNode> {
  const node = new NodeLifecycle({ component: 'server', shutdownTimeoutMs: s.shutdownTimeout });
  // Before anything starts: a key file, token file or certificate that cannot be used stops the server at once.
  const signer = requestIdentity(s, node.log);
  const security = httpSecurity(s, node.log);
  const dataDir = resolve(s.dataDir);
  mkdirSync(dataDir, { recursive: true });
  let ready = false;
  // The same default labels as every cluster process: the one-process server is node `server` (as it names
  // itself in GET /cluster and in the embedded metadata store).
  const registry = createRegistry({ component: 'server', node: SERVER_NODE });
  const probes = await node.serveProbes({ host: s.bindAddress, port: s.metricsPort, registry, ready: () => ready });
  const { metadata, record } = await startMetadata(node, s, dataDir);
  if (record.mode === 'cluster' && record.ports) {
    security.auth?.close(); // the admin and ingress roles read the same settings themselves
    const ports = record.ports;
    const roles = await node.start(
      () => startClusterRoles(s, { client: metadata.client, dataDir, ports, log: node.log }),
      'cannot start the cluster roles',
    );
    node.onClose('cluster roles', () => roles.shutdown('server stopping').then(() => {}));
    ready = true;
    node.log('info', 'stead-server ready (a cluster member)', { version: VERSION, dataDir, ...ports });
    return { shutdown: (reason) => node.shutdown(reason) };
  }
  const defaults = invocationDefaults(s);
  const schema = await node.start(
    () =>
      SchemaRegistry.open({
        // In the embedded metadata store, as in a cluster; the schema file of older versions is imported once.
        store: new MetadataSchemaStore({ client: metadata.client, legacyFile: join(dataDir, 'schema.json') }),
        discover: (uri, o) => discover(uri, { ...o, signer }),
        minProtocolVersion: 5,
        maxProtocolVersion: s.maxServiceProtocolVersion,
        allowLinkLocal: s.allowLinkLocalDeployments,
        maxDiscoveryResponseBytes: s.maxDiscoveryResponseSize,
      }),
    'cannot open the schema registry',
  );
  const closeSchema = once(async () => schema.close());
  node.onClose('schema registry', closeSchema);
  const epochs = new Map<number, number>();
  const { engine, handOver } = await startEngine(node, s, {
    dataDir,
    schema,
    defaults,
    metadata,
    epochs,
    registry,
    signer,
  });
  registerEngineMetrics(registry, engine);
  if (engine.snapshots) registerSnapshotMetrics(registry, engine.snapshots);
  let growing = false;
  // The switch runs once the answer to the request has left (closing the admin API cuts its connections).
  const grow = async (req: AdminRequest): Promise<AdminReply> => {
    if (growing) return errorReply(409, 'the server is growing into a cluster already');
    const config = await checkGrow(
      metadata.client,
      await req.json(),
      engine.logTrimPoints,
      s.snapshotBucket !== 'none',
    );
    growing = true;
    if (engine.logTrimPoints.some((t) => t > 0n)) {
      // The new replicas start from these (their logs do not reach back to offset 0).
      try {
        await engine.snapshotTrimmedPartitions();
      } catch (e) {
        growing = false;
        return errorReply(
          503,
          `cannot grow into a cluster: snapshotting the trimmed partitions failed: ${errorMessage(e)}`,
        );
      }
    }
    setTimeout(() => {
      ready = false;
      switchToCluster(node, s, { metadata: metadata.client, record, dataDir, config, engine: handOver, http })
        .then(async () => {
          await closeSchema();
          registry.clear(); // the engine's figures are gone; each role serves its own
          ready = true;
        })
        .catch((e: unknown) => {
          node.log('error', 'fatal: growing into a cluster failed; exiting (a restart resumes in cluster mode)', {
            error: e,
          });
          process.exit(1);
        });
    }, 200);
    return {
      status: 200,
      json: {
        partition_replication: config.partitionReplication,
        log_replication: config.logReplication,
        growing: 'into a cluster: the ingress and the admin API stop for a few seconds',
      },
    };
  };
  const http = await startHttp(node, s, security, {
    schema,
    defaults,
    engine,
    epochs,
    metadata: metadata.client,
    grow,
    ingressMetrics: registerIngressMetrics(registry),
  });
  ready = true;
  node.log('info', 'stead-server ready', {
    version: VERSION,
    dataDir,
    ingress: `${http.scheme}://${s.bindAddress}:${http.ingress.port}`,
    grpcIngress: `${s.bindAddress}:${http.grpcIngress.port}${http.scheme === 'https' ? ' (TLS)' : ''}`,
    admin: `${http.scheme}://${s.bindAddress}:${http.admin.port}`,
    authentication: http.authentication,
    metrics: `http://${s.bindAddress}:${probes.port}/metrics`,
    partitions: s.partitions,
  });
  return { shutdown: (reason) => node.shutdown(reason) };
}

/** `fn` run at most once (later calls get the first call's promise): for steps closed early and at shutdown. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn();
    return done;
  };
}

/**
 * The one-process server becomes a cluster member (see cluster-mode.ts): the HTTP listeners close, the mode is
 * recorded (from here on a restart starts as cluster roles), the engine hands its sealed logs and its stores
 * over, and the cluster roles start in this process.
 */
async function switchToCluster(
  node: NodeLifecycle,
  s: ServerSettings,
  deps: {
    metadata: MetadataClient;
    record: ServerRecord;
    dataDir: string;
    config: Parameters<typeof commitGrow>[2];
    engine: () => Promise<bigint[]>;
    http: { close: () => Promise<void> };
  },
): Promise<void> {
  node.log('info', 'growing into a cluster', {
    partitionReplication: deps.config.partitionReplication,
    logReplication: deps.config.logReplication,
  });
  await deps.http.close();
  const record = await commitGrow(deps.metadata, s, deps.config, deps.record);
  const tails = await deps.engine();
  node.log('info', 'the local logs are sealed and applied', { tails: tails.map(String) });
  const roles = await startClusterRoles(s, {
    client: deps.metadata,
    dataDir: deps.dataDir,
    ports: record.ports!,
    log: node.log,
  });
  node.onClose('cluster roles', () => roles.shutdown('server stopping').then(() => {}));
  node.log('info', 'stead-server is a cluster member', { ...record.ports });
}

/**
 * The single-member metadata store (the same code as the metadata-store deployable), its gRPC API on the node
 * port for cluster tools and the deployables that join later. Refuses to start when the partition count differs
 * from the one fixed at the first start.
 */
async function startMetadata(
  node: NodeLifecycle,
  s: ServerSettings,
  dataDir: string,
): Promise<{ metadata: MetadataStore; record: ServerRecord }> {
  const metadata = await node.start(
    () =>
      createMetadataStore({
        nodeId: SERVER_NODE,
        clusterName: 'stead',
        dataDir: join(dataDir, 'metadata'),
        grpcHost: s.nodeBindAddress,
        grpcPort: s.nodePort,
        address: nodeAddress(s),
      }),
    `cannot start the embedded metadata store on ${s.nodeBindAddress}:${s.nodePort}`,
  );
  node.onClose('metadata', () => metadata.close());
  const record = await node.start(
    async () => {
      await fixPartitionCount(metadata.client, s.partitions);
      const before = await readServerRecord(metadata.client);
      // The mode and node ports of a server that grew into a cluster stay.
      const server: ServerRecord = {
        ...before,
        version: VERSION,
        startedAt: new Date().toISOString(),
        partitions: s.partitions,
      };
      await writeServerRecord(metadata.client, server);
      return server;
    },
    (e) => (e instanceof PartitionCountMismatch ? e.message : `cannot record the server: ${errorMessage(e)}`),
  );
  return { metadata, record };
}

async function startEngine(
  node: NodeLifecycle,
  s: ServerSettings,
  deps: {
    dataDir: string;
    schema: SchemaRegistry;
    defaults: InvocationDefaults;
    metadata: MetadataStore;
    /** Filled with the epoch each partition leads with (for `GET /cluster`). */
    epochs: Map<number, number>;
    /** Where the engine's invocation and append figures go. */
    registry: Registry;
    /** Signs the engine's requests to deployments. */
    signer: RequestSigner;
  },
): Promise<{ engine: Engine; handOver: () => Promise<bigint[]> }> {
  const counter = metadataEpochs(deps.metadata.client);
  const epochs: EpochSource = {
    next: async (p) => {
      const epoch = await counter.next(p);
      deps.epochs.set(p, epoch);
      return epoch;
    },
  };
  const engine = await node.start(
    () =>
      Engine.start({
        dataDir: deps.dataDir,
        partitions: s.partitions,
        schema: deps.schema,
        defaults: deps.defaults,
        maxStateValueBytes: s.maxStateValueSize,
        maxConcurrentInvocations: s.maxConcurrentInvocations,
        maxProtocolVersion: s.maxServiceProtocolVersion,
        maxPartitionBacklog: s.maxPartitionBacklog,
        partitionCacheBytes: s.partitionCacheSize,
        logCacheBytes: s.logCacheSize,
        epochs,
        log: node.log,
        trimDelayMs: s.trimDelay,
        requestSigner: deps.signer,
        snapshots: {
          // Without a bucket, a directory in the data dir: copies of the stores at hand for backups.
          repository: snapshotRepository(s, join(deps.dataDir, 'snapshots'))!,
          intervalMs: s.snapshotInterval,
          everyRecords: s.snapshotRecords,
          retain: s.snapshotRetain,
        },
        metrics: {
          invocations: registerInvocationMetrics(deps.registry),
          appends: registerAppendMetrics(deps.registry),
        },
        onFatal: (err) => {
          node.log('error', 'fatal: exiting so that a restart recovers from what is durable', { error: err });
          process.exit(1);
        },
      }),
    'cannot start the engine',
  );
  // Closed at shutdown, unless handed over before (the server grew into a cluster).
  let handedOver: Promise<bigint[]> | undefined;
  node.onClose('engine', () => (handedOver ? handedOver.then(() => {}) : engine.close()));
  return { engine, handOver: () => (handedOver ??= engine.handOver()) };
}

/** The engine's figures: those of its partition host (as a worker's), of its caches, LevelDB and local logs. */
function registerEngineMetrics(registry: Registry, engine: Engine): void {
  registerHostMetrics(registry, engine.host);
  const stat = (name: string, help: string, pick: () => number) => readGauge(registry, name, help, pick);
  stat(
    'stead_partition_cache_bytes',
    'What the read caches of the partition stores hold',
    () => engine.partitionCacheStats.bytes,
  );
  stat(
    'stead_partition_cache_hits',
    'Reads the partition stores answered from their caches since start',
    () => engine.partitionCacheStats.hits,
  );
  stat(
    'stead_partition_cache_misses',
    'Reads the partition stores sent to LevelDB since start',
    () => engine.partitionCacheStats.misses,
  );
  const leveldb = (name: string, help: string, pick: (s: LeveldbStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['store'],
      registers: [registry],
      collect() {
        for (const [store, stats] of Object.entries(engine.leveldbStats)) this.set({ store }, pick(stats));
      },
    });
  leveldb(
    'stead_leveldb_memory_bytes',
    "LevelDB's estimate of its memory (memtables and block cache)",
    (s) => s.memoryBytes,
  );
  leveldb('stead_leveldb_table_bytes', 'Bytes in LevelDB table files (whole MiB)', (s) => s.tableBytes);
  leveldb(
    'stead_leveldb_compaction_written_bytes',
    'Bytes written by LevelDB compactions since the store opened (whole MiB)',
    (s) => s.compactionWrittenBytes,
  );
  const perPartition = (name: string, help: string, read: () => readonly bigint[]) =>
    new Gauge({
      name,
      help,
      labelNames: ['partition'],
      registers: [registry],
      collect() {
        for (const [p, n] of read().entries()) this.set({ partition: String(p) }, Number(n));
      },
    });
  perPartition(
    'stead_log_trim_point',
    'Offset below which the log of each partition is trimmed',
    () => engine.logTrimPoints,
  );
  perPartition(
    'stead_log_records',
    'Records kept in the log of each partition (tail minus trim point)',
    () => engine.logRecords,
  );
}

/** Where other processes reach this one's node port (the embedded metadata store's gRPC API). */
function nodeAddress(s: ServerSettings): string {
  return `${s.nodeBindAddress === '0.0.0.0' ? hostname() : s.nodeBindAddress}:${s.nodePort}`;
}

/** Every role a one-process server plays, as the cluster's node records name them. */
const ALL_ROLES = ['metadata-server', 'log-server', 'sequencer', 'worker', 'ingress', 'admin'];

/**
 * `GET /cluster` in the shape of the cluster admin's (so that `stead ctl` has one code path): one node, always
 * alive, that runs the controller and leads every partition with the epoch it took at start; its logs are local
 * (no segments), so `GET /cluster/logs/{id}` answers 404 saying so.
 */
function mountClusterRoutes(
  router: AdminRouter,
  s: ServerSettings,
  epochs: ReadonlyMap<number, number>,
  grow: (req: AdminRequest) => Promise<AdminReply>,
  trimPoints: () => readonly bigint[],
): void {
  const node = SERVER_NODE;
  router.get('/cluster', () => ({
    status: 200,
    json: {
      controller: {
        node,
        active: true,
        nodes: [
          {
            id: node,
            roles: ALL_ROLES,
            address: nodeAddress(s),
            alive: true,
            draining: false,
          },
        ],
        unavailable_partitions: [],
      },
      partition_table: {
        partitions: s.partitions,
        replication: 1,
        placements: Array.from({ length: s.partitions }, (_, p) => ({
          partition: p,
          replicas: [node],
          leader: node,
          epoch: epochs.get(p) ?? 0,
        })),
      },
      logs: Array.from({ length: s.partitions }, (_, p) => ({
        partition: p,
        log: partitionLogId(p),
        kind: 'local',
        segments: 0,
        sequencer: node,
        trim_point: String(trimPoints()[p] ?? 0n),
      })),
    },
  }));
  router.get('/cluster/logs/:log', (req) =>
    errorReply(
      404,
      `log '${req.params.log}': the one-process server keeps its logs locally, without segments (segments exist in cluster mode)`,
    ),
  );
  mountNotACluster(router, grow);
}

/**
 * The operator routes of a cluster that make no sense here: one copy of everything, one node, local logs.
 * `GET /cluster/config` answers what holds (replication 1); `PATCH /cluster/config` with more grows the server
 * into a cluster (`grow`).
 */
function mountNotACluster(router: AdminRouter, grow: (req: AdminRequest) => Promise<AdminReply>): void {
  const one = { scope: 'node', count: 1 };
  router.get('/cluster/config', () => ({ status: 200, json: { partition_replication: one, log_replication: one } }));
  const refuse = (why: string) => () => errorReply(400, `not a cluster: ${why}`);
  router.patch('/cluster/config', grow);
  const oneNode = refuse('the one-process server is the only node (nothing to drain, remove or move)');
  router.post('/cluster/nodes/:id/drain', oneNode);
  router.post('/cluster/nodes/:id/undrain', oneNode);
  router.delete('/cluster/nodes/:id', oneNode);
  router.post('/cluster/partitions/:p/move', oneNode);
  router.post('/cluster/partitions/:p/transfer-leader', oneNode);
  const localLogs = refuse('the one-process server keeps its logs locally, without segments');
  router.post('/cluster/logs/:log/seal-segment', localLogs);
  router.post('/cluster/logs/:log/trim', localLogs);
}

/** The admin API, then the ingress (closed first at shutdown, so no new invocation arrives while stopping). */
async function startHttp(
  node: NodeLifecycle,
  s: ServerSettings,
  security: HttpSecurity,
  deps: {
    schema: SchemaRegistry;
    defaults: InvocationDefaults;
    engine: Engine;
    epochs: ReadonlyMap<number, number>;
    metadata: MetadataClient;
    grow: (req: AdminRequest) => Promise<AdminReply>;
    ingressMetrics: IngressMetrics;
  },
) {
  const { schema, engine } = deps;
  if (security.auth) node.onClose('token file watch', async () => security.auth?.close());
  const http = {
    idleTimeoutMs: s.httpIdleTimeout,
    maxConnections: s.maxConnections,
    auth: security.auth,
    tls: security.tls,
    onTlsReload: security.onTlsReload,
  };
  const admin = await node.start(
    () =>
      startAdminServer({
        host: s.bindAddress,
        port: s.adminPort,
        registry: schema,
        version: VERSION,
        ingressEndpoint: `${security.scheme}://${s.bindAddress === '0.0.0.0' ? '127.0.0.1' : s.bindAddress}:${s.ingressPort}`,
        serviceDefaults: deps.defaults,
        pinnedInvocations: (id) => engine.pinnedInvocations(id),
        extend: (router) => {
          mountInvocationRoutes(router, engine);
          mountStateRoutes(router, schema, engine);
          mountScheduleRoutes(router, {
            registry: schema,
            backend: engine,
            source: engine.introspection,
            defaults: deps.defaults,
          });
          const sql = mountQueryRoutes(router, {
            source: combineSources(registryIntrospection(schema), engine.introspection),
          });
          node.onClose('SQL engine', () => sql.close());
          mountClusterRoutes(router, s, deps.epochs, deps.grow, () => engine.logTrimPoints);
          if (engine.snapshots)
            mountSnapshotRoutes(
              router,
              // It leads every partition, so it takes every snapshot.
              snapshotService(engine.snapshots, (p) => engine.processors[p] ?? `no partition ${p}`),
              () => s.partitions,
            );
          mountMetadataRoutes(router, { client: deps.metadata });
        },
        onError: (err) => node.log('error', 'admin request failed', { error: err }),
        cors: corsPolicy(s.adminCorsAllowedOrigins, s.corsAllowCredentials),
        uiDir: UI_DIST_DIR,
        ...http,
      }),
    `cannot serve the admin API on ${s.bindAddress}:${s.adminPort}`,
  );
  const closeAdmin = once(() => admin.close());
  node.onClose('admin', closeAdmin);
  const ingress = await node.start(
    () =>
      startIngressServer({
        host: s.bindAddress,
        port: s.ingressPort,
        backend: engine,
        schema,
        maxBodyBytes: s.maxBodySize,
        routes: invocationRoutes(engine, schema),
        metrics: deps.ingressMetrics,
        onError: (err) => node.log('error', 'ingress request failed', { error: err }),
        cors: corsPolicy(s.corsAllowedOrigins, s.corsAllowCredentials),
        unjournaledHeaders: security.unjournaledHeaders,
        ...http,
      }),
    `cannot serve the ingress on ${s.bindAddress}:${s.ingressPort}`,
  );
  const closeIngress = once(() => ingress.close());
  node.onClose('ingress', closeIngress);
  const grpcIngress = await node.start(
    () =>
      startGrpcIngress({
        host: s.bindAddress,
        port: s.grpcIngressPort,
        backend: engine,
        schema,
        maxBodyBytes: s.maxBodySize,
        auth: security.auth,
        tls: security.tls,
        onTlsReload: security.onTlsReload,
        unjournaledHeaders: security.unjournaledHeaders,
        onError: (err) => node.log('error', 'gRPC ingress request failed', { error: err }),
      }),
    `cannot serve the gRPC ingress on ${s.bindAddress}:${s.grpcIngressPort}`,
  );
  const closeGrpcIngress = once(() => grpcIngress.close());
  node.onClose('gRPC ingress', closeGrpcIngress);
  // All stop taking requests when the server grows into a cluster (its roles listen on the same ports).
  const close = async () => {
    await closeGrpcIngress();
    await closeIngress();
    await closeAdmin();
  };
  const authentication = security.auth ? `bearer tokens from ${security.auth.file}` : 'off';
  return { admin, ingress, grpcIngress, close, scheme: security.scheme, authentication };
}
