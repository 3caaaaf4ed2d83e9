// The two clusters `npm run bench -- --topology cluster` compares, both of real processes on loopback in temp
// dirs: a local Stead cluster (LocalCluster: 3 workers, partition replication 2) and a 3-node restate-server
// cluster (every node with all roles, replication 2, the first node auto-provisioning). Each is a ClusterTarget:
// the URLs the load goes to, the processes whose CPU and memory we sample, which node leads how many
// partitions, and kill -9 / restart / "whole again" for the failover rounds.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cleanup, freePort, httpOk, Proc, waitFor } from '@stead/testing';
import { type ClusterRole, LocalCluster } from '@stead/testing/local-cluster';
import type { DataDir } from './disk.ts';
import { restateClusterState, restateNodeId } from './restate-introspect.ts';
import { RESTATE_BIN, steadVersion, type Target } from './targets.ts';

export type ClusterName = 'stead-cluster' | 'restate-cluster';

export interface ClusterTarget {
  name: ClusterName;
  version: string;
  /** Where the SDK service is registered. */
  admin: string;
  /** Killable nodes (Stead: the workers; Restate: every node), in a fixed order. */
  nodes: readonly string[];
  /** An ingress URL served by a process other than `avoid` (any when `avoid` is undefined). */
  ingress(avoid?: string): string;
  /** Name of the process that serves `ingress(avoid)` (for the report). */
  ingressNode(avoid?: string): string;
  /** Pids of every process of the cluster now (they change on restart). */
  pids(): number[];
  /** Partitions led per node (nodes leading none are absent); throws when the cluster cannot tell. */
  leaders(): Promise<Map<string, number>>;
  kill(node: string): Promise<void>;
  restart(node: string): Promise<void>;
  /** Whether every node runs and every partition has a leader and its full replica set again. */
  whole(): Promise<boolean>;
  /**
   * Starts one more node (Stead: a worker; Restate: a restate-server with every role joining the cluster), waits
   * until it serves, adds it to `nodes` and returns its name.
   */
  addNode(): Promise<string>;
  /** Partitions of the cluster. */
  partitions(): Promise<number>;
  /** Data dirs of the cluster's processes now (added nodes included), each with the role it serves. */
  dataDirs(): { role: string; dir: string }[];
  /** Last output of the cluster's processes (for failure reports). */
  output(): string;
  /** (Stead) Prometheus endpoints of the running processes of a role (e.g. `worker`, `admin`). */
  metricsUrls?(role: string): string[];
}

/** The node leading the most partitions (ties: the first in `nodes` order), and how many it leads. */
export async function busiestLeader(t: ClusterTarget): Promise<{ node: string; partitions: number }> {
  const led = await t.leaders();
  let best = { node: '', partitions: -1 };
  for (const node of t.nodes) {
    const n = led.get(node) ?? 0;
    if (n > best.partitions) best = { node, partitions: n };
  }
  return best;
}

// ---------------------------------------------------------------------------------------------------------------
// restate-server × 3

interface RestateNode {
  name: string;
  config: string;
  ports: { node: number; ingress: number; admin: number };
  proc?: Proc;
}

const RESTATE_NODES = 3;

/** The settings of one node: the TOML file restate-server reads with `--config-file`. */
function restateConfig(
  node: RestateNode,
  base: string,
  metadataPeers: readonly string[],
  o: { replication: number; partitions: number; autoProvision: boolean },
): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    `node-name = ${q(node.name)}`,
    `cluster-name = "stead-bench"`,
    `base-dir = ${q(base)}`,
    // Only the first node creates the cluster; the others join it through the metadata servers.
    `auto-provision = ${o.autoProvision}`,
    `default-replication = ${o.replication}`,
    `default-num-partitions = ${o.partitions}`,
    `listen-mode = "tcp"`,
    `bind-address = "127.0.0.1:${node.ports.node}"`,
    `advertised-address = "http://127.0.0.1:${node.ports.node}/"`,
    `disable-telemetry = true`,
    `log-filter = "warn"`,
    `log-disable-ansi-codes = true`,
    '',
    '[metadata-client]',
    `addresses = [${metadataPeers.map(q).join(', ')}]`,
    '',
    '[admin]',
    `bind-address = "127.0.0.1:${node.ports.admin}"`,
    'disable-web-ui = true',
    '',
    '[ingress]',
    `bind-address = "127.0.0.1:${node.ports.ingress}"`,
    '',
  ].join('\n');
}

export interface RestateClusterOptions {
  replication?: number;
  /** Partitions at provisioning (restate-server's own default is 24). */
  partitions?: number;
  progress?: (line: string) => void;
}

/**
 * Three restate-server processes, every one with all roles (metadata server, log server, worker, admin, ingress),
 * each on its own loopback ports and base dir; node n1 auto-provisions the cluster, n2 and n3 join it.
 */
export async function startRestateCluster(cleanup: Cleanup, o: RestateClusterOptions = {}): Promise<ClusterTarget> {
  if (!existsSync(RESTATE_BIN)) throw new Error(`restate-server binary not found at ${RESTATE_BIN} (run npm ci)`);
  const replication = o.replication ?? 2;
  const partitions = o.partitions ?? 24;
  const dir = cleanup.tempDir('stead-bench-restate-cluster-');
  const nodes: RestateNode[] = [];
  for (let i = 1; i <= RESTATE_NODES; i++) {
    const ports = { node: await freePort(), ingress: await freePort(), admin: await freePort() };
    nodes.push({ name: `n${i}`, config: join(dir, `n${i}.toml`), ports });
  }
  const peers = nodes.map((n) => `http://127.0.0.1:${n.ports.node}/`);
  for (const [i, n] of nodes.entries()) {
    const base = join(dir, n.name);
    writeFileSync(n.config, restateConfig(n, base, peers, { replication, partitions, autoProvision: i === 0 }));
  }
  const adminUrl = (n: RestateNode) => `http://127.0.0.1:${n.ports.admin}`;
  const launch = (n: RestateNode) => {
    n.proc = new Proc(`restate ${n.name}`, RESTATE_BIN, ['--no-logo', '--config-file', n.config], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, TMPDIR: dir },
    });
  };
  const running = (n: RestateNode) => n.proc?.running === true;
  cleanup.add(async () => {
    for (const n of [...nodes].reverse()) await n.proc?.stop(10_000);
  });
  const byName = (name: string) => {
    const n = nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no restate node ${name}`);
    return n;
  };
  const output = () =>
    nodes
      .map((n) => n.proc?.output() ?? '')
      .filter((x) => x !== '')
      .join('\n');
  const fabric = (n: RestateNode) => `http://127.0.0.1:${n.ports.node}`;
  // restate numbers its nodes (N1, N2, …) as they join; learn which of ours is which from each node itself.
  const plainIds = new Map<number, string>();
  const nameOf = async (id: number) => {
    if (!plainIds.has(id))
      for (const n of nodes.filter(running)) {
        const nid = await restateNodeId(fabric(n)).catch(() => undefined);
        if (nid !== undefined) plainIds.set(nid, n.name);
      }
    return plainIds.get(id) ?? `N${id}`;
  };
  // Any running node with the admin role answers for the cluster controller's view.
  const clusterState = async () => {
    let last: unknown;
    for (const n of nodes.filter(running)) {
      try {
        return await restateClusterState(fabric(n));
      } catch (err) {
        last = err;
      }
    }
    throw last ?? new Error('no restate node runs');
  };
  const leaders = async () => {
    const led = new Map<string, number>();
    for (const p of (await clusterState()).partitions.values())
      for (const id of p.leaders) {
        const name = await nameOf(id);
        led.set(name, (led.get(name) ?? 0) + 1);
      }
    return led;
  };
  const whole = async () => {
    if (!nodes.every(running)) return false;
    const s = await clusterState();
    if (s.alive.length < nodes.length || s.partitions.size < partitions) return false;
    for (const p of s.partitions.values()) if (p.leaders.length !== 1 || p.replicas.length < replication) return false;
    return true;
  };

  const waitServing = async (n: RestateNode, what: string) => {
    try {
      await waitFor(async () => !running(n) || (await httpOk(`${adminUrl(n)}/health`)), { timeoutMs: 90_000, what });
      if (!running(n)) throw new Error(`restate ${n.name} exited (code ${n.proc?.child.exitCode})`);
      await waitFor(async () => httpOk(`http://127.0.0.1:${n.ports.ingress}/restate/health`), {
        timeoutMs: 60_000,
        what: `restate ${n.name} ingress`,
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${output()}`);
    }
  };

  // All three at once: n2 and n3 wait for the metadata store that n1 provisions.
  for (const n of nodes) launch(n);
  for (const n of nodes) {
    await waitServing(n, `restate ${n.name} /health`);
    o.progress?.(
      `  ${n.name}  restate-server pid ${n.proc!.pid}  node 127.0.0.1:${n.ports.node}  ` +
        `ingress :${n.ports.ingress}  admin :${n.ports.admin}`,
    );
  }
  o.progress?.(`  waiting until every partition has a leader and ${replication} replicas …`);
  await waitFor(whole, {
    timeoutMs: 120_000,
    intervalMs: 500,
    what: `every partition of the restate cluster led and replicated ${replication}×`,
  }).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n${output()}`);
  });
  const v = (await (await fetch(`${adminUrl(nodes[0]!)}/version`)).json()) as { version?: string };

  const serving = (avoid?: string) => nodes.find((n) => n.name !== avoid && running(n)) ?? nodes[0]!;
  const names = nodes.map((n) => n.name);
  return {
    name: 'restate-cluster',
    version: `restate-server ${v.version ?? '?'} × ${RESTATE_NODES}`,
    admin: adminUrl(nodes[0]!),
    nodes: names,
    addNode: async () => {
      const n: RestateNode = {
        name: `n${nodes.length + 1}`,
        config: join(dir, `n${nodes.length + 1}.toml`),
        ports: { node: await freePort(), ingress: await freePort(), admin: await freePort() },
      };
      writeFileSync(
        n.config,
        restateConfig(n, join(dir, n.name), peers, { replication, partitions, autoProvision: false }),
      );
      nodes.push(n);
      names.push(n.name);
      launch(n);
      await waitServing(n, `restate ${n.name} /health`);
      return n.name;
    },
    partitions: async () => partitions,
    // Every restate node plays every role: one column for all.
    dataDirs: () => nodes.map((n) => ({ role: 'node', dir: join(dir, n.name) })),
    ingress: (avoid) => `http://127.0.0.1:${serving(avoid).ports.ingress}`,
    ingressNode: (avoid) => serving(avoid).name,
    pids: () => nodes.filter(running).map((n) => n.proc!.pid),
    leaders,
    kill: async (name) => {
      const n = byName(name);
      n.proc?.kill('SIGKILL');
      await n.proc?.exited;
    },
    restart: async (name) => {
      const n = byName(name);
      if (running(n)) throw new Error(`restate ${name} still runs`);
      launch(n);
      await waitServing(n, `restate ${name} /health after restart`);
    },
    whole: () => whole().catch(() => false),
    output,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Stead LocalCluster

interface ClusterJson {
  controller?: {
    nodes?: { id: string; alive: boolean }[];
    unavailable_partitions?: number[];
  };
  partition_table?: {
    partitions: number;
    replication: number;
    placements: { partition: number; replicas: string[]; leader?: string; epoch: number }[];
  };
}

export interface SteadClusterOptions {
  workers?: number;
  partitions?: number;
  replication?: number;
  /** Added to every process's environment (e.g. STEAD_* settings given on the command line). */
  env?: NodeJS.ProcessEnv;
  /**
   * Flags added per role (settings only that role knows, e.g. the workers' `--snapshot-bucket`, the admin's
   * `--trim-delay`: every process refuses STEAD_* variables it does not know, so those cannot go through `env`).
   */
  extraArgs?: Partial<Record<ClusterRole, string[]>>;
  progress?: (line: string) => void;
}

/** A local Stead cluster (metadata store ×3, log servers ×3, sequencers ×2, admin, workers, ingress). */
export async function startSteadCluster(cleanup: Cleanup, o: SteadClusterOptions = {}): Promise<ClusterTarget> {
  const workers = o.workers ?? 3;
  const dir = cleanup.tempDir('stead-bench-cluster-');
  const env = { ...process.env, STEAD_LOG_LEVEL: process.env.STEAD_LOG_LEVEL ?? 'warn', ...o.env };
  let cluster: LocalCluster | undefined;
  cleanup.add(() => cluster?.down());
  cluster = await LocalCluster.up({
    dir,
    workers,
    partitions: o.partitions ?? 8,
    partitionReplication: o.replication ?? 2,
    logReplication: 2,
    ingressPort: 0,
    adminPort: 0,
    env,
    extraArgs: o.extraArgs,
    progress: o.progress,
  });
  const c = cluster;
  const nodes = Array.from({ length: workers }, (_, i) => `w${i + 1}`);
  const partitions = o.partitions ?? 8;
  const state = async () => {
    const res = await fetch(`${c.adminUrl}/cluster`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`GET /cluster: ${res.status} ${await res.text()}`);
    return (await res.json()) as ClusterJson;
  };
  const table = async () => {
    const t = (await state()).partition_table;
    if (!t) throw new Error('GET /cluster: no partition table yet');
    return t;
  };
  const ingressName = c.processes.find((p) => p.role === 'ingress')?.name ?? 'ingress1';
  return {
    name: 'stead-cluster',
    version: `${steadVersion()} cluster`,
    admin: c.adminUrl,
    nodes,
    // The ingress is its own process, never one of the workers we kill.
    ingress: () => c.ingressUrl,
    ingressNode: () => ingressName,
    pids: () => c.processes.filter((p) => c.alive(p.name)).map((p) => p.pid),
    leaders: async () => {
      const led = new Map<string, number>();
      for (const p of (await table()).placements)
        if (p.leader !== undefined) led.set(p.leader, (led.get(p.leader) ?? 0) + 1);
      return led;
    },
    kill: (name) => c.kill(name),
    restart: (name) => c.restart(name),
    addNode: async () => {
      const p = await c.add('worker');
      nodes.push(p.name);
      return p.name;
    },
    partitions: async () => partitions,
    // LocalCluster passes each process with data its dir as --data-dir (metadata stores, log servers, workers).
    dataDirs: () =>
      c.processes.flatMap((p) => {
        const flag = p.args.find((a) => a.startsWith('--data-dir='));
        return flag ? [{ role: p.role, dir: flag.slice('--data-dir='.length) }] : [];
      }),
    whole: async () => {
      if (!c.processes.every((p) => c.alive(p.name))) return false;
      try {
        const { controller, partition_table: t } = await state();
        const alive = new Set((controller?.nodes ?? []).filter((n) => n.alive).map((n) => n.id));
        return (
          t !== undefined &&
          nodes.every((w) => alive.has(w)) &&
          (controller?.unavailable_partitions ?? []).length === 0 &&
          t.placements.length === t.partitions &&
          t.placements.every((p) => p.leader !== undefined && alive.has(p.leader) && p.replicas.length >= t.replication)
        );
      } catch {
        return false;
      }
    },
    output: () => c.processes.map((p) => c.output(p.name, 20)).join('\n'),
    metricsUrls: (role) =>
      c.processes
        .filter((p) => p.role === role && c.alive(p.name))
        .map((p) => `http://${p.host}:${p.metricsPort}/metrics`),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Any target, one process or a cluster

/** What the load and the samplers need of a target while it runs, whatever its topology. */
export interface Running {
  version: string;
  admin: string;
  ingress: string;
  /** Every process of the target (CPU and memory are summed over them). */
  pids: () => number[];
  /** Its data dirs and the columns their bytes count in (one-process: per top-level entry; cluster: per role). */
  dataDirs: () => DataDir[];
  /** (One-process Stead) its Prometheus endpoint. */
  metrics?: string;
  /** (Stead) Prometheus endpoints of the processes that take partition snapshots (the server; the workers). */
  snapshotters?: () => string[];
  /** (Stead cluster) Prometheus endpoints of the admin processes (the active controller reports the logs). */
  controllers?: () => string[];
  cluster?: ClusterTarget;
  output: () => string;
}

export function runningServer(t: Target): Running {
  return {
    version: t.version,
    admin: t.admin,
    ingress: t.ingress,
    pids: () => [t.pid],
    dataDirs: () => [{ part: '', dir: t.dataDir, split: true }],
    ...(t.metrics === undefined ? {} : { metrics: t.metrics, snapshotters: () => [t.metrics!] }),
    output: t.output,
  };
}

export function runningCluster(c: ClusterTarget): Running {
  return {
    version: c.version,
    admin: c.admin,
    ingress: c.ingress(),
    pids: c.pids,
    dataDirs: () => c.dataDirs().map((d) => ({ part: d.role, dir: d.dir })),
    ...(c.metricsUrls
      ? { snapshotters: () => c.metricsUrls!('worker'), controllers: () => c.metricsUrls!('admin') }
      : {}),
    cluster: c,
    output: c.output,
  };
}
