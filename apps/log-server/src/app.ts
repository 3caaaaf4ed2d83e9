import { partitionLogIds } from '@stead/cluster';
import { resolveNodeLocation } from '@stead/kubernetes';
import {
  DataDirError,
  drainLogNode,
  LevelDbLogServerStorage,
  type LogletSequencers,
  LogServerCore,
  type LogServerMetrics,
  sequencerOfLoglet,
  serveLogServer,
  updateNodes,
} from '@stead/log';
import { GrpcMetadataClient } from '@stead/metadata';
import {
  addressList,
  createRegistry,
  errorMessage,
  histogram,
  NodeLifecycle,
  processGrpcTls,
  type RunningNode,
  readCounter,
  readGauge,
  requireNodeId,
  resolveAdvertisedAddress,
} from '@stead/runtime';
import { Gauge, type Registry } from 'prom-client';
import type { LogServerSettings } from './settings.ts';

export interface RunningLogServer extends RunningNode {
  readonly id: string;
  readonly grpcPort: number;
  readonly metricsPort: number;
}

/** Wires config → data dir (identity checked) → core → gRPC + probes (+ registration when a metadata store is given). */
export async function startLogServer(s: LogServerSettings): Promise<RunningLogServer> {
  const id = requireNodeId(s.nodeId);
  const node = new NodeLifecycle({
    component: 'log-server',
    fields: { node: id },
    shutdownTimeoutMs: s.shutdownTimeout,
  });
  const zone = await resolveNodeLocation(s.location, { log: node.log });
  const storage = await node.start(
    () => LevelDbLogServerStorage.open(s.dataDir, { clusterName: s.clusterName, nodeId: id }),
    (e) => (e instanceof DataDirError ? e.message : `cannot open data dir ${s.dataDir}: ${errorMessage(e)}`),
  );
  node.onClose('storage', () => storage.close());
  const registry = createRegistry({ component: 'log-server', node: id });
  const metrics = registerStoreMetrics(registry);
  // A durable write that fails (a full disk, fsync EIO) is fatal, as the one-process server's log store makes it:
  // after a failed fsync the pages may be gone while the file looks whole, and LevelDB refuses every later write.
  // The process exits; the sequencers store on the other log servers of the nodeset, and a restart recovers
  // from what is durable.
  const core = new LogServerCore(
    {
      loadState: (logletId) => storage.loadState(logletId),
      readRecords: (logletId, from, to, maxBytes) => storage.readRecords(logletId, from, to, maxBytes),
      readOffsets: (logletId, from, to) => storage.readOffsets(logletId, from, to),
      write: async (batch) => {
        try {
          await storage.write(batch);
        } catch (err) {
          node.log(
            'error',
            'fatal: a durable write of the log failed; exiting so that a restart recovers from what is durable',
            {
              error: err,
              loglets: [...batch.loglets.keys()].map(String),
            },
          );
          process.exit(1);
        }
      },
    },
    { metrics },
  );
  const identity = { nodeId: id, clusterName: s.clusterName };
  // With gRPC mTLS, a Store of new records is taken only from the loglet's sequencer, which the loglet's segment
  // in the metadata store names (looked up once per loglet).
  let sequencers: LogletSequencers | undefined;
  if (s.metadataAddress !== 'none' && processGrpcTls().mode !== 'off') {
    const lookup = new GrpcMetadataClient({ addresses: addressList(s.metadataAddress) });
    node.onClose('sequencer lookups', () => lookup.close());
    sequencers = (logletId) => sequencerOfLoglet(lookup, logletId);
  }
  const server = await node.start(
    () => serveLogServer(core, { host: s.bindAddress, port: s.nodePort, identity, sequencers }),
    `cannot serve gRPC on ${s.bindAddress}:${s.nodePort}`,
  );
  node.onClose('grpc', () => server.close());
  registerLogServerMetrics(registry, core);
  const probes = await node.serveProbes({ host: s.bindAddress, port: s.metricsPort, registry, ready: () => true });
  const address = resolveAdvertisedAddress(s.advertisedAddress, server.port);
  if (s.metadataAddress !== 'none') {
    const entry = zone ? { address, zone } : { address };
    await node.start(
      () => register(s.metadataAddress, (c) => ({ ...c, logServers: { ...c.logServers, [id]: entry } })),
      `cannot register in the metadata store at ${s.metadataAddress}`,
    );
    // Registered last, so it runs first at shutdown: while this server still serves, it is marked draining and
    // the active admin's rebalancer copies its records elsewhere and moves every segment off it.
    if (s.drainOnShutdown)
      node.onClose('drain', () => drain(s.metadataAddress, id, 'log-server', Math.floor(s.shutdownTimeout / 2), node));
  }
  const grpc = `${s.bindAddress}:${server.port}`;
  node.log('info', 'log server serving', { grpc, advertised: address, dataDir: s.dataDir, zone, metrics: probes.port });
  return { id, grpcPort: server.port, metricsPort: probes.port, shutdown: (reason) => node.shutdown(reason) };
}

/** Applies `change` to the log nodes config in the metadata store at `addresses`. */
async function register(addresses: string, change: Parameters<typeof updateNodes>[1]): Promise<void> {
  const metadata = new GrpcMetadataClient({ addresses: addressList(addresses) });
  try {
    await updateNodes(metadata, change);
  } finally {
    await metadata.close();
  }
}

/**
 * Marks log node `id` draining and waits (at most `timeoutMs`) until no segment of a partition log depends on it
 * (see drainLogNode).
 */
async function drain(
  addresses: string,
  id: string,
  kind: 'log-server' | 'sequencer',
  timeoutMs: number,
  node: NodeLifecycle,
): Promise<void> {
  const metadata = new GrpcMetadataClient({ addresses: addressList(addresses) });
  try {
    await drainLogNode({ metadata, id, kind, logIds: () => partitionLogIds(metadata), timeoutMs, log: node.log });
  } finally {
    await metadata.close();
  }
}

/** The store duration histogram, fed by the core as each Store becomes durable. */
function registerStoreMetrics(registry: Registry): LogServerMetrics {
  const duration = histogram(
    registry,
    'stead_log_server_store_duration_seconds',
    'Store requests, from receipt to durable (their batch synced)',
  );
  return { stored: (seconds) => duration.observe(seconds) };
}

/** The core's counts, read at scrape time. */
function registerLogServerMetrics(registry: Registry, core: LogServerCore): void {
  const stat = (name: string, help: string, pick: () => number) => readGauge(registry, name, help, pick);
  stat('stead_log_server_stores', 'Store requests written', () => core.stats.stores);
  readCounter(registry, 'stead_log_server_records_total', 'Records stored', () => core.stats.records);
  readCounter(registry, 'stead_log_server_stored_bytes_total', 'Payload bytes stored', () => core.stats.bytes);
  stat('stead_log_server_batches', 'Synced LevelDB batches (group commits)', () => core.stats.batches);
  stat('stead_log_server_stores_per_batch', 'Group commit ratio: stores per synced batch', () =>
    core.stats.batches === 0 ? 0 : core.stats.stores / core.stats.batches,
  );
  new Gauge({
    name: 'stead_log_server_local_tail',
    help: 'Highest stored offset + 1 per loglet',
    labelNames: ['loglet', 'sealed'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [loglet, st] of core.loglets()) this.set({ loglet, sealed: String(st.sealed) }, Number(st.localTail));
    },
  });
}
