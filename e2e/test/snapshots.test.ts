/**
 * Snapshots, trimming and bootstrap in a cluster of real processes (issue 14), with a real S3-compatible server
 * (s3rver in a child process): workers snapshot the partitions they lead into the bucket, the active controller
 * trims every partition log below the oldest kept snapshot, and
 * - a worker whose data dir is wiped comes back from the snapshots, with the logs already trimmed below them
 *   (it could not replay from offset 0), and serves its partitions;
 * - a corrupt newest snapshot is skipped for the one before;
 * - the bucket gone for half a minute holds the trim points where they were and nothing else (the exactly-once
 *   checker runs throughout, and requests keep being answered).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { partitionKeyOf, partitionOf } from '@stead/core';
import {
  Cleanup,
  checkUnderLoad,
  ctlJson,
  ctlOk,
  type ExactlyOnceReport,
  S3Server,
  ServiceProcess,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';
import { LocalCluster } from '@stead/testing/local-cluster';
import { Client } from 'minio';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const PARTITIONS = 4;
const PREFIX = 'e2e';
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;
const TEST_TIMEOUT_MS = 420_000;

interface Placement {
  partition: number;
  replicas: string[];
  leader?: string;
}

interface SnapshotJson {
  partition: number;
  id: string;
  applied_offset: string;
  node: string;
  location: string;
}

async function clusterJson(adminUrl: string) {
  const res = await fetch(`${adminUrl}/cluster`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}`);
  return (await res.json()) as {
    partition_table?: { placements: Placement[] };
    logs: Array<{ partition: number; trim_point?: string }>;
  };
}

async function trimPoints(adminUrl: string): Promise<bigint[]> {
  const c = await clusterJson(adminUrl);
  return Array.from({ length: PARTITIONS }, (_, p) => BigInt(c.logs.find((l) => l.partition === p)?.trim_point ?? 0));
}

async function placements(adminUrl: string): Promise<Placement[]> {
  return (await clusterJson(adminUrl)).partition_table?.placements ?? [];
}

/** Sample `name{...label="value"...}` from a process's /metrics (0 when absent). */
async function metric(cluster: LocalCluster, name: string, process: string, label: string): Promise<number> {
  const p = cluster.process(process);
  const text = await (await fetch(`http://${p.host}:${p.metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The archived offset of each partition, from the active admin's gauge. */
async function archivedOffsets(cluster: LocalCluster): Promise<bigint[]> {
  return Promise.all(
    Array.from({ length: PARTITIONS }, async (_, p) =>
      BigInt(await metric(cluster, 'stead_log_archived_offset', 'admin1', `partition="${p}"`)),
    ),
  );
}

/** The structured log lines of a process with message `msg`. */
function logLines(cluster: LocalCluster, name: string, msg: string): Array<Record<string, unknown>> {
  return readFileSync(cluster.process(name).log, 'utf8')
    .split('\n')
    .filter((l) => l.includes(msg))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

function dataDirOf(cluster: LocalCluster, name: string): string {
  const flag = cluster.process(name).args.find((a) => a.startsWith('--data-dir='));
  if (!flag) throw new Error(`${name} has no --data-dir`);
  return flag.slice('--data-dir='.length);
}

function expectExactlyOnce(report: ExactlyOnceReport): void {
  expect(report.mismatches).toEqual([]);
  expect(report.unacknowledged).toBe(0);
  expect(report.acknowledged).toBeGreaterThanOrEqual(150);
}

/** Kills a worker with SIGKILL, removes its data dir, starts it again. */
async function wipe(cluster: LocalCluster, name: string): Promise<void> {
  await cluster.kill(name);
  rmSync(dataDirOf(cluster, name), { recursive: true, force: true });
  await cluster.restart(name);
}

/** Increments on keys of partition `p` (a few dozen records in its log). */
async function incrementsOn(ingressUrl: string, p: number, n: number): Promise<void> {
  let sent = 0;
  for (let i = 0; sent < n; i++) {
    const key = `snap-${i}`;
    if (partitionOf(partitionKeyOf(key), PARTITIONS) !== p) continue;
    const res = await fetch(`${ingressUrl}/Counter/${key}/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '1',
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    sent++;
  }
}

describeHere('snapshots, trimming and bootstrap in a cluster', () => {
  const cleanup = new Cleanup();
  let s3: S3Server;
  let cluster: LocalCluster;

  beforeAll(async () => {
    s3 = await S3Server.start(cleanup, 'stead-e2e');
    cluster = await LocalCluster.up({
      dir: `${cleanup.tempDir('stead-snapshots-')}/cluster`,
      ingressPort: 0,
      adminPort: 0,
      env: { ...process.env, STEAD_LOG_LEVEL: 'info' },
      workers: 3,
      partitions: PARTITIONS,
      partitionReplication: 2,
      logReplication: 2,
      extraArgs: {
        worker: [
          `--snapshot-bucket=${s3.bucket}`,
          `--snapshot-endpoint=${s3.endpoint}`,
          `--snapshot-prefix=${PREFIX}`,
          `--snapshot-access-key=${s3.accessKey}`,
          `--snapshot-secret-key=${s3.secretKey}`,
          '--snapshot-records=150',
          '--snapshot-interval=0',
          '--snapshot-retain=2',
        ],
        admin: ['--node-failure-timeout=2s', '--trim-delay=1s', '--replica-replacement-delay=60s'],
      },
    });
    cleanup.add(() => cluster.killAll());
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    const res = await fetch(`${cluster.adminUrl}/deployments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uri: svc.uri }),
    });
    expect([200, 201]).toContain(res.status);
  }, 180_000);

  afterAll(() => cleanup.run(), 60_000);

  it(
    'a worker whose data dir is wiped comes back from the snapshots, the logs trimmed below them',
    async () => {
      let hosted: number[] = [];
      let trimmedBefore: bigint[] = [];
      const report = await checkUnderLoad(
        async () => {
          // Snapshots taken and the logs trimmed behind them, in every partition.
          await waitFor(async () => (await trimPoints(cluster.adminUrl)).every((t) => t > 0n), {
            timeoutMs: 180_000,
            what: 'every partition log trimmed',
          });
          hosted = (await placements(cluster.adminUrl))
            .filter((pl) => pl.replicas.includes('w1'))
            .map((pl) => pl.partition);
          expect(hosted.length).toBeGreaterThan(0);
          await wipe(cluster, 'w1');
          trimmedBefore = await trimPoints(cluster.adminUrl);
          // Each replica it still holds is rebuilt from a snapshot (its store was empty and the log is trimmed).
          await waitFor(
            async () => (await metric(cluster, 'stead_snapshots_total', 'w1', 'outcome="restored"')) >= hosted.length,
            {
              timeoutMs: 120_000,
              what: `w1 to restore its ${hosted.length} partitions from snapshots\n${cluster.output('w1')}`,
            },
          );
          // It serves: one of its partitions is handed to it and requests keep flowing (the checker's keys span
          // every partition).
          await ctlOk(cluster.adminUrl, [
            'partitions',
            'transfer-leader',
            String(hosted[0]),
            '--to',
            'w1',
            '--timeout',
            '60s',
          ]);
        },
        { ingressUrl: cluster.ingressUrl, keys: 32, clients: 8, beforeTimeoutMs: 60_000, afterTimeoutMs: 120_000 },
      );
      expectExactlyOnce(report);
      const restores = logLines(cluster, 'w1', 'partition store restored from a snapshot');
      expect(restores.map((r) => r.partition).sort()).toEqual(expect.arrayContaining(hosted.sort()));
      for (const r of restores) {
        const p = r.partition as number;
        const trimPoint = BigInt(r.trimPoint as string);
        // The log was trimmed when it restored: replaying from offset 0 was impossible, the snapshot covered it.
        expect(trimPoint).toBeGreaterThan(0n);
        expect(trimmedBefore[p]).toBeGreaterThan(0n);
        expect(BigInt(r.appliedOffset as string) + 1n).toBeGreaterThanOrEqual(trimPoint);
      }
      expect((await placements(cluster.adminUrl)).find((pl) => pl.partition === hosted[0])?.leader).toBe('w1');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a corrupt newest snapshot is skipped for the one before',
    async () => {
      const table = await placements(cluster.adminUrl);
      const pl = table.find((x) => x.replicas.length === 2 && x.leader !== undefined)!;
      const follower = pl.replicas.find((r) => r !== pl.leader)!;
      const p = String(pl.partition);
      await ctlJson(cluster.adminUrl, ['snapshots', 'create', '--partition', p]);
      await incrementsOn(cluster.ingressUrl, pl.partition, 10);
      const created = await ctlJson<{ snapshots: SnapshotJson[] }>(cluster.adminUrl, [
        'snapshots',
        'create',
        '--partition',
        p,
      ]);
      const listed = await ctlJson<{ snapshots: SnapshotJson[] }>(cluster.adminUrl, [
        'snapshots',
        'list',
        '--partition',
        p,
      ]);
      expect(listed.snapshots.length).toBe(2);
      const [newest, previous] = listed.snapshots;
      expect(newest!.id).toBe(created.snapshots[0]!.id);
      expect(BigInt(newest!.applied_offset)).toBeGreaterThan(BigInt(previous!.applied_offset));
      // Overwrite the newest snapshot's data in the bucket: its checksum no longer matches its manifest.
      const s3client = new Client({
        endPoint: '127.0.0.1',
        port: s3.port,
        useSSL: false,
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
        region: s3.region,
        pathStyle: true,
      });
      const folder = `${PREFIX}/partition-${p}/${newest!.applied_offset.padStart(20, '0')}-${newest!.id}`;
      await s3client.putObject(s3.bucket, `${folder}/snapshot.bin`, randomBytes(4096));

      await wipe(cluster, follower);
      await waitFor(
        async () =>
          logLines(cluster, follower, 'partition store restored from a snapshot').some(
            (r) => String(r.partition) === p,
          ),
        { timeoutMs: 120_000, what: `${follower} to restore partition ${p}\n${cluster.output(follower)}` },
      );
      const restored = logLines(cluster, follower, 'partition store restored from a snapshot').find(
        (r) => String(r.partition) === p,
      )!;
      expect(restored.appliedOffset).toBe(previous!.applied_offset);
      expect(
        await metric(cluster, 'stead_snapshots_total', follower, 'outcome="corrupt_skipped"'),
      ).toBeGreaterThanOrEqual(1);
      // The replica follows on from there: the counters are right on it once it leads.
      await ctlOk(cluster.adminUrl, ['partitions', 'transfer-leader', p, '--to', follower, '--timeout', '60s']);
      await incrementsOn(cluster.ingressUrl, pl.partition, 3);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'the bucket gone for half a minute holds trimming back and nothing else',
    async () => {
      let floors: bigint[] = [];
      let failedDuring = 0;
      const report = await checkUnderLoad(
        async () => {
          await s3.kill9();
          // A snapshot under way when it went fails within the repository's request timeout (5 s); then the
          // archived offsets the workers report stay put, and the log may be trimmed up to just above them only.
          await new Promise((r) => setTimeout(r, 6_000));
          floors = await archivedOffsets(cluster);
          expect(floors.every((f) => f >= 0n)).toBe(true);
          const until = Date.now() + 20_000;
          while (Date.now() < until) {
            const now = await trimPoints(cluster.adminUrl);
            for (const [p, t] of now.entries()) expect(t).toBeLessThanOrEqual(floors[p]! + 1n);
            expect(await archivedOffsets(cluster)).toEqual(floors);
            await new Promise((r) => setTimeout(r, 2_000));
          }
          for (const w of ['w1', 'w2', 'w3'])
            failedDuring += await metric(cluster, 'stead_snapshots_total', w, 'outcome="failed"');
          await s3.restart();
          // Snapshots resume, and with them the trimming past what the bucket held before.
          await waitFor(async () => (await trimPoints(cluster.adminUrl)).some((t, p) => t > floors[p]! + 1n), {
            timeoutMs: 120_000,
            what: 'a trim point past the old snapshots after the bucket came back',
          });
        },
        { ingressUrl: cluster.ingressUrl, keys: 32, clients: 8, beforeTimeoutMs: 60_000, afterTimeoutMs: 120_000 },
      );
      expectExactlyOnce(report);
      expect(failedDuring).toBeGreaterThan(0);
      // Requests were answered throughout: no gap anywhere near the time without a bucket.
      expect(report.longestGapMs).toBeLessThan(15_000);
    },
    TEST_TIMEOUT_MS,
  );
});
