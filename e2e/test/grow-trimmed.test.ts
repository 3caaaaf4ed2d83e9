import {
  Cleanup,
  checkUnderLoad,
  ctlOk,
  S3Server,
  ServiceProcess,
  SteadServer,
  startMemberProcess,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

interface ClusterJson {
  partition_table?: { placements: Array<{ partition: number; replicas: string[]; leader?: string }> };
  logs: Array<{ partition: number; trim_point?: string }>;
}

async function clusterJson(adminUrl: string): Promise<ClusterJson> {
  const res = await fetch(`${adminUrl}/cluster`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}`);
  return (await res.json()) as ClusterJson;
}

/** Increments from `clients` loops until `done()` holds. */
async function loadUntil(ingressUrl: string, done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  let stop = false;
  const loops = Array.from({ length: 16 }, async (_, c) => {
    for (let i = 0; !stop; i++) {
      const res = await fetch(`${ingressUrl}/Counter/fill-${c}-${i % 50}/add`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '1',
      });
      await res.arrayBuffer();
    }
  });
  try {
    await waitFor(done, { timeoutMs, intervalMs: 500, what: 'the load to be done' });
  } finally {
    stop = true;
    await Promise.all(loops);
  }
}

describeHere('a server whose logs were trimmed grows into a cluster from snapshots in a bucket', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run(), 60_000);

  it('snapshots its trimmed partitions, and the new worker starts from them', async () => {
    const s3 = await S3Server.start(cleanup, 'stead-grow');
    const bucket = [
      `--snapshot-bucket=${s3.bucket}`,
      `--snapshot-endpoint=${s3.endpoint}`,
      `--snapshot-access-key=${s3.accessKey}`,
      `--snapshot-secret-key=${s3.secretKey}`,
    ];
    const server = await SteadServer.start(cleanup, ['--partitions=1', ...bucket]);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
    // Enough records for the server to trim its log (every 10 000 records).
    await loadUntil(
      server.ingressUrl,
      async () => BigInt((await clusterJson(server.adminUrl)).logs[0]?.trim_point ?? 0) > 0n,
      180_000,
    );
    const trimmed = BigInt((await clusterJson(server.adminUrl)).logs[0]!.trim_point!);
    expect(trimmed).toBeGreaterThan(0n);

    const metadata = `127.0.0.1:${server.ports.node}`;
    for (const id of ['ls1', 'ls2']) await startMemberProcess(cleanup, 'log-server', id, metadata);
    const w2 = await startMemberProcess(cleanup, 'worker', 'w2', metadata, bucket);
    const report = await checkUnderLoad(
      async () => {
        await ctlOk(server.adminUrl, ['config', 'set', '--log-replication', '2', '--partition-replication', '2']);
        // The new replica cannot replay the log from 0: it starts from the snapshot taken before the switch.
        await waitFor(async () => w2.lines.some((l) => l.includes('partition store restored from a snapshot')), {
          timeoutMs: 90_000,
          what: `w2 to restore partition 0 from a snapshot\n${w2.output()}`,
        });
        await waitFor(
          async () => (await clusterJson(server.adminUrl)).partition_table?.placements[0]?.replicas.length === 2,
          { timeoutMs: 60_000, what: 'two replicas of partition 0' },
        );
        await ctlOk(server.adminUrl, ['partitions', 'transfer-leader', '0', '--to', 'w2', '--timeout', '60s']);
      },
      { ingressUrl: server.ingressUrl, keys: 16, clients: 6, afterTimeoutMs: 60_000, beforeTimeoutMs: 60_000 },
    );
    expect(report.mismatches).toEqual([]);
    expect(report.unacknowledged).toBe(0);
    expect(report.acknowledged).toBeGreaterThanOrEqual(150);
    const restored = JSON.parse(w2.lines.find((l) => l.includes('partition store restored from a snapshot'))!) as {
      appliedOffset: string;
      trimPoint: string;
    };
    expect(BigInt(restored.trimPoint)).toBeGreaterThanOrEqual(trimmed);
    expect(BigInt(restored.appliedOffset) + 1n).toBeGreaterThanOrEqual(BigInt(restored.trimPoint));
  }, 420_000);
});
