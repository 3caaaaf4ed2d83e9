import { hostname } from 'node:os';
import {
  DataDirError,
  LevelDbLogServerStorage,
  LogServerCore,
  type LogServerGrpcServer,
  serveLogServer,
  updateNodes,
} from '@stead/log';
import { GrpcMetadataClient } from '@stead/metadata';
import { createLogger, createRegistry, type ProbeServer, readGauge, startProbeServer } from '@stead/observability';
import { Gauge } from 'prom-client';
import type { LogServerSettings } from './settings.ts';

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface RunningLogServer {
  readonly id: string;
  readonly grpcPort: number;
  readonly metricsPort: number;
  shutdown(reason: string): Promise<void>;
}

/** Wires config → data dir (identity checked) → core → gRPC + probes (+ registration when a metadata store is given). */
export async function startLogServer(s: LogServerSettings): Promise<RunningLogServer> {
  const zone = s.zone === 'none' ? undefined : s.zone;
  const id = s.nodeId === 'auto' ? hostname() : s.nodeId;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
    throw new StartupError(`--node-id / STEAD_NODE_ID: '${id}' must be 1-64 letters, digits, '.', '_' or '-'`);
  const base = createLogger('log-server');
  const log = (level: 'info' | 'warn' | 'error', msg: string, f?: Record<string, unknown>) =>
    base(level, msg, { node: id, ...f });
  let storage: LevelDbLogServerStorage;
  try {
    storage = await LevelDbLogServerStorage.open(s.dataDir, { clusterName: s.clusterName, nodeId: id });
  } catch (e) {
    if (e instanceof DataDirError) throw new StartupError(e.message);
    throw new StartupError(`cannot open data dir ${s.dataDir}: ${(e as Error).message}`);
  }
  const core = new LogServerCore(storage);
  let server: LogServerGrpcServer;
  try {
    server = await serveLogServer(core, {
      host: s.bindAddress,
      port: s.nodePort,
      identity: { nodeId: id, clusterName: s.clusterName },
    });
  } catch (e) {
    await storage.close();
    throw new StartupError(`cannot serve gRPC on ${s.bindAddress}:${s.nodePort}: ${(e as Error).message}`);
  }
  const registry = createRegistry({ component: 'log-server', node: id });
  const stat = (name: string, help: string, pick: () => number) => readGauge(registry, name, help, pick);
  stat('stead_log_server_stores', 'Store requests written', () => core.stats.stores);
  stat('stead_log_server_records', 'Records written', () => core.stats.records);
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
  let stopping = false;
  let probes: ProbeServer;
  try {
    probes = await startProbeServer({ host: s.bindAddress, port: s.metricsPort, registry, ready: () => !stopping });
  } catch (e) {
    await server.close();
    await storage.close();
    throw new StartupError(`cannot serve metrics on ${s.bindAddress}:${s.metricsPort}: ${(e as Error).message}`);
  }
  const address = s.advertisedAddress === 'auto' ? `${hostname()}:${server.port}` : s.advertisedAddress;
  if (s.metadataAddress !== 'none') {
    const metadata = new GrpcMetadataClient({ addresses: s.metadataAddress.split(',').map((a) => a.trim()) });
    try {
      await updateNodes(metadata, (c) => ({
        ...c,
        logServers: { ...c.logServers, [id]: zone ? { address, zone } : { address } },
      }));
    } catch (e) {
      await probes.close();
      await server.close();
      await storage.close();
      throw new StartupError(`cannot register in the metadata store at ${s.metadataAddress}: ${(e as Error).message}`);
    } finally {
      await metadata.close();
    }
  }
  log('info', 'log server serving', {
    grpc: `${s.bindAddress}:${server.port}`,
    advertised: address,
    dataDir: s.dataDir,
    zone,
    metrics: probes.port,
  });
  return {
    id,
    grpcPort: server.port,
    metricsPort: probes.port,
    async shutdown(reason) {
      if (stopping) return;
      stopping = true;
      log('info', 'shutting down', { reason });
      const timer = setTimeout(() => {
        log('error', 'shutdown timed out; exiting', { timeoutMs: s.shutdownTimeout });
        process.exit(1);
      }, s.shutdownTimeout);
      timer.unref();
      await server.close();
      await probes.close();
      await storage.close();
      clearTimeout(timer);
      log('info', 'stopped');
    },
  };
}
