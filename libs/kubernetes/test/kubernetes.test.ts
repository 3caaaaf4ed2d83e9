// @stead/kubernetes against the stand-in API (`KubeApiServer`): the client is configured through KUBECONFIG, as a
// process outside the cluster would be, and through the service-account files.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Cleanup, KubeApiServer, waitFor } from '@stead/testing';
import {
  connectKube,
  KubeApiError,
  locationFromLabels,
  nodeLocation,
  parseStatefulSets,
  resolveNodeLocation,
  StatefulSetWatch,
  statefulSetsProblem,
} from '../src/index.ts';

const cleanup = new Cleanup();
let api: KubeApiServer;
const savedKubeconfig = process.env.KUBECONFIG;

beforeAll(async () => {
  api = await KubeApiServer.start(cleanup);
  process.env.KUBECONFIG = api.kubeconfigPath;
});
afterAll(async () => {
  if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = savedKubeconfig;
  await cleanup.run();
});

const quick = { timeoutMs: 600, retryMs: 100 };

test('labels give zone, region.zone, or nothing; odd characters are replaced', () => {
  expect(locationFromLabels({ 'topology.kubernetes.io/zone': 'eu-west-1a' })).toBe('eu-west-1a');
  expect(
    locationFromLabels({ 'topology.kubernetes.io/zone': 'eu-west-1a', 'topology.kubernetes.io/region': 'eu-west-1' }),
  ).toBe('eu-west-1.eu-west-1a');
  expect(locationFromLabels({ 'topology.kubernetes.io/region': 'eu-west-1' })).toBeUndefined();
  expect(locationFromLabels({ 'topology.kubernetes.io/zone': 'zone a/b' })).toBe('zone-a-b');
  expect(locationFromLabels({ 'topology.kubernetes.io/zone': '///' })).toBeUndefined();
});

test('kubernetes:<node> reads the zone label of the Node', async () => {
  api.setNode('node-a', { 'topology.kubernetes.io/zone': 'zone-a' });
  expect(await resolveNodeLocation('kubernetes:node-a', quick)).toBe('zone-a');
  expect(api.requests).toContain('GET /api/v1/nodes/node-a 200');
});

test('kubernetes:<node> gives region.zone when the region label is set', async () => {
  api.setNode('node-b', { 'topology.kubernetes.io/zone': 'b', 'topology.kubernetes.io/region': 'eu' });
  expect(await resolveNodeLocation('kubernetes:node-b', quick)).toBe('eu.b');
});

test('a Node without a zone label gives no location, with a warning', async () => {
  api.setNode('node-c', {});
  const lines: string[] = [];
  const location = await nodeLocation('node-c', { ...quick, log: (level, msg) => lines.push(`${level} ${msg}`) });
  expect(location).toBeUndefined();
  expect(lines).toEqual([`warn Node 'node-c' has no topology.kubernetes.io/zone label: this process has no location`]);
});

test('a Node that does not exist is refused after the retries, naming the node, the API and the status', async () => {
  const started = Date.now();
  await expect(resolveNodeLocation('kubernetes:node-missing', quick)).rejects.toThrow(
    new RegExp(
      `kubernetes:node-missing: .*Node 'node-missing' from the Kubernetes API at ${api.url}: HTTP 404 NotFound: nodes "node-missing" not found`,
    ),
  );
  expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  expect(api.requests.filter((r) => r.includes('node-missing')).length).toBeGreaterThan(1);
});

test('a Node that appears while the process retries is used', async () => {
  setTimeout(() => api.setNode('node-late', { 'topology.kubernetes.io/zone': 'late' }), 300);
  expect(await resolveNodeLocation('kubernetes:node-late', { timeoutMs: 5_000, retryMs: 100 })).toBe('late');
});

test('a forbidden read says 403 Forbidden', async () => {
  api.setNode('node-f', { 'topology.kubernetes.io/zone': 'f' });
  api.forbid('nodes');
  try {
    await expect(resolveNodeLocation('kubernetes:node-f', quick)).rejects.toThrow(/HTTP 403 Forbidden: nodes "node-f"/);
  } finally {
    api.forbid('nodes', false);
  }
});

test('a wrong token is refused with 401', async () => {
  const config = JSON.parse(readFileSync(api.kubeconfigPath, 'utf8'));
  config.users[0].user.token = 'not-the-token';
  const path = join(api.dir, 'kubeconfig-bad-token');
  writeFileSync(path, JSON.stringify(config));
  process.env.KUBECONFIG = path;
  try {
    const err = await (await connectKube()).readNode('node-a').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(401);
    expect((err as KubeApiError).message).toContain(`at ${api.url}: HTTP 401 Unauthorized`);
  } finally {
    process.env.KUBECONFIG = api.kubeconfigPath;
  }
});

test('an API that cannot be reached is named in the refusal', async () => {
  const gone = await KubeApiServer.start(cleanup);
  await gone.stop();
  process.env.KUBECONFIG = gone.kubeconfigPath;
  try {
    await expect(resolveNodeLocation('kubernetes:node-a', quick)).rejects.toThrow(
      new RegExp(`cannot reach the Kubernetes API at ${gone.url} to read Node 'node-a': .*ECONNREFUSED`),
    );
  } finally {
    process.env.KUBECONFIG = api.kubeconfigPath;
  }
});

test('literal forms keep working; malformed ones are refused', async () => {
  expect(await resolveNodeLocation('none')).toBeUndefined();
  expect(await resolveNodeLocation('eu.a')).toBe('eu.a');
  await expect(resolveNodeLocation('a.b.c')).rejects.toThrow(/not region.zone or zone/);
  await expect(resolveNodeLocation('kubernetes:')).rejects.toThrow(/not a Kubernetes node name/);
  await expect(resolveNodeLocation('kubernetes:Node_A')).rejects.toThrow(/not a Kubernetes node name/);
});

test('the service-account files configure the client in a pod', async () => {
  const config = new KubeConfig();
  const saved = { ...process.env };
  Object.assign(process.env, api.inClusterEnv());
  try {
    // loadFromCluster reads the fixed path under a prefix: the stand-in's directory stands for it.
    const prefix = join(api.dir, 'sa-root');
    const target = `${prefix}/var/run/secrets/kubernetes.io/serviceaccount`;
    mkdirSync(target, { recursive: true });
    cpSync(api.serviceAccountDir, target, { recursive: true });
    config.loadFromCluster(prefix);
    expect(config.getCurrentCluster()?.server).toBe(api.url);
    const node = await config.makeApiClient(CoreV1Api).readNode({ name: 'node-a' });
    expect(node.metadata?.labels?.['topology.kubernetes.io/zone']).toBe('zone-a');
  } finally {
    for (const k of Object.keys(api.inClusterEnv())) if (!(k in saved)) delete process.env[k];
  }
});

test('StatefulSetWatch reads desired replicas; an unreadable one is unknown', async () => {
  expect(statefulSetsProblem('none')).toBeUndefined();
  expect(statefulSetsProblem('ns/a,ns/b')).toBeUndefined();
  expect(statefulSetsProblem('a')).toMatch(/not namespace\/name/);
  expect(statefulSetsProblem('ns/A')).toMatch(/not namespace\/name/);
  expect(parseStatefulSets('ns/a, ns/b')).toEqual([
    { namespace: 'ns', name: 'a' },
    { namespace: 'ns', name: 'b' },
  ]);
  api.setStatefulSet('ns', 'stead-worker', 3);
  const watch = new StatefulSetWatch({ refs: parseStatefulSets('ns/stead-worker,ns/stead-log-server'), pollMs: 50 });
  try {
    expect([...(await watch.refresh())]).toEqual([['stead-worker', 3]]);
    api.setStatefulSet('ns', 'stead-worker', 2);
    api.setStatefulSet('ns', 'stead-log-server', 4);
    expect([...(await watch.refresh())].sort()).toEqual([
      ['stead-log-server', 4],
      ['stead-worker', 2],
    ]);
    watch.start();
    api.setStatefulSet('ns', 'stead-worker', 5);
    await waitFor(() => watch.current().get('stead-worker') === 5, { what: 'the poll to see 5 replicas' });
    // A later change is seen without a refresh: the watch polls.
    api.setStatefulSet('ns', 'stead-worker', 6);
    await waitFor(() => watch.current().get('stead-worker') === 6, { what: 'the poll to see 6 replicas' });
    expect(watch.current().get('stead-log-server')).toBe(4);
  } finally {
    watch.close();
  }
});
