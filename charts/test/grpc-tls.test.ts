// gRPC mTLS values: every role's pod mounts its component's Secret (ca.crt, tls.crt, tls.key) as a directory and
// gets the STEAD_GRPC_TLS_* variables; with mode off nothing is added.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { envOf, find, type K8sObject, REPO, schemaProblems, template, templateRaw } from './k8s.ts';

const STATEFUL = ['metadata-store', 'log-server', 'worker'];
const ROLES = [...STATEFUL, 'sequencer', 'ingress', 'admin'];
const workload = (objects: K8sObject[], role: string) =>
  find(objects, STATEFUL.includes(role) ? 'StatefulSet' : 'Deployment', `stead-${role}`);
const pod = (objects: K8sObject[], role: string) => workload(objects, role).spec.template.spec;
const tlsEnv = (objects: K8sObject[], role: string) =>
  envOf(workload(objects, role)).filter(([n]) => n.startsWith('STEAD_GRPC_TLS'));

describe('grpcTls values', () => {
  // Bearer-token auth (on by default) mounts its own Secret into the admin and ingress pods: off here, so that the
  // volumes seen are those of gRPC TLS alone.
  it('mode off (the default): no TLS variables, no Secret mounted', () => {
    const objects = template({ namespace: 'ns1', set: ['auth.enabled=false'] });
    for (const role of ROLES) {
      expect([role, tlsEnv(objects, role)]).toEqual([role, []]);
      expect(pod(objects, role).volumes).toBeUndefined();
    }
  });

  it.each(['allow', 'require'])('mode %s: every pod mounts its component Secret and names the files', (mode) => {
    const objects = template({
      namespace: 'ns1',
      set: [`grpcTls.mode=${mode}`, 'grpcTls.secrets.worker=my-worker-certs', 'auth.enabled=false'],
    });
    expect(schemaProblems(objects)).toEqual([]);
    for (const role of ROLES) {
      expect([role, tlsEnv(objects, role)]).toEqual([
        role,
        [
          ['STEAD_GRPC_TLS_MODE', mode],
          ['STEAD_GRPC_TLS_CA_FILE', '/etc/stead/grpc-tls/ca.crt'],
          ['STEAD_GRPC_TLS_CERT_FILE', '/etc/stead/grpc-tls/tls.crt'],
          ['STEAD_GRPC_TLS_KEY_FILE', '/etc/stead/grpc-tls/tls.key'],
        ],
      ]);
      const secretName = role === 'worker' ? 'my-worker-certs' : `stead-${role}-grpc-tls`;
      expect([role, pod(objects, role).volumes]).toEqual([
        role,
        [{ name: 'grpc-tls', secret: { secretName, defaultMode: 0o440 } }],
      ]);
      const mounts = pod(objects, role).containers[0].volumeMounts as { name: string; subPath?: string }[];
      expect(mounts).toContainEqual({ name: 'grpc-tls', mountPath: '/etc/stead/grpc-tls', readOnly: true });
      // Mounted whole (no subPath), so that a renewed Secret reaches the files the process reloads.
      expect(mounts.filter((m) => m.subPath)).toEqual([]);
      if (STATEFUL.includes(role)) expect(mounts.map((m) => m.name)).toEqual(['data', 'grpc-tls']);
    }
  });

  it('mounts beside the request identity key where a role has both', () => {
    const objects = template({
      namespace: 'ns1',
      set: ['grpcTls.mode=require', 'requestIdentity.secretName=signing-key', 'auth.enabled=false'],
    });
    expect(schemaProblems(objects)).toEqual([]);
    const worker = pod(objects, 'worker');
    expect(worker.volumes.map((v: { name: string }) => v.name)).toEqual(['grpc-tls', 'request-identity']);
    expect(worker.containers[0].volumeMounts.map((m: { name: string }) => m.name)).toEqual([
      'data',
      'grpc-tls',
      'request-identity',
    ]);
    expect(pod(objects, 'ingress').volumes.map((v: { name: string }) => v.name)).toEqual(['grpc-tls']);
  });

  it('every role takes the variables the chart sets (its --help lists them)', async () => {
    const exec = promisify(execFile);
    const node = join(REPO, 'node_modules/.bin/node');
    const helps = await Promise.all(
      ROLES.map((role) =>
        exec(node, ['--disable-warning=ExperimentalWarning', 'apps/cli/src/main.ts', role, '--help'], { cwd: REPO }),
      ),
    );
    for (const [i, { stdout }] of helps.entries()) {
      const known = stdout.match(/STEAD_GRPC_TLS_[A-Z_]+/g) ?? [];
      expect([ROLES[i], [...new Set(known)].sort()]).toEqual([
        ROLES[i],
        ['STEAD_GRPC_TLS_CA_FILE', 'STEAD_GRPC_TLS_CERT_FILE', 'STEAD_GRPC_TLS_KEY_FILE', 'STEAD_GRPC_TLS_MODE'],
      ]);
    }
  }, 60_000);

  it('refuses a mode that does not exist', () => {
    const r = templateRaw({ set: ['grpcTls.mode=on'] });
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/at '\/grpcTls\/mode': value must be one of 'off', 'allow', 'require'/);
  });
});
