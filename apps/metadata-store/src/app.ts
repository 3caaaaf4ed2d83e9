import { createMetadataStore, type Logger, type MetadataStore } from '@stead/metadata';
import { createLogger, createRegistry, type ProbeServer, startProbeServer } from '@stead/observability';
import { registerMetadataMetrics } from './metrics.ts';
import { type MetadataStoreSettings, resolveConfig } from './settings.ts';

export interface RunningMetadataStore {
  readonly store: MetadataStore;
  readonly probes: ProbeServer;
  readonly grpcPort: number;
  /** Graceful stop: hand leadership over, stop serving, close the data dir. */
  shutdown(reason: string): Promise<void>;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

/** Wires config → member → gRPC + probes. Throws StartupError with a clear message for bad setups. */
export async function startMetadataStore(s: MetadataStoreSettings): Promise<RunningMetadataStore> {
  const { config, problems } = resolveConfig(s);
  if (!config) throw new StartupError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  const base = createLogger('metadata-store');
  const log: Logger = {
    debug: (m, f) => base('debug', m, { node: config.nodeId, ...f }),
    info: (m, f) => base('info', m, { node: config.nodeId, ...f }),
    warn: (m, f) => base('warn', m, { node: config.nodeId, ...f }),
    error: (m, f) => base('error', m, { node: config.nodeId, ...f }),
  };
  let store: MetadataStore;
  try {
    store = await createMetadataStore({
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
      logger: log,
    });
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
  let stopping = false;
  const registry = createRegistry({ component: 'metadata-store', node: config.nodeId });
  registerMetadataMetrics(registry, store.node);
  let probes: ProbeServer;
  try {
    probes = await startProbeServer({
      host: s.bindAddress,
      port: s.metricsPort,
      registry,
      ready: () => !stopping && store.node.isReady(),
    });
  } catch (e) {
    await store.close();
    throw new StartupError(`cannot serve metrics on ${s.bindAddress}:${s.metricsPort}: ${(e as Error).message}`);
  }
  log.info('metadata store serving', {
    grpc: `${s.bindAddress}:${store.grpcPort}`,
    advertised: config.address,
    metrics: `${s.bindAddress}:${probes.port}`,
    cluster: s.clusterName,
  });
  return {
    store,
    probes,
    grpcPort: store.grpcPort!,
    async shutdown(reason) {
      if (stopping) return;
      stopping = true;
      log.info('shutting down', { reason });
      const timer = setTimeout(() => {
        log.error('shutdown timed out; exiting', { timeoutMs: s.shutdownTimeout });
        process.exit(1);
      }, s.shutdownTimeout);
      timer.unref();
      await store.close({ handOver: true });
      await probes.close();
      clearTimeout(timer);
      log.info('stopped');
    },
  };
}
