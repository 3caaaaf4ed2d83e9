import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  ClusterDirectory,
  GrpcLogServerClient,
  GrpcSequencerClient,
  realTimers,
  SequencerHost,
  type SequencerServer,
  serveSequencer,
  updateNodes,
} from '@stead/log';
import { GrpcMetadataClient } from '@stead/metadata';
import { createLogger, createRegistry, type ProbeServer, startProbeServer } from '@stead/observability';
import { Gauge } from 'prom-client';
import type { SequencerSettings } from './settings.ts';

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface RunningSequencer {
  readonly id: string;
  readonly instance: string;
  readonly grpcPort: number;
  readonly metricsPort: number;
  shutdown(reason: string): Promise<void>;
}

/** Wires config → metadata client → sequencer host → gRPC + probes, and registers this instance. */
export async function startSequencer(s: SequencerSettings): Promise<RunningSequencer> {
  const id = s.nodeId === 'auto' ? hostname() : s.nodeId;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
    throw new StartupError(`--node-id / STEAD_NODE_ID: '${id}' must be 1-64 letters, digits, '.', '_' or '-'`);
  const addresses = s.metadataAddress
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (addresses.length === 0) throw new StartupError('--metadata-address: no metadata store address given');
  const instance = randomUUID();
  const base = createLogger('sequencer');
  const log = (level: 'info' | 'warn' | 'error', msg: string, f?: Record<string, unknown>) =>
    base(level, msg, { node: id, ...f });
  const metadata = new GrpcMetadataClient({ addresses });
  const directory = new ClusterDirectory({
    metadata,
    connectLogServer: (addr) => new GrpcLogServerClient(addr),
    connectSequencer: (addr) => new GrpcSequencerClient(addr),
    replication: { scope: 'node', count: 1 },
  });
  const host = new SequencerHost({
    id,
    instance,
    metadata,
    logServers: directory.logServers,
    timers: realTimers,
    random: Math.random,
    sequencer: {
      storeTimeoutMs: s.storeTimeout,
      maxInflightWaves: s.maxInflightWaves,
      maxWaveRecords: s.maxWaveRecords,
      maxWaveBytes: s.maxWaveSize,
    },
  });
  let server: SequencerServer;
  try {
    server = await serveSequencer(host, { host: s.bindAddress, port: s.nodePort });
  } catch (e) {
    await metadata.close();
    throw new StartupError(`cannot serve gRPC on ${s.bindAddress}:${s.nodePort}: ${(e as Error).message}`);
  }
  const address = s.advertisedAddress === 'auto' ? `${hostname()}:${server.port}` : s.advertisedAddress;
  const registry = createRegistry({ component: 'sequencer', node: id });
  const counters = (
    name: string,
    help: string,
    pick: (st: { appends: number; records: number; waves: number; spills: number }) => number,
  ) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      labelNames: ['loglet'],
      collect() {
        this.reset();
        for (const [loglet, core] of host.loglets()) this.set({ loglet }, pick(core.stats));
      },
    });
  counters('stead_sequencer_appends', 'Append requests accepted per loglet', (x) => x.appends);
  counters('stead_sequencer_records', 'Records sequenced per loglet', (x) => x.records);
  counters('stead_sequencer_waves', 'Batches (waves) sent to log servers per loglet', (x) => x.waves);
  counters('stead_sequencer_spills', 'Stores re-sent to another log server after a failure', (x) => x.spills);
  new Gauge({
    name: 'stead_sequencer_released_tail',
    help: 'Released (acknowledged) tail per loglet',
    registers: [registry],
    labelNames: ['loglet'],
    collect() {
      this.reset();
      for (const [loglet, core] of host.loglets()) this.set({ loglet }, Number(core.tail));
    },
  });
  let registered = false;
  let stopping = false;
  let probes: ProbeServer;
  try {
    probes = await startProbeServer({
      host: s.bindAddress,
      port: s.metricsPort,
      registry,
      ready: () => registered && !stopping,
    });
  } catch (e) {
    await server.close();
    await metadata.close();
    throw new StartupError(`cannot serve metrics on ${s.bindAddress}:${s.metricsPort}: ${(e as Error).message}`);
  }
  try {
    await updateNodes(metadata, (c) => ({ ...c, sequencers: { ...c.sequencers, [id]: { address, instance } } }));
    registered = true;
  } catch (e) {
    await probes.close();
    await server.close();
    await metadata.close();
    throw new StartupError(`cannot register in the metadata store at ${addresses.join(',')}: ${(e as Error).message}`);
  }
  log('info', 'sequencer serving', {
    grpc: `${s.bindAddress}:${server.port}`,
    advertised: address,
    instance,
    metrics: probes.port,
  });
  return {
    id,
    instance,
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
      host.close();
      await server.close();
      await probes.close();
      directory.close();
      await metadata.close();
      clearTimeout(timer);
      log('info', 'stopped');
    },
  };
}
