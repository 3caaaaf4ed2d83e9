/**
 * Snapshots of the one-process server (`npm start`): without a bucket they go to `<data-dir>/snapshots`, with
 * one to the bucket (a real S3-compatible server here); `stead ctl snapshots create|list` takes and lists them,
 * the schedule takes them every `--snapshot-records`, and bad input is refused with the status and why.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, ctl, ctlJson, S3Server, ServiceProcess, SteadServer, TOPOLOGY, waitFor } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

interface SnapshotsJson {
  snapshots: Array<{ partition: number; applied_offset: string; node: string; location: string; size_bytes: number }>;
  failures: Array<{ partition: number; error: string }>;
}

async function metricSum(server: SteadServer, name: string, label: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.ports.metrics}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(label))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function increments(ingressUrl: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${ingressUrl}/Counter/server-${i % 16}/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '1',
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
}

describeHere('snapshots of the one-process server', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run(), 60_000);

  it('takes them on request and on schedule into the data dir, and lists them', async () => {
    const server = await SteadServer.start(cleanup, ['--partitions=4', '--snapshot-records=100']);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
    await increments(server.ingressUrl, 40);

    const created = await ctlJson<SnapshotsJson>(server.adminUrl, ['snapshots', 'create']);
    expect(created.failures).toEqual([]);
    expect(created.snapshots.map((s) => s.partition).sort()).toEqual([0, 1, 2, 3]);
    for (const s of created.snapshots) {
      expect(s.node).toBe('server');
      expect(s.location).toContain(join(server.dataDir, 'snapshots'));
      expect(s.size_bytes).toBeGreaterThan(0);
    }
    expect(readdirSync(join(server.dataDir, 'snapshots')).sort()).toEqual(
      ['partition-0', 'partition-1', 'partition-2', 'partition-3'].sort(),
    );
    const one = await ctlJson<SnapshotsJson>(server.adminUrl, ['snapshots', 'list', '--partition', '2']);
    expect(one.snapshots).toHaveLength(1);
    expect(one.snapshots[0]!.applied_offset).toBe(created.snapshots.find((s) => s.partition === 2)!.applied_offset);
    const table = await ctl(server.adminUrl, ['snapshots', 'list']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^PARTITION\s+APPLIED OFFSET\s+CREATED/);
    expect(table.out.trim().split('\n')).toHaveLength(5);

    // The log figures of each partition.
    expect(await metricSum(server, 'stead_log_records', 'partition="')).toBeGreaterThan(0);
    expect(await metricSum(server, 'stead_log_trim_point', 'partition="')).toBe(0);
    // The schedule: every 100 applied records, without asking.
    const before = await metricSum(server, 'stead_snapshots_total', 'outcome="created"');
    await increments(server.ingressUrl, 120);
    await waitFor(async () => (await metricSum(server, 'stead_snapshots_total', 'outcome="created"')) > before, {
      what: 'a scheduled snapshot',
      timeoutMs: 20_000,
    });

    // Bad input: the status and why, exit 1; the server goes on.
    const bad = await ctl(server.adminUrl, ['snapshots', 'create', '--partition', '9']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/400.*partitions: 9 is not a partition \(0 to 3\)/);
    const res = await fetch(`${server.adminUrl}/cluster/snapshots`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[1,2',
    });
    expect(res.status).toBe(400);
    await increments(server.ingressUrl, 1);
  }, 120_000);

  it('takes them into a bucket when one is set', async () => {
    const s3 = await S3Server.start(cleanup, 'stead-server');
    const server = await SteadServer.start(cleanup, [
      '--partitions=2',
      `--snapshot-bucket=${s3.bucket}`,
      `--snapshot-endpoint=${s3.endpoint}`,
      `--snapshot-access-key=${s3.accessKey}`,
      `--snapshot-secret-key=${s3.secretKey}`,
      '--snapshot-prefix=one/server',
    ]);
    // A partition with nothing applied yet (its leader's first record still on its way) has no snapshot to take.
    await waitFor(
      async () =>
        (await metricSum(server, 'stead_log_records', 'partition="0"')) > 0 &&
        (await metricSum(server, 'stead_log_records', 'partition="1"')) > 0 &&
        (await metricSum(server, 'stead_partition_applied_lag_records', 'partition="')) === 0,
      { what: 'both partitions to apply their first records' },
    );
    const created = await ctlJson<SnapshotsJson>(server.adminUrl, ['snapshots', 'create']);
    expect(created.failures).toEqual([]);
    expect(created.snapshots.map((s) => s.location)).toEqual([
      expect.stringContaining(`s3://${s3.bucket}/one/server`),
      expect.stringContaining(`s3://${s3.bucket}/one/server`),
    ]);
    expect(existsSync(join(server.dataDir, 'snapshots'))).toBe(false);
    const listed = await ctlJson<SnapshotsJson>(server.adminUrl, ['snapshots', 'list']);
    expect(listed.snapshots).toHaveLength(2);
    // The bucket gone: the request says so (503, every partition failed), the server keeps serving.
    await s3.kill9();
    const failed = await ctl(server.adminUrl, ['snapshots', 'create']);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/answered 503 .*no snapshot could be taken \(2 failed; partition 0: /);
    expect(failed.err).toContain(`127.0.0.1:${s3.port}`);
    const ready = await fetch(`${server.adminUrl}/health`);
    expect(ready.status).toBe(200);
  }, 120_000);
});
