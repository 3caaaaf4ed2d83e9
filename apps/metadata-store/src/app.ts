import { createMetadataStore, type Logger, type MetadataMetrics, type MetadataStore } from '@stead/metadata';
import { createRegistry, NodeLifecycle, type RunningNode, StartupError } from '@stead/runtime';
import { registerCommitMetrics, registerMetadataMetrics } from './metrics.ts';
import { type MetadataStoreSettings, type ResolvedConfig, resolveConfig } from './settings.ts';

export interface RunningMetadataStore extends RunningNode {
  readonly store: MetadataStore;
  readonly grpcPort: number;
  readonly metricsPort: number;
}

/**
 * Wires config → member → gRPC + probes. Throws StartupError with a clear message for bad setups. A graceful
 * stop hands leadership over, stops serving and closes the data dir.
 */
export async function startMetadataStore(s: MetadataStoreSettings): Promise<RunningMetadataStore> {
  const { config, problems } = resolveConfig(s);
  if (!config) throw new StartupError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  const node = new NodeLifecycle({
    component: 'metadata-store',
    fields: { node: config.nodeId },
    shutdownTimeoutMs: s.shutdownTimeout,
  });
  const registry = createRegistry({ component: 'metadata-store', node: config.nodeId });
  const metrics = registerCommitMetrics(registry);
  const store = await node.start(
    () => openStore(s, config, metadataLogger(node), metrics),
    (e) => (e as Error).message,
  );
  node.onClose('store', () => store.close({ handOver: true }));
  registerMetadataMetrics(registry, store.node);
  const ready = () => store.node.isReady();
  const probes = await node.serveProbes({ host: s.bindAddress, port: s.metricsPort, registry, ready });
  node.log('info', 'metadata store serving', {
    grpc: `${s.bindAddress}:${store.grpcPort}`,
    advertised: config.address,
    metrics: `${s.bindAddress}:${probes.port}`,
    cluster: s.clusterName,
  });
  const shutdown = (reason: string) => node.shutdown(reason);
  return { store, grpcPort: store.grpcPort!, metricsPort: probes.port, shutdown };
}

function openStore(
  s: MetadataStoreSettings,
  config: ResolvedConfig,
  logger: Logger,
  metrics: MetadataMetrics,
): Promise<MetadataStore> {
  return createMetadataStore({
    nodeId: config.nodeId,
    clusterName: s.clusterName,
    dataDir: s.dataDir,
    peers: config.peers,
    join: s.join,
    address: config.address,
    grpcHost: s.bindAddress,
    grpcPort: s.nodePort,
    tickMs: s.tickInterval,
    electionTicks: config.electionTicks,
    heartbeatTicks: config.heartbeatTicks,
    snapshotEvery: s.snapshotEvery,
    maxValueBytes: s.maxValueSize,
    writeTimeoutMs: s.writeTimeout,
    logger,
    metrics,
  });
}

/** The metadata library's logger interface over the node's log lines. */
function metadataLogger(node: NodeLifecycle): Logger {
  return {
    debug: (m, f) => node.log('debug', m, f),
    info: (m, f) => node.log('info', m, f),
    warn: (m, f) => node.log('warn', m, f),
    error: (m, f) => node.log('error', m, f),
  };
}
