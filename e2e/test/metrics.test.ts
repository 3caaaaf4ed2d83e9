/**
 * Engine metrics (issue 15): real work through the ingress, then each process's real `/metrics` scraped. The
 * one-process server exports every engine figure under `component="server"`; in a cluster each deployable
 * exports its own part under its role and node id (docs/METRICS.md lists them all).
 */
import {
  Cleanup,
  type MetricsScrape,
  ServiceProcess,
  scrapeMetrics,
  startStead,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';
import type { LocalCluster } from '@stead/testing/local-cluster';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;

// Both suites start what they need whatever the topology: they run in the single-topology run of the e2e suites,
// and the cluster run (STEAD_E2E_TOPOLOGY=cluster) skips them rather than run them twice.
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

/** POSTs JSON to the ingress and returns the status (the body is read to the end). */
async function post(ingressUrl: string, path: string, body: unknown): Promise<number> {
  const res = await fetch(`${ingressUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The work both suites drive: calls that succeed, fail terminally, are retried, and a request for nothing. */
async function driveWork(ingressUrl: string, cleanup: Cleanup, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) expect(await post(ingressUrl, '/Test/echo', { i })).toBe(200);
  expect(await post(ingressUrl, '/Test/fail', { code: 409, message: 'refused on purpose' })).toBe(409);
  const file = `${cleanup.tempDir('stead-metrics-flaky-')}/attempts`;
  expect(await post(ingressUrl, '/Test/flaky', { file })).toBe(200);
  expect(await post(ingressUrl, '/NoSuchService/run', {})).toBe(404);
}

/** Every sample of the scrape carries the registry's default labels. */
function expectDefaultLabels(m: MetricsScrape, component: string, node: string): void {
  expect(m.samples.length).toBeGreaterThan(0);
  const other = m.samples.filter((s) => s.labels.component !== component || s.labels.node !== node);
  expect(other.slice(0, 3)).toEqual([]);
  expect(m.value('stead_process_resident_memory_bytes')).toBeGreaterThan(0);
  expect(m.all('stead_process_cpu_seconds_total')).toHaveLength(1);
}

/** The partitions (as label values) a scrape reports `name` for. */
const partitionsOf = (m: MetricsScrape, name: string) =>
  m
    .all(name)
    .map((s) => s.labels.partition)
    .sort();

describeHere('metrics of the one-process server', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run(), 60_000);

  it('exports the ingress, invocation, partition and local log figures of the work it did', async () => {
    const CALLS = 20;
    const stead = await startStead(cleanup, ['--partitions=4'], { topology: 'single' });
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await stead.register(svc.uri);
    await driveWork(stead.ingressUrl, cleanup, CALLS);

    const m = await scrapeMetrics(stead.metricsUrls[0]!);
    expectDefaultLabels(m, 'server', 'server');
    // Ingress: every request answered, by status, and timed.
    expect(m.value('stead_ingress_requests_total', { status: '200' })).toBeGreaterThanOrEqual(CALLS + 1);
    expect(m.value('stead_ingress_requests_total', { status: '409' })).toBe(1);
    expect(m.value('stead_ingress_requests_total', { status: '404' })).toBe(1);
    expect(m.value('stead_ingress_request_duration_seconds_count')).toBeGreaterThanOrEqual(CALLS + 3);
    expect(m.value('stead_ingress_refused_requests')).toBe(0);
    // Invocations: echo ×CALLS and flaky ended with a result, fail with a failure; flaky was retried.
    expect(m.value('stead_invocations_started_total')).toBe(CALLS + 2);
    expect(m.value('stead_invocations_completed_total')).toBe(CALLS + 1);
    expect(m.value('stead_invocations_failed_total')).toBe(1);
    expect(m.value('stead_invocations_retried_total')).toBeGreaterThanOrEqual(1);
    expect(m.value('stead_invoker_attempt_duration_seconds_count', { outcome: 'completed' })).toBe(CALLS + 2);
    expect(m.value('stead_invoker_attempt_duration_seconds_count', { outcome: 'retry' })).toBeGreaterThanOrEqual(1);
    expect(m.value('stead_invoker_running_invocations')).toBe(0);
    expect(m.value('stead_invoker_waiting_invocations')).toBe(0);
    // Partitions: it hosts and leads all four; each has a lag and a backlog.
    expect(m.value('stead_partition_replicas', { role: 'leader' })).toBe(4);
    expect(m.value('stead_partition_replicas', { role: 'follower' })).toBe(0);
    expect(partitionsOf(m, 'stead_partition_applied_lag_records')).toEqual(['0', '1', '2', '3']);
    expect(partitionsOf(m, 'stead_partition_backlog_records')).toEqual(['0', '1', '2', '3']);
    // The local log: appends timed, synced batches counted by their records.
    const appends = m.value('stead_log_append_duration_seconds_count');
    expect(appends).toBeGreaterThanOrEqual(CALLS);
    expect(m.value('stead_log_append_batch_records_count')).toBeGreaterThan(0);
    expect(m.value('stead_log_append_batch_records_sum')).toBeGreaterThanOrEqual(appends);
  }, 60_000);
});

interface ClusterStatus {
  partition_table: { placements: Array<{ partition: number; replicas: string[]; leader?: string }> };
  logs: Array<{ partition: number; sequencer?: string }>;
}

async function clusterStatus(adminUrl: string): Promise<ClusterStatus> {
  const res = await fetch(`${adminUrl}/cluster`);
  if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}`);
  return (await res.json()) as ClusterStatus;
}

describeHere('metrics of a cluster', () => {
  const cleanup = new Cleanup();
  let cluster: LocalCluster;
  let ingressUrl: string;
  let adminUrl: string;
  const CALLS = 20;
  const url = (name: string) => {
    const p = cluster.process(name);
    return `http://${p.host}:${p.metricsPort}`;
  };
  const workers = () => cluster.processes.filter((p) => p.role === 'worker').map((p) => p.name);
  /** The sum of a metric over the workers. */
  const overWorkers = async (name: string, labels: Record<string, string> = {}) =>
    (await Promise.all(workers().map(async (w) => (await scrapeMetrics(url(w))).value(name, labels)))).reduce(
      (a, b) => a + b,
      0,
    );

  beforeAll(async () => {
    const stead = await startStead(cleanup, ['--partitions=2'], {
      topology: 'cluster',
      cluster: { metadata: 1, logServers: 2, sequencers: 1, workers: 2, partitionReplication: 2, logReplication: 2 },
    });
    cluster = stead.cluster!;
    ingressUrl = stead.ingressUrl;
    adminUrl = stead.adminUrl;
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await stead.register(svc.uri);
    // Each leader sequences its partition's log in its own process before the work starts.
    await waitFor(
      async () => {
        const s = await clusterStatus(adminUrl);
        const leaderOf = new Map(s.partition_table.placements.map((p) => [p.partition, p.leader]));
        return s.logs.length === 2 && s.logs.every((l) => l.sequencer === leaderOf.get(l.partition));
      },
      { timeoutMs: 30_000, what: 'each partition log sequenced by its leader' },
    );
    await driveWork(ingressUrl, cleanup, CALLS);
  }, 180_000);
  afterAll(() => cleanup.run(), 60_000);

  it('labels every series of every process with its role and node id', async () => {
    for (const p of cluster.processes) expectDefaultLabels(await scrapeMetrics(url(p.name)), p.role, p.name);
  });

  it('ingress: requests answered by status, and their durations', async () => {
    const m = await scrapeMetrics(url('ingress1'));
    expect(m.value('stead_ingress_requests_total', { status: '200' })).toBeGreaterThanOrEqual(CALLS + 1);
    expect(m.value('stead_ingress_requests_total', { status: '409' })).toBe(1);
    expect(m.value('stead_ingress_requests_total', { status: '404' })).toBe(1);
    expect(m.value('stead_ingress_request_duration_seconds_count')).toBeGreaterThanOrEqual(CALLS + 3);
    expect(m.value('stead_ingress_request_duration_seconds_sum')).toBeGreaterThan(0);
  });

  it('workers: invocations, attempts, replicas by role as the partition table places them, lag and appends', async () => {
    // Counted by the leaders; a leadership that moved meanwhile may count an invocation twice.
    expect(await overWorkers('stead_invocations_started_total')).toBeGreaterThanOrEqual(CALLS + 2);
    expect(await overWorkers('stead_invocations_completed_total')).toBeGreaterThanOrEqual(CALLS + 1);
    expect(await overWorkers('stead_invocations_failed_total')).toBeGreaterThanOrEqual(1);
    expect(await overWorkers('stead_invocations_retried_total')).toBeGreaterThanOrEqual(1);
    expect(
      await overWorkers('stead_invoker_attempt_duration_seconds_count', { outcome: 'completed' }),
    ).toBeGreaterThanOrEqual(CALLS + 2);
    // The colocated sequencers of the leaders took the appends.
    expect(await overWorkers('stead_log_append_duration_seconds_count')).toBeGreaterThanOrEqual(CALLS);
    expect(await overWorkers('stead_log_append_batch_records_sum')).toBeGreaterThanOrEqual(CALLS);
    // Each worker leads what the partition table says it leads, and follows the rest it hosts (both host both).
    await waitFor(
      async () => {
        const placements = (await clusterStatus(adminUrl)).partition_table.placements;
        for (const w of workers()) {
          const m = await scrapeMetrics(url(w));
          const leads = placements.filter((p) => p.leader === w).length;
          const hosts = placements.filter((p) => p.replicas.includes(w)).length;
          if (m.value('stead_partition_replicas', { role: 'leader' }) !== leads) return false;
          if (m.value('stead_partition_replicas', { role: 'follower' }) !== hosts - leads) return false;
          if (partitionsOf(m, 'stead_partition_applied_lag_records').length !== hosts) return false;
          if (partitionsOf(m, 'stead_partition_backlog_records').length !== hosts) return false;
        }
        return true;
      },
      { timeoutMs: 20_000, what: 'replicas by role as in GET /cluster' },
    );
    expect(await overWorkers('stead_partition_replicas', { role: 'leader' })).toBe(2);
    expect(await overWorkers('stead_partition_replicas', { role: 'follower' })).toBe(2);
    // Followers catch up with the log: the lag of every replica goes back to 0.
    await waitFor(async () => (await overWorkers('stead_partition_applied_lag_records')) === 0, {
      timeoutMs: 20_000,
      what: 'every replica applied up to its log tail',
    });
  });

  it('log servers, sequencer, metadata store and admin: their own figures', async () => {
    for (const ls of ['ls1', 'ls2']) {
      const m = await scrapeMetrics(url(ls));
      expect(m.value('stead_log_server_records_total')).toBeGreaterThan(0);
      expect(m.value('stead_log_server_stored_bytes_total')).toBeGreaterThan(0);
      expect(m.value('stead_log_server_store_duration_seconds_count')).toBeGreaterThan(0);
    }
    // The standalone sequencer takes no append once the leaders sequence their logs: its series exist.
    const seq = await scrapeMetrics(url('seq1'));
    expect(seq.value('stead_log_append_duration_seconds_count')).toBeGreaterThanOrEqual(0);
    expect(seq.value('stead_log_append_batch_records_count')).toBeGreaterThanOrEqual(0);
    const md = await scrapeMetrics(url('m1'));
    expect(md.value('stead_metadata_commit_duration_seconds_count')).toBeGreaterThan(0);
    expect(md.value('stead_metadata_is_leader')).toBe(1);
    expect((await scrapeMetrics(url('admin1'))).value('stead_controller_active')).toBe(1);
  });
});
