// The Helm chart: lint, render with the default and the three-zone values, every object valid for Kubernetes,
// and the shape of the pods that the processes (and the lead's kubelet stand-in) rely on.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CHART,
  container,
  envOf,
  envValue,
  find,
  helm,
  type K8sObject,
  ofKind,
  REPO,
  run,
  schemaProblems,
  template,
  templateRaw,
} from './k8s.ts';

const NS = 'ns1';
const THREE_ZONE = join(CHART, 'ci/three-zone-values.yaml');
const STATEFUL = ['metadata-store', 'log-server', 'worker'];
const DEPLOYED = ['sequencer', 'ingress', 'admin'];
const ROLES = [...STATEFUL, ...DEPLOYED];
const POD_ENV = ['POD_NAME', 'POD_NAMESPACE', 'POD_IP', 'NODE_NAME', 'STEAD_NODE_ID', 'STEAD_LOCATION'];

const workload = (objects: K8sObject[], role: string) =>
  find(objects, STATEFUL.includes(role) ? 'StatefulSet' : 'Deployment', `stead-${role}`);
const members = (n: number) =>
  Array.from({ length: n }, (_, i) => `stead-metadata-store-${i}.stead-metadata-store.${NS}.svc.cluster.local:5122`);

describe('helm lint', () => {
  it.each([
    ['default values', []],
    ['three-zone values', ['--values', THREE_ZONE]],
  ])('passes with the %s', (_what, args) => {
    const r = helm('lint', CHART, '--strict', ...args);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });
});

describe('helm template, default values', () => {
  const objects = template({ namespace: NS });

  it('renders only objects that are valid for Kubernetes', () => {
    expect(objects.length).toBeGreaterThan(15);
    expect(schemaProblems(objects)).toEqual([]);
  });

  it('names the workloads and services as the contract says', () => {
    const names = (kind: string) => ofKind(objects, kind).map((o) => o.metadata.name);
    expect(names('StatefulSet').sort()).toEqual(['stead-log-server', 'stead-metadata-store', 'stead-worker']);
    expect(names('Deployment').sort()).toEqual(['stead-admin', 'stead-ingress', 'stead-sequencer']);
    expect(names('Service').sort()).toEqual([
      'stead-admin',
      'stead-ingress',
      'stead-log-server',
      'stead-metadata-store',
      'stead-worker',
    ]);
  });

  it('labels every object and pod template, and selects by instance and component', () => {
    for (const o of objects) {
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'stead',
        'app.kubernetes.io/instance': 'stead',
      });
      expect(o.metadata.labels?.['app.kubernetes.io/component']).toEqual(expect.any(String));
    }
    for (const role of ROLES) {
      const w = workload(objects, role);
      const selector = { 'app.kubernetes.io/instance': 'stead', 'app.kubernetes.io/component': role };
      expect(w.metadata.labels?.['app.kubernetes.io/component']).toBe(role);
      expect(w.spec.selector.matchLabels).toEqual(selector);
      expect(w.spec.template.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'stead', ...selector });
    }
  });

  it('gives each StatefulSet a headless Service of its name, a PVC at /var/lib/stead and parallel pods', () => {
    for (const role of STATEFUL) {
      const sts = workload(objects, role);
      const svc = find(objects, 'Service', `stead-${role}`);
      expect(sts.spec.serviceName).toBe(`stead-${role}`);
      expect(sts.spec.podManagementPolicy).toBe('Parallel');
      expect(svc.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
      expect(svc.spec.selector).toEqual(sts.spec.selector.matchLabels);
      expect(svc.spec.ports.map((p: any) => [p.name, p.port])).toEqual([
        ['node', 5122],
        ['metrics', 5123],
      ]);
      expect(sts.spec.volumeClaimTemplates.map((c: any) => c.metadata.name)).toEqual(['data']);
      expect(container(sts).volumeMounts).toEqual([{ name: 'data', mountPath: '/var/lib/stead' }]);
    }
    expect(workload(objects, 'metadata-store').spec.replicas).toBe(3);
    expect(workload(objects, 'log-server').spec.replicas).toBe(3);
    expect(workload(objects, 'worker').spec.replicas).toBe(3);
    expect(workload(objects, 'sequencer').spec.replicas).toBe(0);
  });

  it('exposes ingress on http 8080 and grpc 8090, admin on http 9070 (ClusterIP)', () => {
    const ingress = find(objects, 'Service', 'stead-ingress');
    const admin = find(objects, 'Service', 'stead-admin');
    expect([ingress.spec.type, admin.spec.type]).toEqual(['ClusterIP', 'ClusterIP']);
    expect(ingress.spec.ports).toEqual([
      { name: 'http', port: 8080, targetPort: 'http' },
      { name: 'grpc', port: 8090, targetPort: 'grpc', appProtocol: 'grpc' },
    ]);
    expect(admin.spec.ports).toEqual([{ name: 'http', port: 9070, targetPort: 'http' }]);
  });

  it('runs one container `stead` with command [stead, <role>], no args and the ports of its role', () => {
    for (const role of ROLES) {
      const c = container(workload(objects, role));
      expect(c.name).toBe('stead');
      expect(c.command).toEqual(['stead', role]);
      expect(c.args).toBeUndefined();
      const ports = c.ports.map((p: any) => `${p.name}:${p.containerPort}`);
      const expected = {
        ingress: ['metrics:5123', 'http:8080', 'grpc:8090'],
        admin: ['metrics:5123', 'http:9070'],
      }[role as 'ingress' | 'admin'] ?? ['node:5122', 'metrics:5123'];
      expect(ports).toEqual(expected);
    }
  });

  it('sets the environment of each role in the contract order', () => {
    const expected: Record<string, string[]> = {
      'metadata-store': ['STEAD_ADVERTISED_ADDRESS', 'STEAD_PEERS', 'STEAD_DATA_DIR'],
      'log-server': [
        'STEAD_ADVERTISED_ADDRESS',
        'STEAD_METADATA_ADDRESS',
        'STEAD_DATA_DIR',
        'STEAD_DRAIN_ON_SHUTDOWN',
        'RESTATE_AUTH_TOKEN',
      ],
      worker: ['STEAD_ADVERTISED_ADDRESS', 'STEAD_METADATA_ADDRESS', 'STEAD_DATA_DIR', 'RESTATE_AUTH_TOKEN'],
      sequencer: ['STEAD_ADVERTISED_ADDRESS', 'STEAD_METADATA_ADDRESS'],
      ingress: ['STEAD_METADATA_ADDRESS', 'STEAD_AUTH_TOKENS_FILE'],
      admin: [
        'STEAD_METADATA_ADDRESS',
        'STEAD_PARTITIONS',
        'STEAD_PARTITION_REPLICATION',
        'STEAD_LOG_REPLICATION',
        'STEAD_INGRESS_ENDPOINT',
        'STEAD_KUBERNETES_STATEFULSETS',
        'STEAD_AUTH_TOKENS_FILE',
      ],
    };
    for (const role of ROLES) {
      const names = envOf(workload(objects, role)).map(([n]) => n);
      expect([role, names]).toEqual([role, [...POD_ENV, ...expected[role], 'STEAD_SHUTDOWN_TIMEOUT']]);
    }
  });

  it('fills the environment with the pod fields, addresses and settings', () => {
    const env = (role: string) => Object.fromEntries(envOf(workload(objects, role)));
    for (const role of ROLES) {
      const e = env(role);
      expect(e.POD_NAME).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
      expect(e.POD_NAMESPACE).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
      expect(e.POD_IP).toEqual({ fieldRef: { fieldPath: 'status.podIP' } });
      expect(e.NODE_NAME).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
      expect(e.STEAD_NODE_ID).toBe('$(POD_NAME)');
      expect(e.STEAD_LOCATION).toBe('kubernetes:$(NODE_NAME)');
      expect(e.STEAD_SHUTDOWN_TIMEOUT).toMatch(/^\d+s$/);
      if (role !== 'metadata-store') expect(e.STEAD_METADATA_ADDRESS).toBe(members(3).join(','));
    }
    for (const role of STATEFUL) {
      expect(env(role).STEAD_ADVERTISED_ADDRESS).toBe(
        `$(POD_NAME).stead-${role}.$(POD_NAMESPACE).svc.cluster.local:5122`,
      );
      expect(env(role).STEAD_DATA_DIR).toBe(`/var/lib/stead/${role === 'metadata-store' ? 'metadata' : role}`);
    }
    expect(env('sequencer').STEAD_ADVERTISED_ADDRESS).toBe('$(POD_IP):5122');
    expect(env('metadata-store').STEAD_PEERS).toBe(
      members(3)
        .map((m, i) => `stead-metadata-store-${i}=${m}`)
        .join(','),
    );
    expect(env('log-server').STEAD_DRAIN_ON_SHUTDOWN).toBe('false');
    expect(env('admin')).toMatchObject({
      STEAD_PARTITIONS: '8',
      STEAD_PARTITION_REPLICATION: '2',
      STEAD_LOG_REPLICATION: '2',
      STEAD_INGRESS_ENDPOINT: `http://stead-ingress.${NS}.svc.cluster.local:8080`,
      STEAD_KUBERNETES_STATEFULSETS: `${NS}/stead-worker,${NS}/stead-log-server`,
    });
  });

  it('references with $(VAR) only variables defined before', () => {
    for (const role of ROLES) {
      const seen = new Set<string>();
      for (const [name, value] of envOf(workload(objects, role))) {
        const refs = typeof value === 'string' ? [...value.matchAll(/\$\(([A-Z_]+)\)/g)].map((m) => m[1]) : [];
        expect([role, name, refs.filter((r) => !seen.has(r))]).toEqual([role, name, []]);
        seen.add(name);
      }
    }
  });

  it('probes /health and /ready on the metrics port', () => {
    for (const role of ROLES) {
      const c = container(workload(objects, role));
      expect(c.livenessProbe.httpGet).toEqual({ path: '/health', port: 'metrics' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'metrics' });
      expect(c.startupProbe.httpGet).toEqual({ path: '/health', port: 'metrics' });
      expect(c.startupProbe.failureThreshold * c.startupProbe.periodSeconds).toBeGreaterThanOrEqual(120);
    }
  });

  it('asks the admin in preStop of workers and log servers, within the grace period', () => {
    for (const role of ['worker', 'log-server']) {
      const w = workload(objects, role);
      const command = container(w).lifecycle.preStop.exec.command as string[];
      expect(command).toEqual([
        'sh',
        '-c',
        `exec stead ctl nodes prestop "$POD_NAME" --address http://stead-admin.${NS}.svc.cluster.local:9070 --timeout 300s`,
      ]);
      const shutdownS = Number(envValue(w, 'STEAD_SHUTDOWN_TIMEOUT')?.replace('s', ''));
      expect(w.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(300 + shutdownS);
    }
    for (const role of ['metadata-store', ...DEPLOYED]) {
      expect(container(workload(objects, role)).lifecycle).toBeUndefined();
    }
  });

  it('runs every pod as the ServiceAccount allowed to get nodes and to watch StatefulSets', () => {
    for (const role of ROLES) expect(workload(objects, role).spec.template.spec.serviceAccountName).toBe('stead');
    find(objects, 'ServiceAccount', 'stead');
    const clusterRole = find(objects, 'ClusterRole', `stead-${NS}-nodes`);
    expect(clusterRole.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
    expect(find(objects, 'ClusterRoleBinding', `stead-${NS}-nodes`).subjects).toEqual([
      { kind: 'ServiceAccount', name: 'stead', namespace: NS },
    ]);
    const role = find(objects, 'Role', 'stead-statefulsets');
    expect(role.metadata.namespace).toBe(NS);
    expect(role.rules).toEqual([{ apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'list', 'watch'] }]);
    expect(find(objects, 'RoleBinding', 'stead-statefulsets').roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'stead-statefulsets',
    });
  });

  it('bounds voluntary disruptions of the stateful roles to one pod', () => {
    expect(
      ofKind(objects, 'PodDisruptionBudget')
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(STATEFUL.map((r) => `stead-${r}`).sort());
    for (const role of STATEFUL) {
      const pdb = find(objects, 'PodDisruptionBudget', `stead-${role}`);
      expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: workload(objects, role).spec.selector });
    }
  });

  it('spreads every role over zones and hosts, preferred', () => {
    for (const role of ROLES) {
      const spread = workload(objects, role).spec.template.spec.topologySpreadConstraints as any[];
      expect(spread.map((s) => [s.topologyKey, s.whenUnsatisfiable])).toEqual([
        ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
        ['kubernetes.io/hostname', 'ScheduleAnyway'],
      ]);
      for (const s of spread) expect(s.labelSelector).toEqual(workload(objects, role).spec.selector);
    }
  });

  it('renders no ServiceMonitor unless asked, and the dashboards ConfigMap for the Grafana sidecar', () => {
    expect(ofKind(objects, 'ServiceMonitor')).toEqual([]);
    const cm = find(objects, 'ConfigMap', 'stead-dashboards');
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    expect(Object.keys(cm.data ?? {}).sort()).toEqual(['stead-internals.json', 'stead-overview.json']);
    for (const [key, json] of Object.entries(cm.data ?? {})) {
      const dashboard = JSON.parse(json) as { panels: { title: string; targets?: { expr: string }[] }[] };
      const queried = dashboard.panels.filter((p) => p.targets);
      expect([key, queried.length > 3]).toEqual([key, true]);
      for (const p of queried) {
        expect([key, p.title, p.targets!.every((t) => t.expr.trim().length > 0)]).toEqual([key, p.title, true]);
      }
    }
  });

  it('sets only STEAD_* variables that the role knows (its --help lists them)', async () => {
    const exec = promisify(execFile);
    const node = join(REPO, 'node_modules/.bin/node');
    const known = new Map<string, Set<string>>();
    await Promise.all(
      ROLES.map(async (role) => {
        const { stdout } = await exec(
          node,
          ['--disable-warning=ExperimentalWarning', 'apps/cli/src/main.ts', role, '--help'],
          {
            cwd: REPO,
          },
        );
        known.set(role, new Set(stdout.match(/STEAD_[A-Z_]+/g)));
      }),
    );
    for (const role of ROLES) {
      const stead = envOf(workload(objects, role))
        .map(([n]) => n)
        .filter((n) => n.startsWith('STEAD_'));
      const unknown = stead.filter((n) => !known.get(role)!.has(n));
      expect([role, unknown]).toEqual([role, []]);
    }
  }, 60_000);
});

describe('helm template, three-zone values', () => {
  const objects = template({ namespace: NS, values: [THREE_ZONE] });

  it('renders only objects that are valid for Kubernetes, the ServiceMonitor included', () => {
    expect(schemaProblems(objects)).toEqual([]);
    const sm = find(objects, 'ServiceMonitor', 'stead');
    expect(sm.metadata.labels?.release).toBe('prometheus');
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s', honorLabels: true }]);
    const svc = find(objects, 'Service', 'stead-metrics');
    expect(sm.spec.selector.matchLabels).toEqual(
      Object.fromEntries(Object.entries(svc.metadata.labels ?? {}).filter(([k]) => sm.spec.selector.matchLabels[k])),
    );
    expect(svc.spec.selector).toEqual({ 'app.kubernetes.io/name': 'stead', 'app.kubernetes.io/instance': 'stead' });
  });

  it('replicates partitions and log records over 2 zones and requires the zone spread', () => {
    const admin = workload(objects, 'admin');
    expect(envValue(admin, 'STEAD_PARTITION_REPLICATION')).toBe('{zone: 2}');
    expect(envValue(admin, 'STEAD_LOG_REPLICATION')).toBe('{zone: 2}');
    expect(envValue(admin, 'STEAD_PARTITIONS')).toBe('24');
    for (const role of ROLES) {
      const spread = workload(objects, role).spec.template.spec.topologySpreadConstraints as any[];
      expect(spread[0]).toMatchObject({
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'DoNotSchedule',
      });
    }
    expect(workload(objects, 'metadata-store').spec.replicas).toBe(3);
  });

  it('gives workers the snapshot bucket, with credentials from the existing Secret', () => {
    const worker = workload(objects, 'worker');
    expect(envOf(worker).map(([n]) => n)).toEqual([
      ...POD_ENV,
      'STEAD_ADVERTISED_ADDRESS',
      'STEAD_METADATA_ADDRESS',
      'STEAD_DATA_DIR',
      'STEAD_SNAPSHOT_BUCKET',
      'STEAD_SNAPSHOT_ENDPOINT',
      'STEAD_SNAPSHOT_PREFIX',
      'STEAD_SNAPSHOT_REGION',
      'STEAD_SNAPSHOT_ACCESS_KEY',
      'STEAD_SNAPSHOT_SECRET_KEY',
      'RESTATE_AUTH_TOKEN',
      'STEAD_SHUTDOWN_TIMEOUT',
    ]);
    const env = Object.fromEntries(envOf(worker));
    expect(env.STEAD_SNAPSHOT_BUCKET).toBe('stead-snapshots');
    expect(env.STEAD_SNAPSHOT_ACCESS_KEY).toEqual({ secretKeyRef: { name: 'stead-snapshots', key: 'access-key' } });
    expect(env.STEAD_SNAPSHOT_SECRET_KEY).toEqual({ secretKeyRef: { name: 'stead-snapshots', key: 'secret-key' } });
    for (const role of ROLES.filter((r) => r !== 'worker')) {
      expect(envOf(workload(objects, role)).filter(([n]) => n.startsWith('STEAD_SNAPSHOT'))).toEqual([]);
    }
  });
});

describe('helm template, names and per-role values', () => {
  it('prefixes the objects with <release>-stead, or fullnameOverride', () => {
    const prod = template({ release: 'prod', namespace: NS });
    expect(ofKind(prod, 'StatefulSet').map((o) => o.metadata.name)).toContain('prod-stead-worker');
    expect(envValue(find(prod, 'StatefulSet', 'prod-stead-worker'), 'STEAD_METADATA_ADDRESS')).toMatch(
      new RegExp(`^prod-stead-metadata-store-0\\.prod-stead-metadata-store\\.${NS}\\.svc`),
    );
    const named = template({ release: 'prod', namespace: NS, set: ['fullnameOverride=durable'] });
    expect(find(named, 'Deployment', 'durable-admin').metadata.labels?.['app.kubernetes.io/instance']).toBe('prod');
  });

  it('adds extraArgs as args, extra env after the chart’s, and the scheduling values of a role', () => {
    const objects = template({
      namespace: NS,
      set: [
        'worker.extraArgs[0]=--max-concurrent-invocations=50',
        'worker.env[0].name=STEAD_LOG_CACHE_SIZE',
        'worker.env[0].value=64MiB',
        'worker.nodeSelector.pool=stead',
        'worker.tolerations[0].key=dedicated',
        'worker.tolerations[0].operator=Exists',
        'logServer.persistence.storageClass=fast',
        'metadataStore.replicas=5',
        'sequencer.replicas=2',
      ],
    });
    expect(schemaProblems(objects)).toEqual([]);
    const worker = workload(objects, 'worker');
    expect(container(worker).args).toEqual(['--max-concurrent-invocations=50']);
    expect(envOf(worker).slice(-2)).toEqual([
      ['STEAD_SHUTDOWN_TIMEOUT', '30s'],
      ['STEAD_LOG_CACHE_SIZE', '64MiB'],
    ]);
    expect(worker.spec.template.spec.nodeSelector).toEqual({ pool: 'stead' });
    expect(worker.spec.template.spec.tolerations).toEqual([{ key: 'dedicated', operator: 'Exists' }]);
    expect(workload(objects, 'log-server').spec.volumeClaimTemplates[0].spec.storageClassName).toBe('fast');
    expect(envValue(workload(objects, 'admin'), 'STEAD_METADATA_ADDRESS')?.split(',')).toEqual(members(5));
    expect(workload(objects, 'sequencer').spec.replicas).toBe(2);
  });
});

describe('helm package', () => {
  it('packages the chart without the tests beside it', () => {
    const out = mkdtempSync(join(tmpdir(), 'stead-chart-'));
    try {
      const r = helm('package', CHART, '--destination', out);
      expect(r.stderr).toBe('');
      const files = run('tar', ['-tzf', join(out, 'stead-0.1.0.tgz')])
        .stdout.split('\n')
        .filter(Boolean);
      expect(files).toContain('stead/values.schema.json');
      expect(files).toContain('stead/dashboards/overview.json');
      expect(files.filter((f) => /test|package\.json|node_modules/.test(f))).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

// Bearer-token auth (on by default) adds its own Secret volume to admin and ingress: off in these tests, which look
// at the request identity's volumes alone.
describe('helm template, request identity', () => {
  const volumeOf = (w: K8sObject) => (w.spec.template.spec.volumes ?? []) as any[];
  const mountsOf = (w: K8sObject) => (container(w).volumeMounts ?? []) as any[];

  it('mounts the Secret into the admin and worker pods and passes the file by STEAD_REQUEST_IDENTITY_…', () => {
    const objects = template({
      namespace: NS,
      set: ['requestIdentity.secretName=stead-request-identity', 'auth.enabled=false'],
    });
    expect(schemaProblems(objects)).toEqual([]);
    for (const role of ['admin', 'worker']) {
      const w = workload(objects, role);
      expect(envValue(w, 'STEAD_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE')).toBe(
        '/etc/stead/request-identity/private-key.pem',
      );
      expect(volumeOf(w)).toEqual([
        {
          name: 'request-identity',
          secret: {
            secretName: 'stead-request-identity',
            items: [{ key: 'private-key.pem', path: 'private-key.pem' }],
            defaultMode: 0o440,
          },
        },
      ]);
      expect(mountsOf(w)).toContainEqual({
        name: 'request-identity',
        mountPath: '/etc/stead/request-identity',
        readOnly: true,
      });
    }
    // The worker keeps its data volume.
    expect(mountsOf(workload(objects, 'worker'))).toContainEqual({ name: 'data', mountPath: '/var/lib/stead' });
    // The other roles never call a deployment: no key for them.
    for (const role of ['metadata-store', 'log-server', 'sequencer', 'ingress']) {
      const w = workload(objects, role);
      expect(envValue(w, 'STEAD_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE')).toBeUndefined();
      expect(volumeOf(w)).toEqual([]);
      expect(mountsOf(w).map((m) => m.name)).not.toContain('request-identity');
    }
  });

  it('takes another key name of the Secret; without a Secret nothing is mounted (requests go unsigned)', () => {
    const custom = template({
      namespace: NS,
      set: ['requestIdentity.secretName=keys', 'requestIdentity.key=stead.pem', 'auth.enabled=false'],
    });
    expect(envValue(workload(custom, 'admin'), 'STEAD_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE')).toBe(
      '/etc/stead/request-identity/stead.pem',
    );
    const plain = template({ namespace: NS, set: ['auth.enabled=false'] });
    for (const role of ROLES) {
      expect(envValue(workload(plain, role), 'STEAD_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE')).toBeUndefined();
      expect(volumeOf(workload(plain, role))).toEqual([]);
    }
    expect(mountsOf(workload(plain, 'admin'))).toEqual([]);
  });

  it('refuses a Secret name that is not a Kubernetes name', () => {
    const r = templateRaw({ namespace: NS, set: ['requestIdentity.secretName=Not_A_Name', 'auth.enabled=false'] });
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/requestIdentity\/secretName.*does not match/);
  });
});
