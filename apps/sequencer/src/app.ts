import { randomUUID } from 'node:crypto';
import { partitionLogIds } from '@stead/cluster';
import { resolveNodeLocation } from '@stead/kubernetes';
import {
  type AppendMetrics,
  ClusterDirectory,
  drainLogNode,
  GrpcLogServerClient,
  GrpcSequencerClient,
  realTimers,
  registerAppendMetrics,
  registerSequencerMetrics,
  SequencerHost,
  serveSequencer,
  updateNodes,
} from '@stead/log';
import { GrpcMetadataClient } from '@stead/metadata';
import {
  addressList,
  createRegistry,
  NodeLifecycle,
  type RunningNode,
  requireNodeId,
  resolveAdvertisedAddress,
  StartupError,
} from '@stead/runtime';
import type { SequencerSettings } from './settings.ts';

export interface RunningSequencer extends RunningNode {
  readonly id: string;
  readonly instance: string;
  readonly grpcPort: number;
  readonly metricsPort: number;
}

/** Wires config → metadata client → sequencer host → gRPC + probes, and registers this instance. */
export async function startSequencer(s: SequencerSettings): Promise<RunningSequencer> {
  const id = requireNodeId(s.nodeId);
  const addresses = addressList(s.metadataAddress);
  if (addresses.length === 0) throw new StartupError('--metadata-address: no metadata store address given');
  const instance = randomUUID();
  const node = new NodeLifecycle({
    component: 'sequencer',
    fields: { node: id },
    shutdownTimeoutMs: s.shutdownTimeout,
  });
  const location = await resolveNodeLocation(s.location, { log: node.log });
  const registry = createRegistry({ component: 'sequencer', node: id });
  const { metadata, host } = startHost(node, s, { id, instance, addresses, metrics: registerAppendMetrics(registry) });
  const server = await node.start(
    () => serveSequencer(host, { host: s.bindAddress, port: s.nodePort }),
    `cannot serve gRPC on ${s.bindAddress}:${s.nodePort}`,
  );
  node.onClose('grpc', () => server.close());
  const address = resolveAdvertisedAddress(s.advertisedAddress, server.port);
  registerSequencerMetrics(registry, host);
  let registered = false;
  const probes = await node.serveProbes({
    host: s.bindAddress,
    port: s.metricsPort,
    registry,
    ready: () => registered,
  });
  await node.start(
    () =>
      updateNodes(metadata, (c) => ({
        ...c,
        sequencers: { ...c.sequencers, [id]: { address, instance, ...(location ? { zone: location } : {}) } },
      })),
    `cannot register in the metadata store at ${addresses.join(',')}`,
  );
  registered = true;
  // Registered last, so it runs first at shutdown: while this host still sequences, it is marked draining and the
  // active admin's rebalancer moves its open segments to other sequencers.
  node.onClose('drain', async () => {
    await drainLogNode({
      metadata,
      id,
      kind: 'sequencer',
      logIds: () => partitionLogIds(metadata),
      timeoutMs: Math.floor(s.shutdownTimeout / 2),
      log: node.log,
    });
  });
  const grpc = `${s.bindAddress}:${server.port}`;
  node.log('info', 'sequencer serving', { grpc, advertised: address, instance, metrics: probes.port });
  const shutdown = (reason: string) => node.shutdown(reason);
  return { id, instance, grpcPort: server.port, metricsPort: probes.port, shutdown };
}

/** The metadata client, the directory of log servers and the sequencer host, closed at shutdown in reverse. */
function startHost(
  node: NodeLifecycle,
  s: SequencerSettings,
  who: { id: string; instance: string; addresses: string[]; metrics: AppendMetrics },
) {
  const { id, instance, addresses } = who;
  const metadata = new GrpcMetadataClient({ addresses });
  node.onClose('metadata client', () => metadata.close());
  const directory = new ClusterDirectory({
    metadata,
    connectLogServer: (addr) => new GrpcLogServerClient(addr),
    connectSequencer: (addr) => new GrpcSequencerClient(addr),
    replication: { scope: 'node', count: 1 },
  });
  node.onClose('directory', () => directory.close());
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
      window: { maxBytes: s.readWindowSize },
      metrics: who.metrics,
    },
  });
  node.onClose('sequencer host', () => host.close());
  return { metadata, host };
}
