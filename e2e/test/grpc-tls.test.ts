/**
 * gRPC mTLS switched on in a running cluster of real processes, under load: every process is restarted one at a
 * time from `off` to `allow` (listeners take plaintext and mTLS, clients try mTLS and fall back to a peer still
 * off), then one at a time from `allow` to `require` (mTLS only). The exactly-once checker sends idempotent
 * increments throughout: nothing lost, nothing applied twice, no request failing for good. At the end every node
 * port refuses a plaintext client and a certificate of another CA, and serves a node certificate of the cluster CA.
 */
import { join } from 'node:path';
import { GrpcMetadataClient } from '@stead/metadata';
import { GrpcTls, type GrpcTlsMode } from '@stead/runtime';
import { createTestCa, issueTestCert, probeGrpcListener } from '@stead/runtime/test-pki';
import {
  Cleanup,
  checkUnderLoad,
  type ExactlyOnceReport,
  ServiceProcess,
  SteadServer,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';
import { LocalCluster } from '@stead/testing/local-cluster';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const STEP_TIMEOUT_MS = 480_000;

// The test starts a cluster of its own: it runs once, in the single-process topology's run (as elastic.test.ts).
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

interface ClusterJson {
  controller: { nodes?: Array<{ id: string; alive: boolean }> };
  partition_table?: { placements: Array<{ leader?: string; replicas: string[] }> };
}

describeHere('gRPC mTLS switched on in a running cluster, one process at a time', () => {
  const cleanup = new Cleanup();
  let cluster: LocalCluster;
  let pki = '';
  const reports: Record<string, ExactlyOnceReport> = {};

  beforeAll(async () => {
    const dir = cleanup.tempDir('stead-grpc-tls-');
    pki = join(dir, 'pki');
    cluster = await LocalCluster.up({
      dir: join(dir, 'cluster'),
      ingressPort: 0,
      adminPort: 0,
      metadata: 3,
      logServers: 3,
      sequencers: 2,
      workers: 3,
      partitions: 6,
      partitionReplication: 2,
      logReplication: 2,
      env: { ...process.env, STEAD_LOG_LEVEL: process.env.STEAD_LOG_LEVEL ?? 'info' },
      extraArgs: { admin: ['--node-failure-timeout=2s'] },
    });
    cleanup.add(() => cluster.killAll());
    const ca = createTestCa(pki, 'cluster');
    // One certificate per process, naming it by its node id (its process name).
    for (const p of cluster.processes) issueTestCert(pki, ca, p.name, p.name);
    issueTestCert(pki, createTestCa(pki, 'other'), 'foreign', 'w1');
    issueTestCert(pki, ca, 'probe', 'probe');
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    const res = await fetch(`${cluster.adminUrl}/deployments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uri: svc.uri }),
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`registration: ${res.status} ${await res.text()}`);
  }, 180_000);
  afterAll(async () => {
    process.stdout.write(`exactly-once checker: ${JSON.stringify(reports)}\n`);
    await cleanup.run();
  }, 60_000);

  const flags = (mode: GrpcTlsMode, name: string) => [
    `--grpc-tls-mode=${mode}`,
    `--grpc-tls-ca-file=${join(pki, 'cluster-ca.crt')}`,
    `--grpc-tls-cert-file=${join(pki, `${name}.crt`)}`,
    `--grpc-tls-key-file=${join(pki, `${name}.key`)}`,
  ];

  /** Every partition led with both replicas, every worker alive: the next process may go. */
  const whole = async () => {
    const res = await fetch(`${cluster.adminUrl}/cluster`, { signal: AbortSignal.timeout(5_000) }).catch(
      () => undefined,
    );
    if (res?.status !== 200) return false;
    const c = (await res.json()) as ClusterJson;
    return (
      (c.partition_table?.placements.every((p) => p.leader !== undefined && p.replicas.length === 2) ?? false) &&
      (c.controller.nodes ?? []).filter((n) => ['w1', 'w2', 'w3'].includes(n.id)).every((n) => n.alive)
    );
  };

  /** Restarts every process, one at a time, in `mode`, under load; the checker's verdict. */
  const rollTo = (mode: GrpcTlsMode) =>
    checkUnderLoad(
      async () => {
        for (const p of cluster.processes.map((x) => x.name)) {
          await cluster.stop(p, 30_000);
          await cluster.restart(p, { flags: flags(mode, p) });
          await waitFor(whole, { timeoutMs: 60_000, intervalMs: 250, what: `the cluster whole after ${p} → ${mode}` });
        }
      },
      { ingressUrl: cluster.ingressUrl, keys: 32, clients: 8, beforeTimeoutMs: 60_000, afterTimeoutMs: 120_000 },
    );

  const expectExactlyOnce = (r: ExactlyOnceReport) => {
    expect(r.mismatches).toEqual([]);
    expect(r.unacknowledged).toBe(0);
    expect(r.acknowledged).toBeGreaterThanOrEqual(150);
  };

  /** What every node port (metadata store, log servers, sequencers, workers) does with a client of `tls`. */
  const probeAll = async (tls: GrpcTls) => {
    const out: Record<string, string> = {};
    for (const p of cluster.processes)
      if (p.nodePort !== undefined) out[p.name] = await probeGrpcListener(`${p.host}:${p.nodePort}`, tls);
    return out;
  };
  const every = (answer: string) =>
    Object.fromEntries(cluster.processes.filter((p) => p.nodePort !== undefined).map((p) => [p.name, answer]));
  const tlsWith = (name: string, ca = 'cluster') => {
    const t = GrpcTls.fromFiles({
      mode: 'require',
      caFile: join(pki, `${ca}-ca.crt`),
      certFile: join(pki, `${name}.crt`),
      keyFile: join(pki, `${name}.key`),
    });
    cleanup.add(() => t.close());
    return t;
  };

  it(
    'off → allow, one process at a time, nothing lost',
    async () => {
      reports['off→allow'] = await rollTo('allow');
      expectExactlyOnce(reports['off→allow']);
      // Both kinds of client are served on the same ports.
      expect(await probeAll(GrpcTls.off())).toEqual(every('served'));
      expect(await probeAll(tlsWith('probe'))).toEqual(every('served'));
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'allow → require, one process at a time, nothing lost; then plaintext and foreign certificates are refused',
    async () => {
      reports['allow→require'] = await rollTo('require');
      expectExactlyOnce(reports['allow→require']);
      expect(await probeAll(GrpcTls.off())).toEqual(every('refused'));
      expect(await probeAll(tlsWith('foreign', 'other'))).toEqual(every('refused'));
      expect(await probeAll(tlsWith('probe'))).toEqual(every('served'));
    },
    STEP_TIMEOUT_MS,
  );
});

describeHere('the one-process server node port with --grpc-tls-mode require', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  it('takes metadata writes from member certificates only, refuses plaintext, and serves invocations', async () => {
    const pki = cleanup.tempDir('stead-server-tls-');
    const ca = createTestCa(pki, 'cluster');
    const own = issueTestCert(pki, ca, 'server', 'server');
    const tlsOf = (name: string, nodeId: string | undefined) => {
      const t = GrpcTls.fromFiles({ mode: 'require', ...issueTestCert(pki, ca, name, nodeId) });
      cleanup.add(() => t.close());
      return t;
    };
    const server = await SteadServer.start(cleanup, [
      '--grpc-tls-mode=require',
      `--grpc-tls-ca-file=${own.caFile}`,
      `--grpc-tls-cert-file=${own.certFile}`,
      `--grpc-tls-key-file=${own.keyFile}`,
    ]);
    const address = `127.0.0.1:${server.ports.node}`;
    const client = (tls: GrpcTls) => {
      const c = new GrpcMetadataClient({ addresses: [address], timeoutMs: 3_000, attemptTimeoutMs: 1_000, tls });
      cleanup.add(() => c.close());
      return c;
    };
    const enc = new TextEncoder();
    expect(await probeGrpcListener(address, GrpcTls.off())).toBe('refused');
    expect(await client(tlsOf('member', 'node-1')).put('e2e/tls', enc.encode('1'))).toBeGreaterThan(0);
    await expect(client(tlsOf('operator', undefined)).put('e2e/tls', enc.encode('2'))).rejects.toMatchObject({
      code: 'permission-denied',
    });
    await expect(
      client(tlsOf('operator-2', undefined)).addMember('intruder', '198.51.100.7:5122'),
    ).rejects.toMatchObject({ code: 'permission-denied' });
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
    const res = await fetch(`${server.ingressUrl}/Test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ over: 'mtls' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ over: 'mtls' });
  }, 90_000);
});
