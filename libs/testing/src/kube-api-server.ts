/**
 * A stand-in for the Kubernetes API server in tests (these machines have none): an HTTPS server in the test's
 * process with a self-signed certificate (made with the `openssl` CLI), a bearer token, and just the reads Stead
 * makes, with Kubernetes-shaped answers:
 *
 * - `GET /api/v1/nodes/{name}`: a `Node` (metadata.labels as set with `setNode`);
 * - `GET /apis/apps/v1/namespaces/{ns}/statefulsets/{name}` and the list form: `StatefulSet` / `StatefulSetList`
 *   (`spec.replicas` as set with `setStatefulSet`);
 * - `GET /version`;
 * - errors as `Status` objects: 401 without the token, 403 for a resource made forbidden with `forbid`, 404 for
 *   anything unknown.
 *
 * It writes a kubeconfig (`kubeconfigPath`, for `KUBECONFIG`) and a service-account directory
 * (`serviceAccountDir`: `token`, `ca.crt`, `namespace`) for processes that run as pods, with `inClusterEnv()` for
 * `KUBERNETES_SERVICE_HOST/PORT`. Limits: no writes, watches, selectors, pagination, resourceVersion semantics or
 * RBAC beyond `forbid`; nothing persists.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Cleanup } from './process.ts';

export interface KubeApiServerOptions {
  /** Address to listen on and to name in the kubeconfig and the certificate (default 127.0.0.1). */
  host?: string;
  /** Port (default: any free one). */
  port?: number;
  /** The `namespace` file of the service-account directory (default `default`). */
  namespace?: string;
}

type Resource = 'nodes' | 'statefulsets';

interface Reply {
  status: number;
  body: unknown;
}

export class KubeApiServer {
  readonly host: string;
  readonly token = randomBytes(24).toString('hex');
  /** Where the certificate, kubeconfig and service-account directory are. */
  readonly dir: string;
  readonly caPath: string;
  readonly kubeconfigPath: string;
  readonly serviceAccountDir: string;
  /** Requests served, as `METHOD path status` (e.g. for asserting that something was read). */
  readonly requests: string[] = [];
  private readonly nodes = new Map<string, Record<string, string>>();
  private readonly statefulSets = new Map<string, number>();
  private readonly forbidden = new Set<Resource>();
  private readonly server: Server;
  private listenPort = 0;

  private constructor(dir: string, host: string, key: Buffer, cert: Buffer) {
    this.dir = dir;
    this.host = host;
    this.caPath = join(dir, 'ca.crt');
    this.kubeconfigPath = join(dir, 'kubeconfig');
    this.serviceAccountDir = join(dir, 'serviceaccount');
    this.server = createServer({ key, cert }, (req, res) => {
      const reply = this.handle(req.method ?? 'GET', req.url ?? '/', req.headers.authorization);
      this.requests.push(`${req.method} ${req.url} ${reply.status}`);
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    });
  }

  /** Starts the server (stopped, with its files removed, by `cleanup`). */
  static async start(cleanup: Cleanup, o: KubeApiServerOptions = {}): Promise<KubeApiServer> {
    const host = o.host ?? '127.0.0.1';
    const dir = cleanup.tempDir('stead-kube-api-');
    const { key, cert } = selfSignedCertificate(dir, host);
    const s = new KubeApiServer(dir, host, key, cert);
    cleanup.add(() => s.stop());
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(o.port ?? 0, host, () => resolve());
    });
    const address = s.server.address();
    s.listenPort = typeof address === 'object' && address ? address.port : 0;
    s.writeFiles(o.namespace ?? 'default', cert);
    return s;
  }

  get port(): number {
    return this.listenPort;
  }

  /** `https://host:port` (IPv6 in brackets). */
  get url(): string {
    return `https://${isIP(this.host) === 6 ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** The environment of a process that finds the API through `KUBECONFIG`. */
  env(): Record<string, string> {
    return { KUBECONFIG: this.kubeconfigPath };
  }

  /** `KUBERNETES_SERVICE_HOST/PORT` of a pod (with `serviceAccountDir` mounted at the service-account path). */
  inClusterEnv(): Record<string, string> {
    return { KUBERNETES_SERVICE_HOST: this.host, KUBERNETES_SERVICE_PORT: String(this.port) };
  }

  /** Creates or replaces Node `name` with these labels. */
  setNode(name: string, labels: Record<string, string> = {}): void {
    this.nodes.set(name, { 'kubernetes.io/hostname': name, ...labels });
  }

  removeNode(name: string): void {
    this.nodes.delete(name);
  }

  /** Creates StatefulSet `namespace/name`, or sets its `spec.replicas` (a `kubectl scale`). */
  setStatefulSet(namespace: string, name: string, replicas: number): void {
    this.statefulSets.set(`${namespace}/${name}`, replicas);
  }

  removeStatefulSet(namespace: string, name: string): void {
    this.statefulSets.delete(`${namespace}/${name}`);
  }

  /** Answers 403 for every read of `resource` (a missing RBAC rule) while `on`. */
  forbid(resource: Resource, on = true): void {
    if (on) this.forbidden.add(resource);
    else this.forbidden.delete(resource);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private writeFiles(namespace: string, cert: Buffer): void {
    writeFileSync(this.caPath, cert);
    mkdirSync(this.serviceAccountDir, { recursive: true });
    writeFileSync(join(this.serviceAccountDir, 'token'), this.token);
    writeFileSync(join(this.serviceAccountDir, 'ca.crt'), cert);
    writeFileSync(join(this.serviceAccountDir, 'namespace'), namespace);
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'stand-in', cluster: { server: this.url, 'certificate-authority': this.caPath } }],
      users: [{ name: 'stead', user: { token: this.token } }],
      contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'stead', namespace } }],
      'current-context': 'stand-in',
    };
    // JSON is YAML: the client reads it as a kubeconfig.
    writeFileSync(this.kubeconfigPath, `${JSON.stringify(kubeconfig, null, 2)}\n`);
  }

  private handle(method: string, url: string, authorization: string | undefined): Reply {
    if (authorization !== `Bearer ${this.token}`) return status(401, 'Unauthorized', 'Unauthorized');
    const path = new URL(url, 'https://x').pathname;
    if (method !== 'GET') return status(405, 'MethodNotAllowed', `the stand-in API serves only GET, not ${method}`);
    if (path === '/version')
      return {
        status: 200,
        body: { major: '1', minor: '33', gitVersion: 'v1.33.0-stead-stand-in', platform: 'linux' },
      };
    let m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path);
    if (m) return this.node(decodeURIComponent(m[1]));
    m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/statefulsets(?:\/([^/]+))?$/.exec(path);
    if (m) return this.statefulSet(decodeURIComponent(m[1]), m[2] === undefined ? undefined : decodeURIComponent(m[2]));
    return status(404, 'NotFound', 'the server could not find the requested resource');
  }

  private node(name: string): Reply {
    if (this.forbidden.has('nodes'))
      return status(
        403,
        'Forbidden',
        `nodes "${name}" is forbidden: cannot get resource "nodes" at the cluster scope`,
        {
          name,
          kind: 'nodes',
        },
      );
    const labels = this.nodes.get(name);
    if (!labels) return status(404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' });
    return {
      status: 200,
      body: {
        kind: 'Node',
        apiVersion: 'v1',
        metadata: { name, uid: uid(`node/${name}`), resourceVersion: '1', labels },
        spec: {},
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      },
    };
  }

  private statefulSet(namespace: string, name: string | undefined): Reply {
    if (this.forbidden.has('statefulsets'))
      return status(
        403,
        'Forbidden',
        `statefulsets.apps${name ? ` "${name}"` : ''} is forbidden: cannot get resource "statefulsets" in API group "apps" in the namespace "${namespace}"`,
        { name, group: 'apps', kind: 'statefulsets' },
      );
    if (name === undefined) {
      const items = [...this.statefulSets.entries()]
        .filter(([key]) => key.startsWith(`${namespace}/`))
        .map(([key, replicas]) => statefulSetObject(namespace, key.slice(namespace.length + 1), replicas));
      return {
        status: 200,
        body: { kind: 'StatefulSetList', apiVersion: 'apps/v1', metadata: { resourceVersion: '1' }, items },
      };
    }
    const replicas = this.statefulSets.get(`${namespace}/${name}`);
    if (replicas === undefined)
      return status(404, 'NotFound', `statefulsets.apps "${name}" not found`, {
        name,
        group: 'apps',
        kind: 'statefulsets',
      });
    return { status: 200, body: statefulSetObject(namespace, name, replicas) };
  }
}

function statefulSetObject(namespace: string, name: string, replicas: number) {
  const labels = { 'app.kubernetes.io/name': name };
  return {
    kind: 'StatefulSet',
    apiVersion: 'apps/v1',
    metadata: { name, namespace, uid: uid(`sts/${namespace}/${name}`), resourceVersion: '1', generation: 1, labels },
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'stead', image: 'stead' }] } },
      podManagementPolicy: 'Parallel',
    },
    status: { observedGeneration: 1, replicas, readyReplicas: replicas, currentReplicas: replicas },
  };
}

/** Kubernetes' error object. */
function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Reply {
  return {
    status: code,
    body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code },
  };
}

const uids = new Map<string, string>();
function uid(key: string): string {
  let u = uids.get(key);
  if (!u) {
    u = randomUUID();
    uids.set(key, u);
  }
  return u;
}

/** A self-signed certificate for `host` (an IP or a name), also valid for localhost and 127.0.0.1. */
function selfSignedCertificate(dir: string, host: string): { key: Buffer; cert: Buffer } {
  const keyPath = join(dir, 'server.key');
  const certPath = join(dir, 'server.crt');
  const names = new Set([isIP(host) ? `IP:${host}` : `DNS:${host}`, 'IP:127.0.0.1', 'DNS:localhost']);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=stead-kube-api-stand-in',
      '-addext',
      `subjectAltName=${[...names].join(',')}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { key: readFileSync(keyPath), cert: readFileSync(certPath) };
}
