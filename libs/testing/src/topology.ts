import { join } from 'node:path';
import { type ClusterRole, LocalCluster, type LocalClusterOptions } from './local-cluster.ts';
import { type Cleanup, httpOk } from './process.ts';
import { SteadServer } from './servers.ts';

/**
 * Which Stead the end-to-end suites run against: the one-process server (default) or a local cluster of real
 * processes (3 workers, replication 2). `STEAD_E2E_TOPOLOGY=cluster` selects the cluster; the suites are the same.
 */
export type Topology = 'single' | 'cluster';

export const TOPOLOGY: Topology = process.env.STEAD_E2E_TOPOLOGY === 'cluster' ? 'cluster' : 'single';

/**
 * The highest service protocol version the Stead of the suites negotiates: `STEAD_E2E_PROTOCOL=6` runs them as
 * Restate does without its v7 flag (every Stead `startStead` starts gets `--max-service-protocol-version`);
 * unset, the server's default (7).
 */
export const E2E_PROTOCOL: number | undefined = protocolFromEnv(process.env.STEAD_E2E_PROTOCOL);

function protocolFromEnv(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 5 || n > 7) throw new Error(`STEAD_E2E_PROTOCOL must be 5, 6 or 7, got '${v}'`);
  return n;
}

/** A running Stead as the suites use it, whichever the topology. */
export interface SteadUnderTest {
  readonly topology: Topology;
  readonly ingressUrl: string;
  /** host:port of the gRPC ingress (the first ingress's, in a cluster). */
  readonly grpcIngressAddress: string;
  readonly adminUrl: string;
  /** Metrics endpoints of the processes that run partitions: the server, or every worker. */
  readonly metricsUrls: readonly string[];
  /** Registers a deployment through the admin API (throws on a status other than 200/201). */
  register(uri: string): Promise<unknown>;
  /**
   * Stops what runs partitions gracefully and starts it again on the same data: the server, or every worker
   * (all down, then all up: no replica keeps the partitions' state in memory). `env` replaces the environment
   * added to the test's for this and later starts (e.g. libfaketime).
   */
  restart(opts?: { env?: NodeJS.ProcessEnv }): Promise<void>;
  /** kill -9 of the server, or of every worker; `start()` brings them back. */
  kill9(): Promise<void>;
  /** Starts again what `kill9()` (or a crash) stopped: the server, or every worker that is not running. */
  start(): Promise<void>;
  /** Whether every process that runs partitions is running. */
  running(): boolean;
  /** Whether every process that runs partitions answers its health probe. */
  healthy(): Promise<boolean>;
  /** The sum over `metricsUrls` of a metric (its first sample in each, labels ignored); undefined when absent. */
  metric(name: string): Promise<number | undefined>;
  /** The last output of the processes that run partitions (for failure messages). */
  output(): string;
  /**
   * Ends it when a test is done with it, the data left for `cleanup` to delete: the server stops (SIGTERM), a
   * cluster is killed (`LocalCluster.killAll`: a graceful stop of every process at once only waits out timeouts).
   */
  stop(): Promise<void>;
  /** The one-process server, when the topology is single. */
  readonly server?: SteadServer;
  /** The cluster, when the topology is one (to kill or pause its processes). */
  readonly cluster?: LocalCluster;
}

/** The first sample of the metric `name` (labels ignored) at `metricsUrl`, or undefined. */
async function metricAt(metricsUrl: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${metricsUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

async function metricSum(urls: readonly string[], name: string): Promise<number | undefined> {
  const values = (await Promise.all(urls.map((u) => metricAt(u, name)))).filter((v) => v !== undefined);
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}

async function allHealthy(urls: readonly string[]): Promise<boolean> {
  return (await Promise.all(urls.map((u) => httpOk(`${u}/health`)))).every(Boolean);
}

/**
 * Which deployables of a cluster take a server flag (`--name` or `--name=value`). The one-process server takes
 * them all; in a cluster each goes where the setting lives.
 */
const FLAG_ROLES: [RegExp, ClusterRole[]][] = [
  [/^--(retry-|inactivity-timeout|abort-timeout|default-|max-service-protocol-version)/, ['worker', 'admin']],
  [
    /^--(max-concurrent-invocations|max-state-value-size|max-partition-backlog|partition-cache-size|log-cache-size)/,
    ['worker'],
  ],
  [/^--(max-body-size|http-idle-timeout|max-connections|cors-|auth-tokens-file|http-tls-)/, ['ingress', 'admin']],
  [/^--unjournaled-headers/, ['ingress']],
  [/^--(admin-cors-allowed-origins|allow-link-local-deployments|max-discovery-response-size)/, ['admin']],
  // The admin signs discovery, every worker its invocations.
  [/^--request-identity-/, ['worker', 'admin']],
];

function splitFlags(args: readonly string[]): { roles: Partial<Record<ClusterRole, string[]>>; partitions?: number } {
  const roles: Partial<Record<ClusterRole, string[]>> = {};
  let partitions: number | undefined;
  for (let i = 0; i < args.length; i++) {
    let flag = args[i];
    if (!flag.includes('=') && i + 1 < args.length && !args[i + 1].startsWith('--')) flag = `${flag}=${args[++i]}`;
    if (flag.startsWith('--partitions=')) {
      partitions = Number(flag.slice('--partitions='.length));
      continue;
    }
    const entry = FLAG_ROLES.find(([re]) => re.test(flag));
    if (!entry) throw new Error(`the cluster topology does not know where the server flag ${flag} belongs`);
    for (const r of entry[1]) roles[r] = [...(roles[r] ?? []), flag];
  }
  return partitions === undefined ? { roles } : { roles, partitions };
}

async function registerAt(adminUrl: string, uri: string): Promise<unknown> {
  const res = await fetch(`${adminUrl}/deployments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uri }),
  });
  const body = await res.json();
  if (res.status !== 201 && res.status !== 200)
    throw new Error(`registration of ${uri} failed: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/**
 * Starts Stead in the topology the run asks for (`TOPOLOGY`, or `opts.topology`), with the one-process server's
 * flags `args`; stopped by `cleanup`.
 */
export async function startStead(
  cleanup: Cleanup,
  args: string[] = [],
  opts: {
    topology?: Topology;
    env?: NodeJS.ProcessEnv;
    /** The one-process server's data dir (e.g. on a small tmpfs); `cluster.dataDirs` places a cluster's. */
    dataDir?: string;
    /** More settings of the cluster (process counts, isolated processes), when the topology is one. */
    cluster?: Partial<Omit<LocalClusterOptions, 'dir' | 'extraArgs' | 'env'>>;
  } = {},
): Promise<SteadUnderTest> {
  const topology = opts.topology ?? TOPOLOGY;
  if (E2E_PROTOCOL !== undefined && !args.some((a) => a.startsWith('--max-service-protocol-version')))
    args = [...args, `--max-service-protocol-version=${E2E_PROTOCOL}`];
  if (topology === 'single') {
    const s = await SteadServer.start(cleanup, args, { env: opts.env, dataDir: opts.dataDir });
    return {
      topology,
      ingressUrl: s.ingressUrl,
      grpcIngressAddress: s.grpcIngressAddress,
      adminUrl: s.adminUrl,
      metricsUrls: [s.metricsUrl],
      server: s,
      register: (uri) => s.register(uri),
      restart: async (o = {}) => {
        await s.stop();
        if (o.env) s.env = { ...opts.env, ...o.env };
        await s.start();
      },
      kill9: () => s.kill9(),
      start: () => s.start(),
      running: () => s.proc?.running === true,
      healthy: () => httpOk(`${s.metricsUrl}/health`),
      metric: (name) => metricAt(s.metricsUrl, name),
      output: () => s.proc?.output() ?? '',
      stop: () => s.stop(),
    };
  }
  const { roles, partitions } = splitFlags(args);
  const dir = join(cleanup.tempDir('stead-cluster-'), 'cluster');
  const env = { ...process.env, STEAD_LOG_LEVEL: process.env.STEAD_LOG_LEVEL ?? 'info', ...opts.env };
  const cluster = await LocalCluster.up({
    dir,
    metadata: 1,
    logServers: 3,
    sequencers: 2,
    workers: 3,
    partitions: partitions ?? 4,
    partitionReplication: 2,
    logReplication: 2,
    ingressPort: 0,
    adminPort: 0,
    ...opts.cluster,
    // "Restart the server" restarts processes that keep their data: a log server stopped here is not leaving the
    // cluster, so it does not wait for its records to be copied elsewhere (e2e/test/elastic.test.ts drains).
    extraArgs: { ...roles, 'log-server': [...(roles['log-server'] ?? []), '--drain-on-shutdown=false'] },
    env,
    // A process's own environment adds to the cluster's.
    envs: Object.fromEntries(Object.entries(opts.cluster?.envs ?? {}).map(([name, e]) => [name, { ...env, ...e }])),
  });
  cleanup.add(() => cluster.killAll());
  const workers = cluster.processes.filter((p) => p.role === 'worker');
  const metricsUrls = workers.map((w) => `http://${w.host}:${w.metricsPort}`);
  const startWorkers = async (workerEnv?: NodeJS.ProcessEnv) => {
    const stopped = workers.filter((w) => !cluster.alive(w.name));
    await Promise.all(stopped.map((w) => cluster.restart(w.name, workerEnv ? { env: workerEnv } : {})));
  };
  return {
    topology,
    ingressUrl: cluster.ingressUrl,
    grpcIngressAddress: cluster.grpcIngressAddress,
    adminUrl: cluster.adminUrl,
    metricsUrls,
    cluster,
    // Registration goes through the admin; ingress and workers learn the schema from the metadata store. With
    // isolated workers the deployment is registered at the address they reach this namespace at.
    register: (uri) =>
      registerAt(cluster.adminUrl, uri.replace(/\/\/(127\.0\.0\.1|localhost)(?=[:/])/, `//${cluster.host}`)),
    restart: async (o = {}) => {
      await Promise.all(workers.map((w) => cluster.stop(w.name)));
      await startWorkers(o.env ? { ...env, ...o.env } : undefined);
    },
    kill9: async () => {
      await Promise.all(workers.map((w) => cluster.kill(w.name)));
    },
    start: () => startWorkers(),
    running: () => workers.every((w) => cluster.alive(w.name)),
    healthy: () => allHealthy(metricsUrls),
    metric: (name) => metricSum(metricsUrls, name),
    output: () => workers.map((w) => cluster.output(w.name)).join('\n'),
    stop: () => cluster.killAll(),
  };
}
