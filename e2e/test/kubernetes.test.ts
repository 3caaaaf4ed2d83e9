/**
 * Stead on Kubernetes without Kubernetes (issue 15): a cluster of real processes whose workers and log servers are
 * named as StatefulSet pods (`stead-worker-0`, …), an admin with `--kubernetes-statefulsets`, and the stand-in API
 * (`KubeApiServer`, reached through KUBECONFIG) whose StatefulSet replicas the test changes as `kubectl scale`
 * would. Checked: log servers take their zone from their Node; the preStop call of a pod below the replicas
 * returns at once; a scale-down drains the pods above the replicas and their preStop returns once they hold
 * nothing, after which they are forgotten; a pod that dies below the replicas keeps its replicas for the
 * replacement delay, and once scaled away it is replaced at once and forgotten.
 */
import { Cleanup, ctl, KubeApiServer, TOPOLOGY, waitFor } from '@stead/testing';
import { LocalCluster } from '@stead/testing/local-cluster';

const NS = 'stead';
const WORKERS = 'stead-worker';
const LOG_SERVERS = 'stead-log-server';

interface ClusterJson {
  controller: {
    active: boolean;
    nodes?: Array<{ id: string; alive: boolean; draining: boolean; scaled_away?: boolean }>;
  };
  partition_table?: { placements: Array<{ partition: number; replicas: string[]; leader?: string }> };
  log_nodes?: Array<{ id: string; kind: string; zone?: string; segments: number; scaled_away?: boolean }>;
  kubernetes?: { statefulsets: Array<{ name: string; replicas: number | null }>; scaled_away: string[] };
}

// One cluster topology of its own: the suite's single/cluster switch does not apply.
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

describeHere('Kubernetes StatefulSets drive drains, preStop and removals', () => {
  const cleanup = new Cleanup();
  let api: KubeApiServer;
  let cluster: LocalCluster;

  const clusterJson = async (): Promise<ClusterJson> => {
    const res = await fetch(`${cluster.adminUrl}/cluster`, { signal: AbortSignal.timeout(5_000) });
    if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}`);
    return (await res.json()) as ClusterJson;
  };
  const holding = (c: ClusterJson, id: string) =>
    (c.partition_table?.placements ?? []).filter((p) => p.replicas.includes(id)).length;
  const known = (c: ClusterJson, id: string) =>
    (c.controller.nodes ?? []).some((n) => n.id === id) || (c.log_nodes ?? []).some((n) => n.id === id);

  beforeAll(async () => {
    api = await KubeApiServer.start(cleanup);
    api.setStatefulSet(NS, WORKERS, 4);
    api.setStatefulSet(NS, LOG_SERVERS, 3);
    for (let i = 0; i < 3; i++)
      api.setNode(`k8s-node-${i}`, {
        'topology.kubernetes.io/region': 'eu',
        'topology.kubernetes.io/zone': `zone-${i}`,
      });
    cluster = await LocalCluster.up({
      dir: `${cleanup.tempDir('stead-kube-')}/cluster`,
      metadata: 1,
      logServers: 3,
      sequencers: 1,
      workers: 4,
      partitions: 4,
      partitionReplication: 2,
      logReplication: 2,
      ingressPort: 0,
      adminPort: 0,
      env: { ...process.env, ...api.env() },
      podNames: { worker: WORKERS, 'log-server': LOG_SERVERS },
      locations: Object.fromEntries([0, 1, 2].map((i) => [`${LOG_SERVERS}-${i}`, `kubernetes:k8s-node-${i}`])),
      extraArgs: {
        admin: [
          '--node-failure-timeout=2s',
          // Long, so that a replacement without it is plain to see.
          '--replica-replacement-delay=5m',
          `--kubernetes-statefulsets=${NS}/${WORKERS},${NS}/${LOG_SERVERS}`,
        ],
      },
    });
    cleanup.add(() => cluster.killAll());
    // Every worker holds replicas before the scale-downs (4 partitions x 2 replicas over 4 workers).
    await waitFor(
      async () => {
        const c = await clusterJson();
        return [0, 1, 2, 3].every((i) => holding(c, `${WORKERS}-${i}`) > 0);
      },
      { timeoutMs: 60_000, what: 'replicas on every worker' },
    );
  }, 240_000);
  afterAll(() => cleanup.run(), 60_000);

  test('log servers take region.zone from the labels of their Kubernetes Node', async () => {
    const c = await clusterJson();
    const zones = (c.log_nodes ?? [])
      .filter((n) => n.kind === 'log-server')
      .map((n) => `${n.id}=${n.zone}`)
      .sort();
    expect(zones).toEqual([0, 1, 2].map((i) => `${LOG_SERVERS}-${i}=eu.zone-${i}`));
    expect(api.requests).toContain('GET /api/v1/nodes/k8s-node-0 200');
  });

  test('the preStop call of a pod below the desired replicas returns at once: not leaving', async () => {
    const r = await ctl(cluster.adminUrl, ['nodes', 'prestop', `${WORKERS}-1`]);
    expect(r.err).toBe('');
    expect(r.out).toBe(`${WORKERS}-1 is not leaving (ordinal 1 < 4 replicas of ${WORKERS}): nothing to drain\n`);
    expect(r.code).toBe(0);
    const c = await clusterJson();
    expect(c.controller.nodes?.find((n) => n.id === `${WORKERS}-1`)).toMatchObject({
      draining: false,
      scaled_away: false,
    });
  });

  test('a scale-down drains the pods above the replicas; preStop returns once drained; stopped, they are forgotten', async () => {
    api.setStatefulSet(NS, WORKERS, 3);
    api.setStatefulSet(NS, LOG_SERVERS, 2);
    const [worker, logServer] = await Promise.all(
      [`${WORKERS}-3`, `${LOG_SERVERS}-2`].map((id) =>
        ctl(cluster.adminUrl, ['nodes', 'prestop', id, '--timeout', '90s'], 100_000),
      ),
    );
    for (const [r, id, of] of [
      [worker, `${WORKERS}-3`, `3 >= 3 replicas of ${WORKERS}`],
      [logServer, `${LOG_SERVERS}-2`, `2 >= 2 replicas of ${LOG_SERVERS}`],
    ] as const) {
      expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
      expect(r.out.startsWith(`${id} is leaving (ordinal ${of}): draining\n`)).toBe(true);
      expect(r.out.endsWith(`${id} drained\n`)).toBe(true);
    }
    const c = await clusterJson();
    expect(holding(c, `${WORKERS}-3`)).toBe(0);
    expect(c.log_nodes?.find((n) => n.id === `${LOG_SERVERS}-2` && n.kind === 'log-server')).toMatchObject({
      segments: 0,
      scaled_away: true,
    });
    expect(c.kubernetes?.statefulsets).toEqual([
      { namespace: NS, name: WORKERS, replicas: 3 },
      { namespace: NS, name: LOG_SERVERS, replicas: 2 },
    ]);
    expect(c.kubernetes?.scaled_away).toEqual([`${LOG_SERVERS}-2`, `${WORKERS}-3`]);
    // Kubernetes stops the pods once their preStop returned.
    await Promise.all([cluster.stop(`${WORKERS}-3`), cluster.stop(`${LOG_SERVERS}-2`)]);
    await waitFor(
      async () => {
        const now = await clusterJson();
        return !known(now, `${WORKERS}-3`) && !known(now, `${LOG_SERVERS}-2`);
      },
      { timeoutMs: 30_000, what: 'the stopped pods forgotten' },
    );
  }, 150_000);

  test('a pod that dies below the replicas keeps its replicas; scaled away, it is replaced at once and forgotten', async () => {
    const id = `${WORKERS}-2`;
    await cluster.kill(id);
    const dead = await waitFor(
      async () => {
        const c = await clusterJson();
        return c.controller.nodes?.find((n) => n.id === id)?.alive === false ? c : undefined;
      },
      { timeoutMs: 20_000, what: `${id} seen dead` },
    );
    // The round that saw it dead kept its replicas: an ordinary failure waits the replacement delay (5 min).
    expect(holding(dead, id)).toBeGreaterThan(0);
    const started = Date.now();
    api.setStatefulSet(NS, WORKERS, 2);
    const after = await waitFor(
      async () => {
        const c = await clusterJson();
        return holding(c, id) === 0 && !known(c, id) ? c : undefined;
      },
      { timeoutMs: 30_000, what: `${id} replaced and forgotten` },
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    for (const p of after.partition_table?.placements ?? [])
      expect(p.replicas.sort()).toEqual([`${WORKERS}-0`, `${WORKERS}-1`]);
  }, 90_000);
});
