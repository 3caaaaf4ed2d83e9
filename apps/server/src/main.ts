#!/usr/bin/env node
/**
 * stead-server: every role in one process (the embedded default). Data lives in --data-dir.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { mountInvocationRoutes, SchemaRegistry, startAdminServer } from '@stead/admin';
import { ConfigError, corsPolicy, helpText, type InvocationDefaults, loadSettings } from '@stead/core';
import { invocationRoutes, startIngressServer } from '@stead/ingress';
import { discover } from '@stead/invoker';
import { createMetadataStore, type MetadataStore, Precondition } from '@stead/metadata';
import { createLogger, createRegistry, readGauge, startProbeServer } from '@stead/observability';
import { Engine, fixPartitionCount, metadataEpochs, PartitionCountMismatch } from '@stead/partition';
import { Gauge } from 'prom-client';
import { serverSettings } from './settings.ts';

const VERSION = '0.1.0';

async function main(): Promise<void> {
  let loaded: ReturnType<typeof loadSettings<typeof serverSettings>>;
  try {
    loaded = loadSettings(serverSettings, process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`stead-server: ${err.message}\n\nRun with --help to see every setting.\n`);
      process.exit(2);
    }
    throw err;
  }
  if (loaded.help) {
    process.stdout.write(`${helpText(`stead-server ${VERSION}: the all-in-one Stead server`, serverSettings)}\n`);
    return;
  }
  const s = loaded.settings;
  if (s.retryOnMaxAttempts !== 'pause' && s.retryOnMaxAttempts !== 'kill') {
    process.stderr.write(
      `stead-server: invalid configuration:\n  - flag --retry-on-max-attempts: expected pause or kill, got '${s.retryOnMaxAttempts}'\n`,
    );
    process.exit(2);
  }
  const log = createLogger('server');
  const dataDir = resolve(s.dataDir);
  mkdirSync(dataDir, { recursive: true });

  let ready = false;
  let stopping = false;
  const registry = createRegistry({ role: 'server' });
  const probes = await startProbeServer({
    host: s.bindAddress,
    port: s.metricsPort,
    registry,
    ready: () => ready && !stopping,
  });

  // The single-member metadata store (the same code as the metadata-store deployable), its gRPC API on the
  // node port for cluster tools and the deployables that join later.
  let metadata: MetadataStore;
  try {
    metadata = await createMetadataStore({
      nodeId: 'server',
      clusterName: 'stead',
      dataDir: join(dataDir, 'metadata'),
      grpcHost: s.nodeBindAddress,
      grpcPort: s.nodePort,
      address: `${s.nodeBindAddress === '0.0.0.0' ? hostname() : s.nodeBindAddress}:${s.nodePort}`,
    });
  } catch (err) {
    throw new Error(
      `cannot start the embedded metadata store on ${s.nodeBindAddress}:${s.nodePort}: ${(err as Error).message}`,
    );
  }
  try {
    await fixPartitionCount(metadata.client, s.partitions);
  } catch (err) {
    if (!(err instanceof PartitionCountMismatch)) throw err;
    log('error', 'refusing to start', { error: err.message });
    process.stderr.write(`stead-server: refusing to start: ${err.message}\n`);
    await metadata.close();
    process.exit(1);
  }
  const server = { version: VERSION, startedAt: new Date().toISOString(), partitions: s.partitions };
  await metadata.client.put('cluster/server', new TextEncoder().encode(JSON.stringify(server)), Precondition.none);

  // One set of defaults for the engine and the admin API, so that what the admin API shows is what runs.
  const defaults: InvocationDefaults = {
    journalRetentionMs: s.defaultJournalRetention,
    idempotencyRetentionMs: s.defaultIdempotencyRetention,
    workflowCompletionRetentionMs: s.defaultWorkflowCompletionRetention,
    inactivityTimeoutMs: s.inactivityTimeout,
    abortTimeoutMs: s.abortTimeout,
    retry: {
      initialIntervalMs: s.retryInitialInterval,
      factor: s.retryFactor,
      maxIntervalMs: s.retryMaxInterval,
      maxAttempts: s.retryMaxAttempts === 0 ? undefined : s.retryMaxAttempts,
      onMaxAttempts: s.retryOnMaxAttempts === 'kill' ? 'KILL' : 'PAUSE',
    },
  };
  const schema = await SchemaRegistry.open({
    dataDir,
    discover,
    minProtocolVersion: 5,
    maxProtocolVersion: 7,
    allowLinkLocal: s.allowLinkLocalDeployments,
    maxDiscoveryResponseBytes: s.maxDiscoveryResponseSize,
  });
  const engine = await Engine.start({
    dataDir,
    partitions: s.partitions,
    schema,
    defaults,
    maxStateValueBytes: s.maxStateValueSize,
    maxConcurrentInvocations: s.maxConcurrentInvocations,
    maxPartitionBacklog: s.maxPartitionBacklog,
    partitionCacheBytes: s.partitionCacheSize,
    logCacheBytes: s.logCacheSize,
    epochs: metadataEpochs(metadata.client),
    log,
    onFatal: (err) => {
      log('error', 'fatal: exiting so that a restart recovers from what is durable', { error: err });
      process.exit(1);
    },
  });
  const stat = (name: string, help: string, pick: () => number) => readGauge(registry, name, help, pick);
  stat('stead_invoker_running_invocations', 'Invocation attempts running', () => engine.runningInvocations);
  stat(
    'stead_invoker_waiting_invocations',
    'Invocations waiting for a slot (--max-concurrent-invocations)',
    () => engine.waitingInvocations,
  );
  stat(
    'stead_ingress_refused_requests',
    'Ingress requests refused as overload (503/429)',
    () => engine.refusedRequests,
  );
  new Gauge({
    name: 'stead_partition_backlog_records',
    help: 'Records appended to a partition log and not yet applied (with appends in flight)',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      for (const [p, n] of engine.partitionBacklogs.entries()) this.set({ partition: String(p) }, n);
    },
  });
  const admin = await startAdminServer({
    host: s.bindAddress,
    port: s.adminPort,
    registry: schema,
    version: VERSION,
    ingressEndpoint: `http://${s.bindAddress === '0.0.0.0' ? '127.0.0.1' : s.bindAddress}:${s.ingressPort}`,
    serviceDefaults: defaults,
    pinnedInvocations: (id) => engine.pinnedInvocations(id),
    extend: (router) => mountInvocationRoutes(router, engine),
    onError: (err) => log('error', 'admin request failed', { error: err }),
    cors: corsPolicy(s.adminCorsAllowedOrigins, s.corsAllowCredentials),
    idleTimeoutMs: s.httpIdleTimeout,
    maxConnections: s.maxConnections,
  });
  const ingress = await startIngressServer({
    host: s.bindAddress,
    port: s.ingressPort,
    backend: engine,
    schema,
    maxBodyBytes: s.maxBodySize,
    routes: invocationRoutes(engine, schema),
    onError: (err) => log('error', 'ingress request failed', { error: err }),
    cors: corsPolicy(s.corsAllowedOrigins, s.corsAllowCredentials),
    idleTimeoutMs: s.httpIdleTimeout,
    maxConnections: s.maxConnections,
  });
  ready = true;
  log('info', 'stead-server ready', {
    version: VERSION,
    dataDir,
    ingress: `http://${s.bindAddress}:${ingress.port}`,
    admin: `http://${s.bindAddress}:${admin.port}`,
    metrics: `http://${s.bindAddress}:${probes.port}/metrics`,
    partitions: s.partitions,
  });

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'shutting down', { signal });
    const force = setTimeout(() => {
      log('warn', 'shutdown timed out; exiting');
      process.exit(1);
    }, s.shutdownTimeout);
    force.unref();
    await ingress.close();
    await admin.close();
    await engine.close();
    await metadata.close();
    await probes.close();
    log('info', 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`stead-server: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
