/**
 * The elastic cluster (issue 13) with real processes under continuous load: the exactly-once checker sends
 * idempotent increments while workers, log servers and sequencers are added and drained, while every process is
 * restarted one at a time, and while a whole zone of three is killed. After each step the checker compares every
 * counter with what was acknowledged (nothing lost, nothing applied twice), and `stead ctl` shows the rebalance.
 */
import { readFileSync } from 'node:fs';
import {
  Cleanup,
  checkUnderLoad,
  ctlJson,
  ctlOk,
  type ExactlyOnceReport,
  ServiceProcess,
  scrapeMetrics,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';
import { LocalCluster, type LocalClusterOptions } from '@stead/testing/local-cluster';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const STEP_TIMEOUT_MS = 240_000;

interface Placement {
  partition: number;
  replicas: string[];
  leader?: string;
  epoch: number;
}

interface LogNode {
  id: string;
  kind: 'log-server' | 'sequencer';
  draining?: boolean;
  alive?: boolean;
  segments?: number;
}

interface ClusterJson {
  controller: { active: boolean; nodes?: Array<{ id: string; alive: boolean; draining: boolean }> };
  partition_table?: { partitions: number; replication: number; placements: Placement[] };
  logs: Array<{ partition: number; log: string; segments: number; sequencer?: string }>;
  log_nodes?: LogNode[];
}

interface Chain {
  log: string;
  segments: Array<{
    index: number;
    sequencer: { id: string };
    nodeset: Array<{ id: string; zone?: string }>;
    replication: { scope: string; count: number };
    sealed_tail?: string;
  }>;
}

const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

/** A cluster of real processes with the SDK services registered, stopped by `cleanup`. */
async function startCluster(cleanup: Cleanup, opts: Omit<LocalClusterOptions, 'dir'>): Promise<LocalCluster> {
  const env = { ...process.env, STEAD_LOG_LEVEL: process.env.STEAD_LOG_LEVEL ?? 'info' };
  const cluster = await LocalCluster.up({
    dir: `${cleanup.tempDir('stead-elastic-')}/cluster`,
    ingressPort: 0,
    adminPort: 0,
    env,
    ...opts,
    extraArgs: {
      ...opts.extraArgs,
      // Quick failure detection, so that the steps below do not wait out production timeouts.
      admin: ['--node-failure-timeout=2s', ...(opts.extraArgs?.admin ?? [])],
    },
  });
  cleanup.add(() => cluster.killAll());
  const svc = await ServiceProcess.start(cleanup, SERVICES);
  const res = await fetch(`${cluster.adminUrl}/deployments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uri: svc.uri }),
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`registration: ${res.status} ${await res.text()}`);
  return cluster;
}

async function clusterJson(adminUrl: string): Promise<ClusterJson> {
  const res = await fetch(`${adminUrl}/cluster`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}`);
  return (await res.json()) as ClusterJson;
}

/** Every partition log's chain, as `stead ctl logs describe <p> --json` prints it. */
async function chains(adminUrl: string, partitions: number): Promise<Chain[]> {
  return Promise.all(
    Array.from({ length: partitions }, (_, p) => ctlJson<Chain>(adminUrl, ['logs', 'describe', String(p)])),
  );
}

/** The sample of gauge `name` for `node` in the active admin's `/metrics`, or undefined when there is none. */
/** A per-node figure of the admin: `label` names the node it is about (`worker`, `log_server`, …). */
async function adminMetric(
  cluster: LocalCluster,
  name: string,
  label: string,
  node: string,
): Promise<number | undefined> {
  const admin = cluster.process('admin1');
  const samples = (await scrapeMetrics(`http://${admin.host}:${admin.metricsPort}`)).all(name, { [label]: node });
  return samples[0]?.value;
}

const counts = (ids: readonly string[], of: (p: Placement) => readonly string[], placements: Placement[]) =>
  ids.map((id) => placements.filter((p) => of(p).includes(id)).length);
const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);

/** Runs `step` under load and returns the checker's verdict, after enough increments before and after it. */
function underLoad(ingressUrl: string, step: () => Promise<void>): Promise<ExactlyOnceReport> {
  return checkUnderLoad(step, { ingressUrl, keys: 32, clients: 8, beforeTimeoutMs: 60_000 });
}

function expectExactlyOnce(report: ExactlyOnceReport): void {
  expect(report.mismatches).toEqual([]);
  expect(report.unacknowledged).toBe(0);
  expect(report.acknowledged).toBeGreaterThanOrEqual(150);
}

/**
 * The cluster of one describe block: started before its tests (the SDK services registered), stopped after them,
 * with the checker's verdict of every step printed for the closing note and the CI log.
 */
function suiteCluster(opts: Omit<LocalClusterOptions, 'dir'>) {
  const cleanup = new Cleanup();
  const suite = {
    cluster: undefined as unknown as LocalCluster,
    admin: '',
    reports: {} as Record<string, ExactlyOnceReport>,
  };
  beforeAll(async () => {
    suite.cluster = await startCluster(cleanup, opts);
    suite.admin = suite.cluster.adminUrl;
  }, 120_000);
  afterAll(async () => {
    process.stdout.write(`exactly-once checker: ${JSON.stringify(suite.reports)}\n`);
    await cleanup.run();
  }, 60_000);
  return suite;
}

describeHere('an elastic cluster: workers and log servers join and leave under load', () => {
  const PARTITIONS = 6;
  const suite = suiteCluster({
    metadata: 3,
    logServers: 3,
    sequencers: 1,
    workers: 3,
    partitions: PARTITIONS,
    partitionReplication: 2,
    logReplication: 2,
  });

  it(
    'workers 3 → 5: the new workers get replicas and leaderships without any operator action',
    async () => {
      suite.reports['workers 3→5'] = await underLoad(suite.cluster.ingressUrl, async () => {
        await suite.cluster.add('worker');
        await suite.cluster.add('worker');
        await waitFor(
          async () => {
            const t = (await ctlJson<ClusterJson>(suite.admin, ['partitions', 'list'])).partition_table!;
            const ids = ['w1', 'w2', 'w3', 'w4', 'w5'];
            const replicas = counts(ids, (p) => p.replicas, t.placements);
            const leaders = counts(ids, (p) => (p.leader ? [p.leader] : []), t.placements);
            if (spread(replicas) <= 1 && spread(leaders) <= 1 && leaders[3] >= 1 && leaders[4] >= 1) return true;
            throw new Error(`replicas ${replicas}, leaders ${leaders}`);
          },
          { timeoutMs: 60_000, intervalMs: 500, what: 'w4 and w5 holding their share' },
        );
      });
      expectExactlyOnce(suite.reports['workers 3→5']);
      const listed = await ctlOk(suite.admin, ['partitions', 'list']);
      expect(listed).toMatch(/w4/);
      expect(listed).toMatch(/w5/);
      // The admin's placement gauges agree: w5 holds replicas and leads.
      await waitFor(
        async () =>
          ((await adminMetric(suite.cluster, 'stead_partitions_per_worker', 'worker', 'w5')) ?? 0) >= 1 &&
          ((await adminMetric(suite.cluster, 'stead_leaders_per_worker', 'worker', 'w5')) ?? 0) >= 1,
        { timeoutMs: 10_000, what: 'stead_partitions_per_worker and stead_leaders_per_worker of w5' },
      );
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'workers 5 → 3: one drained on demand, one on SIGTERM, then both removed',
    async () => {
      suite.reports['workers 5→3'] = await underLoad(suite.cluster.ingressUrl, async () => {
        // `nodes drain` waits until the worker holds nothing and reports progress while it does.
        const drained = await ctlOk(suite.admin, ['nodes', 'drain', 'w5'], 120_000);
        expect(drained).toMatch(/w5 drained/);
        suite.cluster.signal('w4', 'SIGTERM');
        await waitFor(() => !suite.cluster.alive('w4'), { timeoutMs: 60_000, what: 'w4 to drain and stop' });
        expect(suite.cluster.exitCode('w4')).toBe(0);
        expect(readFileSync(suite.cluster.process('w4').log, 'utf8')).toMatch(/leaderships handed over/);
        await suite.cluster.stop('w5');
        await waitFor(
          async () => {
            const t = (await clusterJson(suite.admin)).partition_table!;
            return t.placements.every(
              (p) =>
                p.leader !== undefined && p.replicas.length === 2 && !p.replicas.some((r) => r === 'w4' || r === 'w5'),
            );
          },
          { timeoutMs: 60_000, intervalMs: 500, what: 'every partition on w1-w3 only' },
        );
      });
      expectExactlyOnce(suite.reports['workers 5→3']);
      await ctlOk(suite.admin, ['nodes', 'remove', 'w4']);
      await ctlOk(suite.admin, ['nodes', 'remove', 'w5']);
      // The listing is the active controller's view, which reads the node records again at its next round.
      const nodes = await waitFor(
        async () => {
          const listed = await ctlOk(suite.admin, ['nodes', 'list']);
          return /^w[45] /m.test(listed) ? undefined : listed;
        },
        { timeoutMs: 10_000, intervalMs: 250, what: 'w4 and w5 gone from `nodes list`' },
      );
      expect(nodes).toMatch(/^w1 /m);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'log servers 3 → 4: the open segment of every log takes the new log server in',
    async () => {
      suite.reports['log servers 3→4'] = await underLoad(suite.cluster.ingressUrl, async () => {
        await suite.cluster.add('log-server');
        await waitFor(
          async () =>
            (await chains(suite.admin, PARTITIONS)).every((c) =>
              c.segments.at(-1)!.nodeset.some((m) => m.id === 'ls4'),
            ),
          { timeoutMs: 60_000, intervalMs: 500, what: 'ls4 in the nodeset of every open segment' },
        );
      });
      expectExactlyOnce(suite.reports['log servers 3→4']);
      expect(
        await adminMetric(suite.cluster, 'stead_log_segments_per_log_server', 'log_server', 'ls4'),
      ).toBeGreaterThanOrEqual(PARTITIONS);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'log servers 4 → 3: a log server leaves on SIGTERM once no segment needs it, and is removed',
    async () => {
      suite.reports['log servers 4→3'] = await underLoad(suite.cluster.ingressUrl, async () => {
        suite.cluster.signal('ls1', 'SIGTERM');
        await waitFor(() => !suite.cluster.alive('ls1'), { timeoutMs: 90_000, what: 'ls1 to drain and stop' });
        expect(suite.cluster.exitCode('ls1')).toBe(0);
      });
      expectExactlyOnce(suite.reports['log servers 4→3']);
      // Every segment, sealed ones included, was moved or copied off it before it left.
      for (const c of await chains(suite.admin, PARTITIONS))
        for (const s of c.segments) expect(s.nodeset.map((m) => m.id)).not.toContain('ls1');
      await ctlOk(suite.admin, ['nodes', 'remove', 'ls1']);
      expect((await clusterJson(suite.admin)).log_nodes?.map((n) => n.id)).not.toContain('ls1');
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'restarts every process one at a time with nothing lost and no request failing for good',
    async () => {
      const order = suite.cluster.processes.filter((p) => suite.cluster.alive(p.name)).map((p) => p.name);
      suite.reports['rolling restart'] = await underLoad(suite.cluster.ingressUrl, async () => {
        for (const name of order) {
          await suite.cluster.stop(name, 30_000);
          await suite.cluster.restart(name);
          // The next one goes once the cluster is whole again: every partition led, every worker alive.
          await waitFor(
            async () => {
              const c = await clusterJson(suite.admin).catch(() => undefined);
              return (
                c?.partition_table?.placements.every((p) => p.leader !== undefined && p.replicas.length === 2) &&
                (c.controller.nodes ?? []).filter((n) => ['w1', 'w2', 'w3'].includes(n.id)).every((n) => n.alive)
              );
            },
            { timeoutMs: 60_000, intervalMs: 250, what: `the cluster whole after restarting ${name}` },
          );
        }
      });
      expectExactlyOnce(suite.reports['rolling restart']);
    },
    STEP_TIMEOUT_MS * 2,
  );
});

describeHere('an elastic cluster: dedicated sequencers 2 → 3 → 1', () => {
  const PARTITIONS = 6;
  const suite = suiteCluster({
    metadata: 1,
    logServers: 3,
    sequencers: 2,
    workers: 2,
    partitions: PARTITIONS,
    partitionReplication: 2,
    logReplication: 2,
    // The logs are sequenced by the sequencer processes, not in their leaders' processes.
    extraArgs: { worker: ['--colocate-sequencer=false'] },
  });
  const sequencersOf = async () => (await chains(suite.admin, PARTITIONS)).map((c) => c.segments.at(-1)!.sequencer.id);

  it(
    'spreads the open segments over a sequencer that joins',
    async () => {
      suite.reports['sequencers 2→3'] = await underLoad(suite.cluster.ingressUrl, async () => {
        await suite.cluster.add('sequencer');
        await waitFor(
          async () => {
            const seqs = await sequencersOf();
            const per = ['seq1', 'seq2', 'seq3'].map((s) => seqs.filter((x) => x === s).length);
            if (per.every((n) => n >= 1) && spread(per) <= 1) return true;
            throw new Error(`open segments per sequencer: ${per}`);
          },
          { timeoutMs: 60_000, intervalMs: 500, what: 'open segments spread over seq1-seq3' },
        );
      });
      expectExactlyOnce(suite.reports['sequencers 2→3']);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'moves the logs of sequencers that stop on SIGTERM to the one left',
    async () => {
      suite.reports['sequencers 3→1'] = await underLoad(suite.cluster.ingressUrl, async () => {
        for (const name of ['seq3', 'seq2']) {
          suite.cluster.signal(name, 'SIGTERM');
          await waitFor(() => !suite.cluster.alive(name), { timeoutMs: 60_000, what: `${name} to drain and stop` });
          expect(suite.cluster.exitCode(name)).toBe(0);
        }
        await waitFor(async () => (await sequencersOf()).every((s) => s === 'seq1'), {
          timeoutMs: 30_000,
          intervalMs: 500,
          what: 'every open segment on seq1',
        });
      });
      expectExactlyOnce(suite.reports['sequencers 3→1']);
    },
    STEP_TIMEOUT_MS,
  );
});

describeHere('three zones with {zone: 2} replication', () => {
  const PARTITIONS = 6;
  const zoneOf = (name: string) => `r.z${name.at(-1)}`;
  // One metadata member, log server and worker per zone; the admins and the ingress in zones 1 and 2.
  const names = ['m1', 'm2', 'm3', 'ls1', 'ls2', 'ls3', 'w1', 'w2', 'w3', 'admin1', 'admin2', 'ingress1'];
  const suite = suiteCluster({
    metadata: 3,
    logServers: 3,
    sequencers: 0,
    workers: 3,
    admins: 2,
    partitions: PARTITIONS,
    partitionReplication: 2,
    logReplication: 2,
    locations: Object.fromEntries(names.map((n) => [n, zoneOf(n)])),
  });
  beforeAll(
    () =>
      ctlOk(suite.admin, ['config', 'set', '--partition-replication', '{zone: 2}', '--log-replication', '{zone: 2}']),
    30_000,
  );

  it(
    'places replicas and log copies in two zones, and loses nothing when every process of one zone is killed',
    async () => {
      await waitFor(
        async () => {
          const t = (await clusterJson(suite.admin)).partition_table!;
          const replicasSpread = t.placements.every((p) => new Set(p.replicas.map(zoneOf)).size === 2);
          const open = (await chains(suite.admin, PARTITIONS)).map((c) => c.segments.at(-1)!);
          return replicasSpread && open.every((s) => s.replication.scope === 'zone' && s.replication.count === 2);
        },
        { timeoutMs: 60_000, intervalMs: 500, what: 'replicas in two zones and {zone: 2} open segments' },
      );
      suite.reports['zone 3 killed'] = await underLoad(suite.cluster.ingressUrl, async () => {
        await Promise.all(['m3', 'ls3', 'w3'].map((n) => suite.cluster.kill(n)));
        await waitFor(
          async () =>
            (await clusterJson(suite.admin)).partition_table!.placements.every(
              (p) => p.leader !== undefined && p.leader !== 'w3',
            ),
          { timeoutMs: 30_000, intervalMs: 250, what: 'every partition led outside zone 3' },
        );
      });
      expectExactlyOnce(suite.reports['zone 3 killed']);
    },
    STEP_TIMEOUT_MS,
  );
});
