// The kustomize tree (k8s/): the chart-rendered files up to date, and both overlays render with kubectl into
// objects valid for Kubernetes, shaped as the overlay promises.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KUSTOMIZE_OUTPUTS, renderOutput } from '../src/kustomize.ts';
import {
  container,
  envValue,
  find,
  type K8sObject,
  kubectl,
  ofKind,
  parseObjects,
  REPO,
  schemaProblems,
} from './k8s.ts';

function kustomize(overlay: string): K8sObject[] {
  const r = kubectl('kustomize', join(REPO, 'k8s/overlays', overlay));
  if (!r.ok) throw new Error(`kubectl kustomize ${overlay} failed:\n${r.stderr}`);
  return parseObjects(r.stdout);
}

const CLUSTER_SCOPED = ['ClusterRole', 'ClusterRoleBinding'];

describe('k8s/ (kustomize)', () => {
  it.each(KUSTOMIZE_OUTPUTS.map((o) => [o.path, o] as const))(
    '%s is the chart rendered (run node charts/src/kustomize.ts)',
    (path, output) => {
      expect(readFileSync(join(REPO, path), 'utf8')).toBe(renderOutput(output));
    },
  );

  describe('overlays/single-node', () => {
    const objects = kustomize('single-node');

    it('renders only valid objects, in namespace stead', () => {
      expect(schemaProblems(objects)).toEqual([]);
      for (const o of objects.filter((x) => !CLUSTER_SCOPED.includes(x.kind))) {
        expect([o.kind, o.metadata.name, o.metadata.namespace]).toEqual([o.kind, o.metadata.name, 'stead']);
      }
      expect(ofKind(objects, 'StatefulSet').map((o) => o.metadata.name)).toEqual(['stead-server']);
      expect(ofKind(objects, 'Deployment')).toEqual([]);
    });

    it('runs one `stead server` with its data on a PVC, reached through the ingress and admin Services', () => {
      const sts = find(objects, 'StatefulSet', 'stead-server');
      const c = container(sts);
      expect(sts.spec.replicas).toBe(1);
      expect(c.command).toEqual(['stead', 'server']);
      expect(envValue(sts, 'STEAD_DATA_DIR')).toMatch(/^\/var\/lib\/stead\//);
      expect(c.volumeMounts).toEqual([
        { name: 'data', mountPath: '/var/lib/stead' },
        { name: 'auth', mountPath: '/etc/stead/auth', readOnly: true },
      ]);
      // Bearer tokens on, from the Secret stead-auth that the operator creates (README, "Authentication").
      expect(envValue(sts, 'STEAD_AUTH_TOKENS_FILE')).toBe('/etc/stead/auth/tokens.json');
      expect(sts.spec.template.spec.volumes).toEqual([
        { name: 'auth', secret: { secretName: 'stead-auth', items: [{ key: 'tokens.json', path: 'tokens.json' }] } },
      ]);
      expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
      expect(c.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'metrics' });
      const podLabels = sts.spec.template.metadata.labels;
      for (const [svc, port] of [
        ['stead-ingress', 8080],
        ['stead-admin', 9070],
      ] as const) {
        const s = find(objects, 'Service', svc);
        expect(s.spec.selector).toEqual({
          'app.kubernetes.io/instance': 'stead',
          'app.kubernetes.io/component': 'server',
        });
        expect(podLabels).toMatchObject(s.spec.selector);
        const target = c.ports.find((p: any) => p.name === s.spec.ports[0].targetPort);
        expect([svc, s.spec.ports[0].port, target?.containerPort]).toEqual([svc, port, port]);
      }
      // The gRPC ingress port of the ingress Service reaches the server's 8090.
      const grpcPort = find(objects, 'Service', 'stead-ingress').spec.ports[1];
      const grpcTarget = c.ports.find((p: any) => p.name === grpcPort.targetPort);
      expect([grpcPort.port, grpcTarget?.containerPort]).toEqual([8090, 8090]);
    });
  });

  describe('overlays/three-zone', () => {
    const objects = kustomize('three-zone');

    it('renders only valid objects, in namespace stead', () => {
      expect(schemaProblems(objects)).toEqual([]);
      for (const o of objects.filter((x) => !CLUSTER_SCOPED.includes(x.kind))) {
        expect([o.kind, o.metadata.name, o.metadata.namespace]).toEqual([o.kind, o.metadata.name, 'stead']);
      }
      expect(
        ofKind(objects, 'StatefulSet')
          .map((o) => o.metadata.name)
          .sort(),
      ).toEqual(['stead-log-server', 'stead-metadata-store', 'stead-worker']);
      expect(ofKind(objects, 'PodDisruptionBudget')).toHaveLength(3);
    });

    it('has 3 metadata-store members, {zone: 2} replication and a required spread over zones', () => {
      expect(find(objects, 'StatefulSet', 'stead-metadata-store').spec.replicas).toBe(3);
      const admin = find(objects, 'Deployment', 'stead-admin');
      expect(envValue(admin, 'STEAD_PARTITION_REPLICATION')).toBe('{zone: 2}');
      expect(envValue(admin, 'STEAD_LOG_REPLICATION')).toBe('{zone: 2}');
      expect(envValue(admin, 'STEAD_KUBERNETES_STATEFULSETS')).toBe('stead/stead-worker,stead/stead-log-server');
      for (const w of [...ofKind(objects, 'StatefulSet'), ...ofKind(objects, 'Deployment')]) {
        const zone = (w.spec.template.spec.topologySpreadConstraints as any[]).find(
          (s) => s.topologyKey === 'topology.kubernetes.io/zone',
        );
        expect([w.metadata.name, zone?.whenUnsatisfiable]).toEqual([w.metadata.name, 'DoNotSchedule']);
      }
    });
  });
});
