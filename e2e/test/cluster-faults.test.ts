/**
 * Cluster mode under faults (issue 12): real processes on loopback (metadata store, log servers, sequencers,
 * 3 workers with partition replication 2, 2 admins, 2 ingresses), the official SDK, and the exactly-once checker
 * sending idempotent increments to many keys while processes are killed, paused and restarted. After each fault
 * every counter must equal what was acknowledged: nothing lost, nothing applied twice.
 */
import * as clients from '@restatedev/restate-sdk-clients';
import {
  Cleanup,
  ExactlyOnceChecker,
  type ExactlyOnceReport,
  ServiceProcess,
  type SteadUnderTest,
  startStead,
  waitFor,
} from '@stead/testing';
import type { LocalCluster } from '@stead/testing/local-cluster';

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
}> {
  const res = await fetch(`${adminUrl}/cluster`);
  if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}`);
  return (await res.json()) as Awaited<ReturnType<typeof clusterStatus>>;
}

/** The worker leading the most partitions. */
function busiestLeader(placements: Placement[]): string {
  const counts = new Map<string, number>();
  for (const p of placements) if (p.leader) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0][0];
}

describe('a 3-worker cluster under faults', () => {
  const cleanup = new Cleanup();
  let stead: SteadUnderTest;
  let cluster: LocalCluster;
  const reports: Record<string, ExactlyOnceReport> = {};

  beforeAll(async () => {
    stead = await startStead(cleanup, ['--partitions=4'], { topology: 'cluster' });
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
    const checker = new ExactlyOnceChecker({ ingressUrl: stead.ingressUrl, keys: 32, clients: 8 });
    checker.start();
    await waitFor(() => checker.acknowledged >= 50, { timeoutMs: 30_000, what: 'increments before the fault' });
    await fault();
    const after = checker.acknowledged;
    await waitFor(() => checker.acknowledged >= after + 100, {
      timeoutMs: 60_000,
      what: `increments after the fault (${name})`,
    });
    const report = await checker.stop();
    reports[name] = report;
    return report;
  }

  it('serves calls through the official client', async () => {
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
  });

  it('loses nothing and applies nothing twice when the busiest leader is killed with SIGKILL', async () => {
    const victim = busiestLeader((await clusterStatus(stead.adminUrl)).partition_table!.placements);
    const report = await underLoad('kill -9 leader', () => cluster.kill(victim));
    expect(report.mismatches).toEqual([]);
    expect(report.unacknowledged).toBe(0);
    expect(report.acknowledged).toBeGreaterThan(150);
    const after = await clusterStatus(stead.adminUrl);
    for (const p of after.partition_table!.placements) expect(p.leader).not.toBe(victim);
    await cluster.restart(victim);
  });

  it('fences a leader paused with SIGSTOP for 5 s', async () => {
    const victim = busiestLeader((await clusterStatus(stead.adminUrl)).partition_table!.placements);
    const report = await underLoad('SIGSTOP leader 5 s', async () => {
      cluster.signal(victim, 'SIGSTOP');
      try {
        await waitFor(
          async () =>
            (await clusterStatus(stead.adminUrl)).partition_table!.placements.every((p) => p.leader !== victim),
          { timeoutMs: 10_000, what: `leaderships moved off the paused ${victim}` },
        );
        await new Promise((r) => setTimeout(r, 5_000 - 0)); // the pause itself is the fault: 5 s stopped
      } finally {
        cluster.signal(victim, 'SIGCONT');
      }
    });
    expect(report.mismatches).toEqual([]);
    expect(report.unacknowledged).toBe(0);
  });

  it('keeps serving when a log server is killed', async () => {
    const report = await underLoad('kill -9 log server', () => cluster.kill('ls1'));
    expect(report.mismatches).toEqual([]);
    expect(report.unacknowledged).toBe(0);
    await cluster.restart('ls1');
  });

  it('keeps serving when a sequencer is killed', async () => {
    const report = await underLoad('kill -9 sequencer', () => cluster.kill('seq1'));
    expect(report.mismatches).toEqual([]);
    expect(report.unacknowledged).toBe(0);
    await cluster.restart('seq1');
  });
});
