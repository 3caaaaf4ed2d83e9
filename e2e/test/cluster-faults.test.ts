/**
 * Cluster mode under faults (issue 12): real processes on loopback (metadata store, log servers, sequencers,
 * 3 workers with partition replication 2, 2 admins, 2 ingresses), the official SDK, and the exactly-once checker
 * sending idempotent increments to many keys while processes are killed, paused and restarted. After each fault
 * every counter must equal what was acknowledged: nothing lost, nothing applied twice.
 */
import { readFileSync } from 'node:fs';
import * as clients from '@restatedev/restate-sdk-clients';
import {
  Cleanup,
  checkUnderLoad,
  type ExactlyOnceReport,
  ServiceProcess,
  type SteadUnderTest,
  startStead,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';
import type { LocalCluster } from '@stead/testing/local-cluster';

/** A fault scenario: load before, the fault, recovery, load after, and the comparison of every counter. */
const TEST_TIMEOUT_MS = 180_000;
const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;

interface Placement {
  partition: number;
  replicas: string[];
  leader?: string;
  epoch: number;
}

async function clusterStatus(adminUrl: string): Promise<{
  controller: { active: boolean; node: string };
  partition_table?: { placements: Placement[]; partitions: number };
  logs: Array<{ partition: number; sequencer?: string; segments: number }>;
}> {
  const res = await fetch(`${adminUrl}/cluster`);
  if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}`);
  return (await res.json()) as Awaited<ReturnType<typeof clusterStatus>>;
}

/** Waits until each leader sequences its partition's log in its own process (no hop between the two). */
async function leadersSequence(adminUrl: string): Promise<void> {
  await waitFor(
    async () => {
      const s = await clusterStatus(adminUrl);
      const leaderOf = new Map(s.partition_table!.placements.map((p) => [p.partition, p.leader]));
      if (s.logs.length > 0 && s.logs.every((l) => l.sequencer === leaderOf.get(l.partition))) return true;
      throw new Error(
        `[sequencer, leader]: ${JSON.stringify(s.logs.map((l) => [l.sequencer, leaderOf.get(l.partition)]))}`,
      );
    },
    { timeoutMs: 10_000, what: 'each partition log sequenced by its leader' },
  );
}

/** The worker leading the most partitions. */
function busiestLeader(placements: Placement[]): string {
  const counts = new Map<string, number>();
  for (const p of placements) if (p.leader) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0][0];
}

// This suite is about the cluster already (it starts one whatever the topology): it runs in the single-topology
// run of the e2e suites, and the cluster run (STEAD_E2E_TOPOLOGY=cluster) skips it rather than run it twice.
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

describeHere('a 3-worker cluster under faults', () => {
  const cleanup = new Cleanup();
  let stead: SteadUnderTest;
  let cluster: LocalCluster;
  const reports: Record<string, ExactlyOnceReport> = {};

  beforeAll(async () => {
    // w3 runs in a network namespace of its own (joined by a veth pair) so that it can be cut off the network.
    stead = await startStead(cleanup, ['--partitions=4'], {
      topology: 'cluster',
      cluster: { admins: 2, isolate: ['w3'] },
    });
    cluster = stead.cluster!;
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await stead.register(svc.uri);
  }, 120_000);
  afterAll(async () => {
    // The figures of every scenario, for the closing note and the CI log.
    process.stdout.write(`exactly-once checker: ${JSON.stringify(reports)}\n`);
    await cleanup.run();
  });

  async function underLoad(name: string, fault: () => Promise<void>): Promise<ExactlyOnceReport> {
    const report = await checkUnderLoad(fault, { ingressUrl: stead.ingressUrl, keys: 32, clients: 8, name });
    reports[name] = report;
    return report;
  }

  it(
    'serves calls through the official client',
    async () => {
      const ingress = clients.connect({ url: stead.ingressUrl });
      const test = ingress.serviceClient<{ echo: (ctx: unknown, x: { hello: string }) => Promise<unknown> }>({
        name: 'Test',
      });
      expect(await test.echo({ hello: 'cluster' })).toEqual({ hello: 'cluster' });
      const status = await clusterStatus(stead.adminUrl);
      expect(status.partition_table?.partitions).toBe(4);
      for (const p of status.partition_table?.placements ?? []) {
        expect(p.replicas).toHaveLength(2);
        expect(p.leader).toBeDefined();
      }
      await leadersSequence(stead.adminUrl);
      // The leader of partition 0 reports the sequencer of its log in its metrics.
      const leader = cluster.process(status.partition_table!.placements.find((p) => p.partition === 0)!.leader!);
      const metrics = await (await fetch(`http://${leader.host}:${leader.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/stead_sequencer_appends\{loglet="partition-0\.\d+"[^}]*\} [1-9]/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'loses nothing and applies nothing twice when the busiest leader is killed with SIGKILL',
    async () => {
      await leadersSequence(stead.adminUrl); // the victim sequences the logs it leads
      const victim = busiestLeader((await clusterStatus(stead.adminUrl)).partition_table!.placements);
      const report = await underLoad('kill -9 leader', () => cluster.kill(victim));
      expect(report.mismatches).toEqual([]);
      expect(report.unacknowledged).toBe(0);
      expect(report.acknowledged).toBeGreaterThan(150);
      const after = await clusterStatus(stead.adminUrl);
      for (const p of after.partition_table!.placements) expect(p.leader).not.toBe(victim);
      await leadersSequence(stead.adminUrl);
      await cluster.restart(victim);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'fences a leader paused with SIGSTOP for 5 s',
    async () => {
      const victim = busiestLeader((await clusterStatus(stead.adminUrl)).partition_table!.placements);
      const report = await underLoad('SIGSTOP leader 5 s', async () => {
        cluster.signal(victim, 'SIGSTOP');
        const stoppedAt = Date.now();
        try {
          await waitFor(
            async () =>
              (await clusterStatus(stead.adminUrl)).partition_table!.placements.every((p) => p.leader !== victim),
            { timeoutMs: 10_000, what: `leaderships moved off the paused ${victim}` },
          );
          // The fault is a 5 s pause: resume the process once it has been stopped that long.
          await new Promise((r) => setTimeout(r, Math.max(0, 5_000 - (Date.now() - stoppedAt))));
        } finally {
          cluster.signal(victim, 'SIGCONT');
        }
      });
      expect(report.mismatches).toEqual([]);
      expect(report.unacknowledged).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'hands every leadership over before a worker stops on SIGTERM',
    async () => {
      const victim = busiestLeader((await clusterStatus(stead.adminUrl)).partition_table!.placements);
      const report = await underLoad('SIGTERM leader', async () => {
        cluster.signal(victim, 'SIGTERM');
        await waitFor(() => !cluster.alive(victim), { timeoutMs: 30_000, what: `${victim} to stop` });
      });
      expect(report.mismatches).toEqual([]);
      expect(report.unacknowledged).toBe(0);
      // It drained (its pings said so, the controller moved its leaderships) before it stopped, and exited cleanly.
      expect(readFileSync(cluster.process(victim).log, 'utf8')).toMatch(/leaderships handed over/);
      expect(cluster.exitCode(victim)).toBe(0);
      await cluster.restart(victim);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'keeps serving when a log server is killed',
    async () => {
      const report = await underLoad('kill -9 log server', () => cluster.kill('ls1'));
      expect(report.mismatches).toEqual([]);
      expect(report.unacknowledged).toBe(0);
      await cluster.restart('ls1');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    // The sequencer of each partition log runs in its leader's process, so killing the busiest leader (above)
    // also kills the sequencer of the logs it leads. Dedicated sequencer processes take a log whose leader is
    // gone until the new leader moves it; killing one must not lose anything either.
    'keeps serving when a dedicated sequencer is killed',
    async () => {
      const report = await underLoad('kill -9 sequencer', () => cluster.kill('seq1'));
      expect(report.mismatches).toEqual([]);
      expect(report.unacknowledged).toBe(0);
      await cluster.restart('seq1');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'fails the controller over when the active admin is killed',
    async () => {
      const active = (await clusterStatus(stead.adminUrl)).controller.active ? 'admin1' : 'admin2';
      const other = active === 'admin1' ? 'admin2' : 'admin1';
      const otherUrl = `http://${cluster.process(other).host}:${cluster.process(other).httpPort}`;
      const report = await underLoad('kill -9 active admin', async () => {
        await cluster.kill(active);
        await waitFor(async () => (await clusterStatus(otherUrl)).controller.active, {
          timeoutMs: 15_000,
          what: `${other} taking the controller over`,
        });
        // The new controller keeps the cluster healthy: a leader killed now is replaced.
        const victim = busiestLeader((await clusterStatus(otherUrl)).partition_table!.placements);
        await cluster.kill(victim);
        await waitFor(
          async () => (await clusterStatus(otherUrl)).partition_table!.placements.every((p) => p.leader !== victim),
          { timeoutMs: 15_000, what: `leaderships moved off ${victim} by ${other}` },
        );
        await cluster.restart(victim);
      });
      expect(report.mismatches).toEqual([]);
      expect(report.unacknowledged).toBe(0);
      await cluster.restart(active);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'keeps every increment when the ingress restarts (clients retry)',
    async () => {
      const report = await underLoad('ingress restart', async () => {
        await cluster.kill('ingress1');
        await cluster.restart('ingress1');
      });
      expect(report.mismatches).toEqual([]);
      expect(report.unacknowledged).toBe(0);
      expect(report.retriedAttempts).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'moves leaderships off a worker cut off the network, and takes it back once healed',
    async () => {
      const report = await underLoad('network cut of a worker', async () => {
        cluster.cut('w3');
        try {
          await waitFor(
            async () =>
              (await clusterStatus(stead.adminUrl)).partition_table!.placements.every((p) => p.leader !== 'w3'),
            { timeoutMs: 15_000, what: 'leaderships moved off the cut-off w3' },
          );
        } finally {
          cluster.heal('w3');
        }
      });
      expect(report.mismatches).toEqual([]);
      expect(report.unacknowledged).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
