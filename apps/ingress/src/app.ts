import { MetadataSchemaStore, SchemaRegistry } from '@stead/admin';
import { httpSecurity, RemoteBackend, routing, TableLeaders, WorkerClients } from '@stead/cluster';
import { corsPolicy } from '@stead/core';
import { invocationRoutes, registerIngressMetrics, startGrpcIngress, startIngressServer } from '@stead/ingress';
import { resolveNodeLocation } from '@stead/kubernetes';
import { GrpcMetadataClient } from '@stead/metadata';
import {
  addressList,
  createRegistry,
  NodeLifecycle,
  type RunningNode,
  readGauge,
  requireNodeId,
  StartupError,
} from '@stead/runtime';
import type { IngressSettings } from './settings.ts';

/**
 * Wires config → metadata client → schema (read from the metadata store, followed) and partition table → the
 * ingress HTTP API, which forwards every request to the leader of its partition. Stateless: any number of them.
 */
export async function startIngress(s: IngressSettings): Promise<RunningNode> {
  const id = requireNodeId(s.nodeId);
  const addresses = addressList(s.metadataAddress);
  if (addresses.length === 0) throw new StartupError('--metadata-address: no metadata store address given');
  const node = new NodeLifecycle({ component: 'ingress', fields: { node: id }, shutdownTimeoutMs: s.shutdownTimeout });
  // Before anything starts: a token file or certificate that cannot be used stops the process at once.
  const security = httpSecurity(s, node.log);
  if (security.auth) node.onClose('token file watch', async () => security.auth?.close());
  // The ingress places nothing; a malformed --location is still refused, and kubernetes:<node> logged.
  await resolveNodeLocation(s.location, { log: node.log });
  const metadata = new GrpcMetadataClient({ addresses });
  node.onClose('metadata client', () => metadata.close());
  const schema = await node.start(
    () => SchemaRegistry.open({ store: new MetadataSchemaStore({ client: metadata }) }),
    'cannot read the schema from the metadata store',
  );
  node.onClose('schema', () => schema.close());
  const leaders = await node.start(
    () => TableLeaders.start({ client: metadata, log: node.log }),
    'cannot read the partition table',
  );
  node.onClose('partition table', () => leaders.close());
  const workers = new WorkerClients();
  node.onClose('worker clients', () => workers.close());
  const backend = new RemoteBackend({ leaders, connect: (a) => workers.get(a), ...routing(schema) });
  node.onClose('forwarding', () => backend.close());
  const registry = createRegistry({ component: 'ingress', node: id });
  readGauge(
    registry,
    'stead_ingress_forward_retries',
    'Requests sent again to a new partition leader',
    () => backend.retries,
  );
  const ingress = await node.start(
    () =>
      startIngressServer({
        host: s.bindAddress,
        port: s.ingressPort,
        backend,
        schema,
        maxBodyBytes: s.maxBodySize,
        routes: invocationRoutes(backend, schema),
        refreshSchema: async () => {
          await schema.refresh();
        },
        onError: (err) => node.log('error', 'ingress request failed', { error: err }),
        cors: corsPolicy(s.corsAllowedOrigins, s.corsAllowCredentials),
        idleTimeoutMs: s.httpIdleTimeout,
        maxConnections: s.maxConnections,
        metrics: registerIngressMetrics(registry),
        auth: security.auth,
        tls: security.tls,
        onTlsReload: security.onTlsReload,
        unjournaledHeaders: security.unjournaledHeaders,
      }),
    `cannot serve the ingress on ${s.bindAddress}:${s.ingressPort}`,
  );
  node.onClose('ingress', () => ingress.close());
  const grpcIngress = await node.start(
    () =>
      startGrpcIngress({
        host: s.bindAddress,
        port: s.grpcIngressPort,
        backend,
        schema,
        refreshSchema: async () => {
          await schema.refresh();
        },
        maxBodyBytes: s.maxBodySize,
        auth: security.auth,
        tls: security.tls,
        onTlsReload: security.onTlsReload,
        unjournaledHeaders: security.unjournaledHeaders,
        onError: (err) => node.log('error', 'gRPC ingress request failed', { error: err }),
      }),
    `cannot serve the gRPC ingress on ${s.bindAddress}:${s.grpcIngressPort}`,
  );
  node.onClose('gRPC ingress', () => grpcIngress.close());
  // Ready once every partition has a leader this ingress can reach.
  const probes = await node.serveProbes({
    host: s.bindAddress,
    port: s.metricsPort,
    registry,
    ready: () => leaders.complete,
  });
  node.log('info', 'ingress serving', {
    ingress: `${security.scheme}://${s.bindAddress}:${ingress.port}`,
    grpcIngress: `${s.bindAddress}:${grpcIngress.port}${security.tls ? ' (TLS)' : ''}`,
    metrics: probes.port,
    authentication: security.auth ? `bearer tokens from ${security.auth.file}` : 'off',
  });
  return { shutdown: (reason) => node.shutdown(reason) };
}
