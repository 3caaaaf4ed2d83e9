import { join } from 'node:path';
import { type ClusterRole, LocalCluster, type LocalClusterOptions } from './local-cluster.ts';
import type { Cleanup } from './process.ts';
import { SteadServer } from './servers.ts';

/**
 * Which Stead the end-to-end suites run against: the one-process server (default) or a local cluster of real
 * processes (3 workers, replication 2). `STEAD_E2E_TOPOLOGY=cluster` selects the cluster; the suites are the same.
 */
export type Topology = 'single' | 'cluster';

export const TOPOLOGY: Topology = process.env.STEAD_E2E_TOPOLOGY === 'cluster' ? 'cluster' : 'single';

/** A running Stead as the suites use it, whichever the topology. */
export interface SteadUnderTest {
  readonly topology: Topology;
  readonly ingressUrl: string;
  readonly adminUrl: string;
  /** Registers a deployment through the admin API (throws on a status other than 200/201). */
  register(uri: string): Promise<unknown>;
  stop(): Promise<void>;
  /** The cluster, when the topology is one (to kill or pause its processes). */
  readonly cluster?: LocalCluster;
}

/**
 * Which deployables of a cluster take a server flag (`--name` or `--name=value`). The one-process server takes
 * them all; in a cluster each goes where the setting lives.
 */
const FLAG_ROLES: [RegExp, ClusterRole[]][] = [
  [/^--(retry-|inactivity-timeout|abort-timeout|default-)/, ['worker', 'admin']],
  [
    /^--(max-concurrent-invocations|max-state-value-size|max-partition-backlog|partition-cache-size|log-cache-size)/,
    ['worker'],
  ],
  [/^--(max-body-size|http-idle-timeout|max-connections|cors-)/, ['ingress', 'admin']],
  [/^--(admin-cors-allowed-origins|allow-link-local-deployments|max-discovery-response-size)/, ['admin']],
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
    /** More settings of the cluster (process counts, isolated processes), when the topology is one. */
    cluster?: Partial<Omit<LocalClusterOptions, 'dir' | 'extraArgs' | 'env'>>;
  } = {},
): Promise<SteadUnderTest> {
  const topology = opts.topology ?? TOPOLOGY;
  if (topology === 'single') {
    const s = await SteadServer.start(cleanup, args, { env: opts.env });
    return {
      topology,
      ingressUrl: s.ingressUrl,
      adminUrl: s.adminUrl,
      register: (uri) => s.register(uri),
      stop: () => s.stop(),
    };
  }
  const { roles, partitions } = splitFlags(args);
  const dir = join(cleanup.tempDir('stead-cluster-'), 'cluster');
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
    extraArgs: roles,
    env: { ...process.env, STEAD_LOG_LEVEL: process.env.STEAD_LOG_LEVEL ?? 'info', ...opts.env },
  });
  cleanup.add(() => cluster.down());
  return {
    topology,
    ingressUrl: cluster.ingressUrl,
    adminUrl: cluster.adminUrl,
    cluster,
    // Registration goes through the admin; ingress and workers learn the schema from the metadata store. With
    // isolated workers the deployment is registered at the address they reach this namespace at.
    register: (uri) =>
      registerAt(cluster.adminUrl, uri.replace(/\/\/(127\.0\.0\.1|localhost)(?=[:/])/, `//${cluster.host}`)),
    stop: () => cluster.down(),
  };
}
