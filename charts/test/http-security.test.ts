// Authentication and HTTPS of the ingress and admin listeners in the chart (issue 17): on by default with a
// generated token Secret, or from an existing Secret; a TLS Secret turns on HTTPS and the URLs follow.
import { createHash } from 'node:crypto';
import {
  container,
  envOf,
  envValue,
  find,
  type K8sObject,
  ofKind,
  schemaProblems,
  template,
  templateRaw,
} from './k8s.ts';

const NS = 'ns1';
const STATEFUL = ['metadata-store', 'log-server', 'worker'];
const workload = (objects: K8sObject[], role: string) =>
  find(objects, STATEFUL.includes(role) ? 'StatefulSet' : 'Deployment', `stead-${role}`);
const volumes = (w: K8sObject): any[] => w.spec.template.spec.volumes ?? [];
const mounts = (w: K8sObject): any[] => container(w).volumeMounts ?? [];
const decode = (secret: K8sObject, key: string) => Buffer.from(String(secret.data?.[key]), 'base64').toString('utf8');
const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

describe('auth, default values: on, with a generated Secret', () => {
  const objects = template({ namespace: NS });
  const secret = find(objects, 'Secret', 'stead-auth');

  it('renders valid objects, the Secret kept on uninstall', () => {
    expect(schemaProblems(objects)).toEqual([]);
    expect(secret.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
  });

  it('holds a token file whose entries are the hashes of the tokens it also holds', () => {
    const file = JSON.parse(decode(secret, 'tokens.json'));
    const admin = decode(secret, 'admin-token');
    const prestop = decode(secret, 'prestop-token');
    expect(admin).toMatch(/^stead_[A-Za-z0-9]{43}$/);
    expect(prestop).not.toBe(admin);
    expect(file).toEqual({
      tokens: [
        {
          name: 'admin',
          hash: sha256(admin),
          scopes: ['admin:read', 'admin:write', 'ingress:invoke', 'ingress:attach'],
        },
        { name: 'prestop', hash: sha256(prestop), scopes: ['admin:read', 'admin:write'] },
      ],
    });
  });

  it('mounts the token file into the admin and ingress pods only, from a Secret volume (reloads)', () => {
    for (const role of ['admin', 'ingress']) {
      const w = workload(objects, role);
      expect(envValue(w, 'STEAD_AUTH_TOKENS_FILE')).toBe('/etc/stead/auth/tokens.json');
      expect(mounts(w)).toEqual([{ name: 'auth', mountPath: '/etc/stead/auth', readOnly: true }]);
      expect(volumes(w)).toEqual([
        { name: 'auth', secret: { secretName: 'stead-auth', items: [{ key: 'tokens.json', path: 'tokens.json' }] } },
      ]);
    }
    for (const role of ['metadata-store', 'log-server', 'worker', 'sequencer']) {
      const w = workload(objects, role);
      expect(envValue(w, 'STEAD_AUTH_TOKENS_FILE')).toBeUndefined();
      expect(volumes(w)).toEqual([]);
    }
  });

  it('gives the preStop hook of workers and log servers the preStop token', () => {
    for (const role of ['worker', 'log-server']) {
      const env = Object.fromEntries(envOf(workload(objects, role)));
      expect(env.RESTATE_AUTH_TOKEN).toEqual({
        secretKeyRef: { name: 'stead-auth', key: 'prestop-token', optional: true },
      });
    }
    expect(Object.fromEntries(envOf(workload(objects, 'sequencer'))).RESTATE_AUTH_TOKEN).toBeUndefined();
  });
});

describe('auth from an existing Secret, or off', () => {
  it('uses the Secret and keys given, generating none', () => {
    const objects = template({
      namespace: NS,
      set: ['auth.existingSecret=my-tokens', 'auth.tokensKey=file.json', 'auth.prestopTokenKey=drain'],
    });
    expect(ofKind(objects, 'Secret')).toEqual([]);
    expect(volumes(workload(objects, 'admin'))).toEqual([
      { name: 'auth', secret: { secretName: 'my-tokens', items: [{ key: 'file.json', path: 'tokens.json' }] } },
    ]);
    expect(Object.fromEntries(envOf(workload(objects, 'worker'))).RESTATE_AUTH_TOKEN).toEqual({
      secretKeyRef: { name: 'my-tokens', key: 'drain', optional: true },
    });
  });

  it('auth.enabled=false: no Secret, no token file, no volume', () => {
    const objects = template({ namespace: NS, set: ['auth.enabled=false'] });
    expect(ofKind(objects, 'Secret')).toEqual([]);
    for (const role of ['admin', 'ingress', 'worker']) {
      const names = envOf(workload(objects, role)).map(([n]) => n);
      expect(names).not.toContain('STEAD_AUTH_TOKENS_FILE');
      expect(names).not.toContain('RESTATE_AUTH_TOKEN');
      expect(volumes(workload(objects, role))).toEqual([]);
    }
  });

  it('refuses unknown auth and httpTls values', () => {
    for (const set of ['auth.secret=x', 'httpTls.cert=x', 'auth.enabled=maybe']) {
      const r = templateRaw({ set: [set] });
      expect(r.ok).toBe(false);
      expect(r.stderr).toContain("values don't meet the specifications of the schema");
    }
  });
});

describe('HTTPS from a TLS Secret', () => {
  const objects = template({ namespace: NS, set: ['httpTls.secretName=web-tls'] });

  it('gives the admin and the ingress the certificate files, from the Secret volume', () => {
    expect(schemaProblems(objects)).toEqual([]);
    for (const role of ['admin', 'ingress']) {
      const w = workload(objects, role);
      expect(envValue(w, 'STEAD_HTTP_TLS_CERT_FILE')).toBe('/etc/stead/http-tls/tls.crt');
      expect(envValue(w, 'STEAD_HTTP_TLS_KEY_FILE')).toBe('/etc/stead/http-tls/tls.key');
      expect(volumes(w)).toContainEqual({ name: 'http-tls', secret: { secretName: 'web-tls' } });
      expect(mounts(w)).toContainEqual({ name: 'http-tls', mountPath: '/etc/stead/http-tls', readOnly: true });
    }
  });

  it('turns the URLs to https and lets the preStop hook trust the CA', () => {
    expect(envValue(workload(objects, 'admin'), 'STEAD_INGRESS_ENDPOINT')).toBe(
      `https://stead-ingress.${NS}.svc.cluster.local:8080`,
    );
    for (const role of ['worker', 'log-server']) {
      const w = workload(objects, role);
      expect(container(w).lifecycle.preStop.exec.command.at(-1)).toContain(
        `--address https://stead-admin.${NS}.svc.cluster.local:9070`,
      );
      expect(envValue(w, 'NODE_EXTRA_CA_CERTS')).toBe('/etc/stead/http-tls/ca.crt');
      expect(volumes(w)).toContainEqual({
        name: 'http-tls',
        secret: { secretName: 'web-tls', optional: true, items: [{ key: 'ca.crt', path: 'ca.crt' }] },
      });
    }
    expect(envValue(workload(objects, 'metadata-store'), 'NODE_EXTRA_CA_CERTS')).toBeUndefined();
  });

  it('without TLS everything stays http', () => {
    const plain = template({ namespace: NS });
    expect(envValue(workload(plain, 'admin'), 'STEAD_INGRESS_ENDPOINT')).toMatch(/^http:\/\//);
    expect(envValue(workload(plain, 'admin'), 'STEAD_HTTP_TLS_CERT_FILE')).toBeUndefined();
  });
});
