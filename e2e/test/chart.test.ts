/**
 * The Helm chart, run (issue 15): `helm template charts/stead` renders the release, and a stand-in kubelet
 * (@stead/testing Kubelet) starts every pod of its StatefulSets and Deployments as a local process with its own
 * network namespace, cluster DNS names, PVC directory and service account — with nothing but the rendered
 * commands, environment, probes and preStop hooks. A stand-in Kubernetes API serves the Nodes (with zone labels)
 * and the StatefulSets' desired replicas. The test registers the SDK services, serves requests and scales the
 * worker and log-server StatefulSets up and down by re-rendering with new replica counts, under load with the
 * exactly-once checker. A real Prometheus scrapes every pod meanwhile, and every query of every panel of the
 * chart's Grafana dashboards must return data. Authentication is on, as the chart's default (tokens in a Secret
 * volume; the preStop hooks drain with their own token).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Cleanup,
  checkUnderLoad,
  ExactlyOnceChecker,
  type ExactlyOnceReport,
  KubeApiServer,
  Kubelet,
  type KubeObject,
  PrometheusServer,
  parseManifests,
  REPO,
  S3Server,
  ServiceProcess,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';
import { panelQueries } from '../../charts/src/panel-queries.ts';
import { k8sTools } from '../../scripts/k8s-tools.ts';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const CHART = join(REPO, 'charts/stead');
const NAMESPACE = 'stead-e2e';
const RELEASE = 'stead';
const ZONES = { 'node-a': 'zone-a', 'node-b': 'zone-b', 'node-c': 'zone-c' } as const;
const STEP_TIMEOUT_MS = 240_000;

const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

interface ClusterJson {
  controller: { active: boolean; nodes?: Array<{ id: string; alive: boolean; draining: boolean; location?: string }> };
  partition_table?: { placements: Array<{ partition: number; replicas: string[]; leader?: string }> };
  log_nodes?: Array<{ id: string; kind: string; zone?: string; segments?: number }>;
}

function expectExactlyOnce(report: ExactlyOnceReport): void {
  expect(report.mismatches).toEqual([]);
  expect(report.unacknowledged).toBe(0);
  expect(report.acknowledged).toBeGreaterThanOrEqual(150);
}

describeHere('the Helm chart, run by a stand-in kubelet', () => {
  const cleanup = new Cleanup();
  const reports: Record<string, ExactlyOnceReport> = {};
  let kubelet: Kubelet;
  let kubeApi: KubeApiServer;
  let prometheus: PrometheusServer;
  let valuesFile: string;
  let secret: KubeObject;
  let authSecret: KubeObject;
  // Auth is on, as the chart's default: the test's token has every scope; the preStop hooks use their own.
  const adminToken = `stead_${randomBytes(24).toString('base64url')}`;
  const prestopToken = `stead_${randomBytes(24).toString('base64url')}`;
  const bearer = { authorization: `Bearer ${adminToken}` };

  /** The release as `helm template` renders it with these replica counts, plus the Secret the values name. */
  function render(workers: number, logServers: number): KubeObject[] {
    const { helm } = k8sTools();
    const out = execFileSync(
      helm,
      [
        'template',
        RELEASE,
        CHART,
        '--namespace',
        NAMESPACE,
        '-f',
        valuesFile,
        '--set',
        `worker.replicas=${workers}`,
        '--set',
        `logServer.replicas=${logServers}`,
      ],
      { encoding: 'utf8' },
    );
    return [...parseManifests(out), secret, authSecret];
  }

  const ingressUrl = () => `http://${kubelet.serviceIp(`${RELEASE}-ingress`)}:8080`;
  const adminUrl = () => `http://${kubelet.serviceIp(`${RELEASE}-admin`)}:9070`;

  async function cluster(): Promise<ClusterJson> {
    const res = await fetch(`${adminUrl()}/cluster`, { headers: bearer, signal: AbortSignal.timeout(5_000) });
    if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}`);
    return (await res.json()) as ClusterJson;
  }

  /** Points Prometheus at every pod's metrics port (as a ServiceMonitor would). */
  function scrapeEveryPod(): void {
    prometheus.setTargets(kubelet.view().map((p) => ({ address: `${p.ip}:5123`, labels: { pod: p.name } })));
  }

  async function scale(workers: number, logServers: number): Promise<void> {
    await kubelet.apply(render(workers, logServers), STEP_TIMEOUT_MS);
    scrapeEveryPod();
  }

  beforeAll(async () => {
    const dir = cleanup.tempDir('stead-chart-');
    kubelet = Kubelet.start(cleanup, {
      namespace: NAMESPACE,
      nodes: Object.keys(ZONES),
      extraEnv: { STEAD_LOG_LEVEL: process.env.STEAD_LOG_LEVEL ?? 'info' },
    });
    kubeApi = await KubeApiServer.start(cleanup, { host: kubelet.hostIp, namespace: NAMESPACE });
    for (const [node, zone] of Object.entries(ZONES))
      kubeApi.setNode(node, { 'topology.kubernetes.io/zone': zone, 'kubernetes.io/hostname': node });
    kubelet.useKubeApi({ host: kubelet.hostIp, port: kubeApi.port, serviceAccountDir: kubeApi.serviceAccountDir });
    kubelet.onReplicas((name, replicas) => kubeApi.setStatefulSet(NAMESPACE, name, replicas));
    const s3 = await S3Server.start(cleanup, 'stead-chart', { host: kubelet.hostIp });
    secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'stead-snapshots' },
      stringData: { 'access-key': s3.accessKey, 'secret-key': s3.secretKey },
    };
    const hash = (token: string) => `sha256:${createHash('sha256').update(token).digest('hex')}`;
    const all = ['admin:read', 'admin:write', 'ingress:invoke', 'ingress:attach'];
    authSecret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'stead-auth' },
      stringData: {
        'tokens.json': JSON.stringify({
          tokens: [
            { name: 'e2e', hash: hash(adminToken), scopes: all },
            { name: 'prestop', hash: hash(prestopToken), scopes: ['admin:read', 'admin:write'] },
          ],
        }),
        'prestop-token': prestopToken,
      },
    };
    valuesFile = join(dir, 'values.yaml');
    writeFileSync(
      valuesFile,
      [
        'partitions: 4',
        'partitionReplication: "2"',
        'logReplication: "2"',
        'snapshots:',
        `  bucket: ${s3.bucket}`,
        `  endpoint: http://${kubelet.hostIp}:${s3.port}`,
        `  region: ${s3.region}`,
        '  existingSecret: stead-snapshots',
        'auth:',
        '  existingSecret: stead-auth',
        'metadataStore:',
        '  replicas: 1',
        // A snapshot soon after the start, so that the snapshot panels have data.
        'worker:',
        '  env:',
        '    - {name: STEAD_SNAPSHOT_INTERVAL, value: 15s}',
        'admin:',
        '  env:',
        // Quick failure detection, so that the steps below do not wait out production timeouts.
        '    - {name: STEAD_NODE_FAILURE_TIMEOUT, value: 2s}',
        '',
      ].join('\n'),
    );
    prometheus = await PrometheusServer.start(cleanup);
    await scale(3, 3);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    // Without a token the admin API refuses: auth is on.
    expect((await fetch(`${adminUrl()}/deployments`)).status).toBe(401);
    expect((await fetch(`${ingressUrl()}/Counter/k/get`, { method: 'POST' })).status).toBe(401);
    const res = await fetch(`${adminUrl()}/deployments`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ uri: `http://${kubelet.hostIp}:${svc.port}` }),
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`registration: ${res.status} ${await res.text()}`);
  }, 240_000);

  afterAll(async () => {
    process.stdout.write(`exactly-once checker: ${JSON.stringify(reports)}\n`);
    await cleanup.run();
  }, 120_000);

  test('every pod learned its zone from its Node through the Kubernetes API', async () => {
    const c = await waitFor(
      async () => {
        const v = await cluster();
        return (v.controller.nodes?.length ?? 0) >= 3 && (v.log_nodes?.length ?? 0) >= 3 ? v : undefined;
      },
      { timeoutMs: 60_000, what: 'workers and log servers registered' },
    );
    // The zone of each pod's Node, as the stand-in API serves it, is what the node registered.
    const expected = (sts: string) =>
      Object.fromEntries(
        kubelet
          .view()
          .filter((p) => p.owner === `${RELEASE}-${sts}`)
          .map((p) => [p.name, ZONES[p.nodeName as keyof typeof ZONES]]),
      );
    expect(Object.fromEntries((c.controller.nodes ?? []).map((n) => [n.id, n.location]))).toEqual(expected('worker'));
    const logServers = (c.log_nodes ?? []).filter((l) => l.kind === 'log-server');
    expect(Object.fromEntries(logServers.map((n) => [n.id, n.zone]))).toEqual(expected('log-server'));
  }, 90_000);

  test(
    'scales workers and log servers up and down with kubectl-scale semantics, exactly once',
    async () => {
      const load = { ingressUrl: ingressUrl(), keys: 32, clients: 8, beforeTimeoutMs: 60_000, headers: bearer };
      reports['scale up 3→4'] = await checkUnderLoad(() => scale(4, 4), load);
      expectExactlyOnce(reports['scale up 3→4']);
      // The new pods took work: the fourth worker holds replicas, the fourth log server holds segments.
      await waitFor(
        async () => {
          const c = await cluster();
          const w3 = c.partition_table?.placements.some((p) => p.replicas.includes(`${RELEASE}-worker-3`));
          const l3 = c.log_nodes?.find((n) => n.id === `${RELEASE}-log-server-3`)?.segments ?? 0;
          return w3 && l3 > 0;
        },
        { timeoutMs: 120_000, what: 'the new worker and log server to take work' },
      );

      reports['scale down 4→3'] = await checkUnderLoad(() => scale(3, 3), load);
      expectExactlyOnce(reports['scale down 4→3']);
      // The removed pods were drained by their preStop hook before SIGTERM (the admin saw the StatefulSets
      // scaled below them), then stopped cleanly, and nothing is placed on them any more.
      const ended = (pod: string) =>
        kubelet
          .events()
          .filter((e) => e.pod === pod)
          .map((e) => ({ kind: e.kind, code: e.code, said: e.kind === 'preStop' ? e.output.at(-1) : undefined }));
      for (const pod of [`${RELEASE}-worker-3`, `${RELEASE}-log-server-3`])
        expect(ended(pod)).toEqual([
          { kind: 'preStop', code: 0, said: `${pod} drained` },
          { kind: 'exit', code: 0, said: undefined },
        ]);
      const c = await cluster();
      expect(c.partition_table?.placements.filter((p) => p.replicas.includes(`${RELEASE}-worker-3`))).toEqual([]);
      expect(c.log_nodes?.find((n) => n.id === `${RELEASE}-log-server-3`)?.segments ?? 0).toBe(0);
    },
    3 * STEP_TIMEOUT_MS,
  );

  test('every query of every dashboard panel returns data from a real Prometheus', async () => {
    scrapeEveryPod();
    // Some load, some requests that fail (an unknown handler: 404), while Prometheus scrapes.
    const checker = new ExactlyOnceChecker({ ingressUrl: ingressUrl(), keys: 8, clients: 4, headers: bearer });
    checker.start();
    try {
      for (let i = 0; i < 5; i++) await fetch(`${ingressUrl()}/Counter/k/nope`, { method: 'POST', headers: bearer });
      // Enough load for every rate and histogram of the panels to move.
      await waitFor(() => checker.acknowledged >= 150, { timeoutMs: 60_000, what: 'increments under load' });
      await waitFor(
        async () => {
          const targets = await prometheus.targets();
          return targets.length === kubelet.view().length && targets.every((t) => t.health === 'up');
        },
        { timeoutMs: 60_000, what: 'Prometheus to scrape every pod' },
      );
      const queries = dashboardQueries();
      expect(queries.length).toBeGreaterThan(10);
      // Rates need two samples of each series inside their window: poll until every panel has data.
      let empty: string[] = [];
      await waitFor(
        async () => {
          empty = [];
          for (const q of queries)
            if ((await prometheus.query(q.promql)).length === 0) empty.push(`${q.dashboard} / ${q.panel}: ${q.promql}`);
          return empty.length === 0;
        },
        { timeoutMs: 90_000, intervalMs: 2000, what: 'every panel to have data' },
      ).catch(() => undefined);
      expect(empty).toEqual([]);
    } finally {
      expectExactlyOnce(await checker.stop());
    }
  }, 240_000);
});

/** Every panel query of the chart's dashboards, with Grafana's variables replaced as a Grafana would. */
function dashboardQueries(): Array<{ dashboard: string; panel: string; promql: string }> {
  const dir = join(CHART, 'dashboards');
  const out: Array<{ dashboard: string; panel: string; promql: string }> = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const dash = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    for (const q of panelQueries(dash)) {
      const promql = q.expr
        .replaceAll('$__rate_interval', '30s')
        .replaceAll('$__interval', '10s')
        .replaceAll('$__range', '5m')
        .replace(/\$\{?(\w+)\}?/g, '.*');
      out.push({ dashboard: dash.title ?? file, panel: q.panel, promql });
    }
  }
  return out;
}
