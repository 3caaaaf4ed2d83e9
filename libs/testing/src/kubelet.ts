/**
 * A stand-in for Kubernetes' node agents, to run a rendered Helm chart on a machine without a cluster: the
 * StatefulSets and Deployments of `helm template` output become local processes, each pod with
 *
 * - its own network namespace and IP address (10.244.N.k on a bridge; `hostIp`, the bridge's address, is where
 *   test-side servers listen so that pods reach them), so every pod binds the chart's ports on 0.0.0.0;
 * - its own `/etc/hosts` with the cluster DNS names: `<pod>.<service>.<ns>.svc.cluster.local` for StatefulSet
 *   pods and `<service>.<ns>.svc.cluster.local` for Services (a Service name points at one ready pod it selects:
 *   there is no kube-proxy here);
 * - its own mount namespace: each volume mount is a directory of this harness bind-mounted at the mount path
 *   (`volumeClaimTemplates` keep one directory per pod, as a PVC does; a `secret` volume holds a file per key of
 *   the Secret, or per `items` entry, written when the pod starts; a path missing on this machine is made in an
 *   overlay of its nearest existing ancestor, /etc for instance), and the service account's token, CA and
 *   namespace at `/var/run/secrets/kubernetes.io/serviceaccount` when a Kubernetes API is given;
 * - its own host name (the pod name), the environment Kubernetes would give it (`value` with `$(VAR)`
 *   expansion, `fieldRef`, `secretKeyRef`, `configMapKeyRef`, service links unless `enableServiceLinks: false`,
 *   `KUBERNETES_SERVICE_HOST/PORT`), and the container's command and args (`stead` is this repository's CLI).
 *
 * `apply(objects)` plays the StatefulSet and Deployment controllers: it starts missing pods (ordinal order for
 * StatefulSets), and on a scale-down runs each removed pod's `preStop` hook, then SIGTERM, then SIGKILL at the
 * end of `terminationGracePeriodSeconds`. Readiness probes (httpGet) are polled. A container that exits on its
 * own is restarted (restartPolicy Always). Needs root (`ip netns`, `mount`).
 *
 * Not played: rolling updates of a changed pod template, init containers, sidecars, scheduling constraints
 * (pods go round-robin over the given nodes), resource limits.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type Cleanup, NODE, Proc, REPO, waitFor } from './process.ts';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: any;
};

/** The objects of a multi-document YAML text (`helm template` output), empty documents left out. */
export function parseManifests(text: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`YAML: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj && typeof obj === 'object' && obj.kind) out.push(obj as KubeObject);
  }
  return out;
}

export interface KubeletOptions {
  namespace: string;
  /** Fake Kubernetes nodes the pods are spread over, round robin (their names are the pods' `spec.nodeName`). */
  nodes?: string[];
  /** Added to every container's environment (e.g. `STEAD_LOG_LEVEL`). */
  extraEnv?: Record<string, string>;
  /** A Kubernetes API for the pods: `KUBERNETES_SERVICE_HOST/PORT` and the service-account files. */
  kubeApi?: { host: string; port: number; serviceAccountDir: string };
  /** Told each StatefulSet's desired replicas before pods are added or removed, as the API server knows them. */
  onReplicas?: (statefulSet: string, replicas: number) => void | Promise<void>;
}

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: any[];
  ports?: any[];
  readinessProbe?: any;
  lifecycle?: any;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

interface Pod {
  name: string;
  owner: KubeObject;
  ordinal: number;
  ip: string;
  netns: string;
  hostVeth: string;
  nodeName: string;
  labels: Record<string, string>;
  container: Container;
  env: Record<string, string>;
  mounts: Array<{ source: string; target: string }>;
  graceMs: number;
  proc?: Proc;
  ready: boolean;
  /** Set once the pod is being deleted: its container is not restarted. */
  deleting: boolean;
  restarts: number;
}

/** What happened to a pod's hooks and container, in order (for assertions and failure reports). */
export interface PodEvent {
  pod: string;
  kind: 'preStop' | 'exit';
  /** Exit status (null when ended by a signal). */
  code: number | null;
  ms: number;
  /** Last lines the hook or container wrote. */
  output: string[];
}

export interface PodView {
  name: string;
  ip: string;
  ready: boolean;
  owner: string;
  ordinal: number;
  nodeName: string;
  restarts: number;
  pid: number;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Kubernetes' `$(VAR)` expansion: a defined variable is replaced, `$$(VAR)` escapes, anything else stays. */
export function expandVars(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) =>
    m === '$$' ? '$' : name !== undefined && name in env ? env[name] : m,
  );
}

/** The bridge all pods hang on, and the addresses handed out on it. */
class PodNetwork {
  readonly bridge: string;
  readonly prefix: string;
  private next = 2;
  private readonly byName = new Map<string, string>();
  readonly tag: string;

  constructor() {
    this.tag = randomBytes(2).toString('hex');
    this.bridge = `stk${this.tag}`;
    const routes = sh('ip', ['-4', 'route']);
    let third = -1;
    for (let attempt = 0; attempt < 50 && third < 0; attempt++) {
      const n = 1 + Math.floor(Math.random() * 250);
      if (!routes.includes(`10.244.${n}.`)) third = n;
    }
    if (third < 0) throw new Error('no free 10.244.N.0/24 subnet');
    this.prefix = `10.244.${third}`;
    sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${this.hostIp}/24`, 'dev', this.bridge]);
    sh('ip', ['link', 'set', this.bridge, 'up']);
  }

  get hostIp(): string {
    return `${this.prefix}.1`;
  }

  /** The address of pod `name`: the same one again when a pod of that name comes back (a StatefulSet pod). */
  addressOf(name: string): string {
    let ip = this.byName.get(name);
    if (!ip) {
      if (this.next > 254) throw new Error('the pod network is full');
      ip = `${this.prefix}.${this.next++}`;
      this.byName.set(name, ip);
    }
    return ip;
  }

  /** Creates the network namespace of a pod with `eth0` on the bridge. */
  attach(netns: string, hostVeth: string, ip: string): void {
    sh('ip', ['netns', 'add', netns]);
    // The pod's MAC address follows from its IP, so a pod that comes back with its address (a StatefulSet pod
    // after a restart or a scale-up) is reachable at once through neighbours' cached ARP entries.
    const mac = `02:42:${ip
      .split('.')
      .map((n) => Number(n).toString(16).padStart(2, '0'))
      .join(':')}`;
    sh('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'address', mac, 'netns', netns]);
    sh('ip', ['link', 'set', hostVeth, 'master', this.bridge, 'up']);
    const inNs = (...args: string[]) => sh('ip', ['netns', 'exec', netns, ...args]);
    inNs('ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
    inNs('ip', 'link', 'set', 'eth0', 'up');
    inNs('ip', 'link', 'set', 'lo', 'up');
  }

  detach(netns: string, hostVeth: string): void {
    // The veth pair goes first: a namespace outlives its deletion while a closing socket in it still retransmits
    // (a peer that went away first), and would keep its veth pair until then.
    try {
      sh('ip', ['link', 'del', hostVeth]);
    } catch {
      // already gone
    }
    try {
      sh('ip', ['netns', 'del', netns]); // takes its veth pair with it
    } catch {
      // already gone
    }
    rmSync(`/etc/netns/${netns}`, { recursive: true, force: true });
  }

  close(): void {
    try {
      sh('ip', ['link', 'del', this.bridge]);
    } catch {
      // already gone
    }
  }
}

export class Kubelet {
  readonly namespace: string;
  private readonly net: PodNetwork;
  private readonly dir: string;
  private readonly opts: KubeletOptions;
  private readonly pods = new Map<string, Pod>();
  private objects: KubeObject[] = [];
  private vethCount = 0;
  private podCount = 0;
  private probing: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private readonly history: PodEvent[] = [];

  private constructor(opts: KubeletOptions, dir: string) {
    this.opts = opts;
    this.namespace = opts.namespace;
    this.dir = dir;
    this.net = new PodNetwork();
    mkdirSync(join(dir, 'bin'), { recursive: true });
    // The image's `stead` on the pods' PATH: this repository's CLI (roles and `ctl`).
    const wrapper = join(dir, 'bin', 'stead');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nexec ${quote(NODE)} --disable-warning=ExperimentalWarning ${quote(join(REPO, 'apps/cli/src/main.ts'))} "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    this.probing = setInterval(() => void this.probeAll(), 500);
  }

  /** A harness whose pods, namespaces, bridge and files `cleanup` removes. */
  static start(cleanup: Cleanup, opts: KubeletOptions): Kubelet {
    const k = new Kubelet(opts, cleanup.tempDir('stead-kubelet-'));
    cleanup.add(() => k.shutdown());
    return k;
  }

  /** Gives the pods a Kubernetes API (before the first `apply`): a server listening on `hostIp`. */
  useKubeApi(api: NonNullable<KubeletOptions['kubeApi']>): void {
    this.opts.kubeApi = api;
  }

  /** Tells `fn` each StatefulSet's desired replicas before pods are added or removed (the API server's view). */
  onReplicas(fn: NonNullable<KubeletOptions['onReplicas']>): void {
    this.opts.onReplicas = fn;
  }

  /** The bridge address: where servers of the test listen for the pods (an SDK service, an S3 endpoint). */
  get hostIp(): string {
    return this.net.hostIp;
  }

  view(): PodView[] {
    return [...this.pods.values()].map((p) => ({
      name: p.name,
      ip: p.ip,
      ready: p.ready,
      owner: p.owner.metadata.name,
      ordinal: p.ordinal,
      nodeName: p.nodeName,
      restarts: p.restarts,
      pid: p.proc?.pid ?? -1,
    }));
  }

  /** The address of a ready pod behind Service `name` (there is no virtual IP here). */
  serviceIp(name: string): string {
    const svc = this.objects.find((o) => o.kind === 'Service' && o.metadata.name === name);
    if (!svc) throw new Error(`no Service ${name}`);
    const pod = this.selected(svc).find((p) => p.ready);
    if (!pod) throw new Error(`Service ${name} has no ready pod`);
    return pod.ip;
  }

  /** preStop hooks run and containers ended so far, oldest first. */
  events(): PodEvent[] {
    return [...this.history];
  }

  /** The directory that plays the PVC of `claim` (a volumeClaimTemplate) for StatefulSet pod `pod`. */
  claimDir(pod: string, claim: string): string {
    return join(this.dir, 'pvc', `${claim}-${pod}`);
  }

  /** Output of a pod's container (last lines), for failure reports. */
  output(name?: string): string {
    const pods = name ? [this.pods.get(name)].filter((p) => p !== undefined) : [...this.pods.values()];
    return pods.map((p) => p.proc?.output() ?? `${p.name}: not started`).join('\n');
  }

  /**
   * Makes the running pods match `objects` (the whole rendered release: Services, Secrets, ConfigMaps,
   * StatefulSets, Deployments); resolves once every pod is ready (or throws after `timeoutMs`).
   */
  async apply(objects: KubeObject[], timeoutMs = 120_000): Promise<void> {
    this.objects = objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: this.namespace } }));
    const removals: Promise<void>[] = [];
    for (const owner of this.objects.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment')) {
      const replicas = owner.spec.replicas ?? 1;
      if (owner.kind === 'StatefulSet') await this.opts.onReplicas?.(owner.metadata.name, replicas);
      const mine = [...this.pods.values()]
        .filter((p) => p.owner.metadata.name === owner.metadata.name && !p.deleting)
        .sort((a, b) => a.ordinal - b.ordinal);
      for (const p of mine.slice(replicas)) removals.push(this.deletePod(p.name));
      const have = new Set(mine.slice(0, replicas).map((p) => p.ordinal));
      for (let i = 0; i < replicas; i++) {
        if (owner.kind === 'StatefulSet' ? have.has(i) : i < mine.length) continue;
        this.createPod(owner, owner.kind === 'StatefulSet' ? i : this.podCount++);
      }
    }
    this.writeHosts();
    await Promise.all(removals);
    await waitFor(() => [...this.pods.values()].every((p) => p.ready), {
      timeoutMs,
      intervalMs: 200,
      what: 'pods ready',
    }).catch((e) => {
      // Named when the wait ends, not when it starts: the pods still not ready then.
      const waiting = [...this.pods.values()].filter((p) => !p.ready).map((p) => p.name);
      const exits = this.history
        .filter((h) => h.kind === 'exit')
        .map((h) => `--- ${h.pod} exited (${h.code}); its last output ---\n${h.output.join('\n')}`);
      throw new Error(
        `${(e as Error).message} (not ready: ${waiting.join(', ')})\n${[...exits, this.output()].join('\n')}`,
      );
    });
    this.writeHosts();
  }

  /** Deletes a pod as the API server would: its preStop hook, SIGTERM, SIGKILL at the end of the grace period. */
  async deletePod(name: string): Promise<void> {
    const p = this.pods.get(name);
    if (!p || p.deleting) return;
    p.deleting = true;
    p.ready = false;
    this.writeHosts();
    const deadline = Date.now() + p.graceMs;
    const preStop: string[] | undefined = p.container.lifecycle?.preStop?.exec?.command;
    if (preStop && p.proc?.running) {
      const started = Date.now();
      const hook = this.spawnIn(p, `${p.name} preStop`, preStop);
      const t = setTimeout(() => hook.kill('SIGKILL'), Math.max(0, deadline - Date.now()));
      const code = await hook.exited;
      clearTimeout(t);
      this.history.push({
        pod: p.name,
        kind: 'preStop',
        code,
        ms: Date.now() - started,
        output: hook.lines.slice(-10),
      });
    }
    if (p.proc) {
      const started = Date.now();
      p.proc.kill('SIGTERM');
      const t = setTimeout(() => p.proc?.kill('SIGKILL'), Math.max(0, deadline - Date.now()));
      const code = await p.proc.exited;
      clearTimeout(t);
      this.history.push({ pod: p.name, kind: 'exit', code, ms: Date.now() - started, output: p.proc.lines.slice(-10) });
    }
    this.pods.delete(name);
    this.net.detach(p.netns, p.hostVeth);
    this.writeHosts();
  }

  /** Sends `signal` to a pod's container (SIGKILL = a crash); the container is restarted like any exit. */
  signal(name: string, signal: NodeJS.Signals): void {
    const p = this.pods.get(name);
    if (!p?.proc) throw new Error(`no running pod ${name}`);
    p.proc.kill(signal);
  }

  /**
   * Kills every pod (SIGKILL) and removes the network: the teardown of a test. Pods deleted on purpose go through
   * `deletePod` (preStop, SIGTERM, grace period), whose outcome the tests assert; here a graceful stop of every pod
   * at once would only wait out the workers' drain, with no worker left to take their leaderships.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.probing);
    await Promise.all(
      [...this.pods.values()].map(async (p) => {
        p.deleting = true;
        p.proc?.kill('SIGKILL');
        await p.proc?.exited;
        this.net.detach(p.netns, p.hostVeth);
      }),
    );
    this.pods.clear();
    this.net.close();
  }

  private createPod(owner: KubeObject, ordinal: number): void {
    const template = owner.spec.template;
    const suffix = owner.kind === 'StatefulSet' ? `${ordinal}` : `${randomBytes(3).toString('hex')}`;
    const name = `${owner.metadata.name}-${suffix}`;
    const nodes = this.opts.nodes ?? ['node-0'];
    const containers: Container[] = template.spec.containers;
    if (containers.length !== 1) throw new Error(`${name}: one container per pod is supported`);
    const ip = this.net.addressOf(name);
    const pod: Pod = {
      name,
      owner,
      ordinal,
      ip,
      netns: `stead-k${this.net.tag}-${name}`,
      hostVeth: `stk${this.net.tag}v${this.vethCount++}`,
      nodeName: nodes[ordinal % nodes.length],
      labels: template.metadata?.labels ?? {},
      container: containers[0],
      env: {},
      mounts: [],
      graceMs: (template.spec.terminationGracePeriodSeconds ?? 30) * 1000,
      ready: false,
      deleting: false,
      restarts: 0,
    };
    pod.env = this.environment(pod, template.spec);
    pod.mounts = this.volumes(pod, owner);
    this.pods.set(name, pod);
    mkdirSync(`/etc/netns/${pod.netns}`, { recursive: true });
    this.writeHosts();
    this.net.attach(pod.netns, pod.hostVeth, ip);
    this.run(pod);
  }

  private run(pod: Pod): void {
    const c = pod.container;
    const command = [...(c.command ?? []), ...(c.args ?? [])].map((a) => expandVars(a, pod.env));
    if (command.length === 0) throw new Error(`${pod.name}: no command (the image's entrypoint is not known here)`);
    const proc = this.spawnIn(pod, pod.name, command);
    pod.proc = proc;
    void proc.exited.then((code) => {
      if (pod.deleting || this.closed) return;
      this.history.push({ pod: pod.name, kind: 'exit', code, ms: 0, output: proc.lines.slice(-10) });
      proc.lines.push(`[kubelet] container exited (${code ?? proc.child.signalCode}); restarting`);
      pod.ready = false;
      pod.restarts++;
      setTimeout(() => {
        if (!pod.deleting && !this.closed) this.run(pod);
      }, 1000);
    });
  }

  /** Runs `command` in the pod's network, mount and UTS namespaces with its environment. */
  private spawnIn(pod: Pod, name: string, command: string[]): Proc {
    // Where the writable layers of the overlays below live: a tmpfs of the pod's mount namespace, mounted on a
    // directory of this harness.
    const layers = join(this.dir, 'pods', pod.name, '.layers');
    mkdirSync(layers, { recursive: true });
    const script = [
      'set -e',
      `echo ${quote(pod.name)} > /proc/sys/kernel/hostname`,
      `layers=${quote(layers)}`,
      'mount -t tmpfs tmpfs "$layers"',
      'n=0',
      // The nearest ancestor of $1 that is an overlay made here (writable without touching the host), or nothing.
      'made() { d="$1"; while [ "$d" != / ]; do if [ -e "$d/.kubelet-overlay" ]; then echo "$d"; return; fi; d=$(dirname "$d"); done; }',
    ];
    for (const m of pod.mounts) {
      // A mount path missing on this machine: its nearest existing ancestor gets an overlay (in the pod's own mount
      // namespace only; what the ancestor holds stays visible, /etc for instance), then the path is made in it. The
      // host's file system is never written.
      script.push(
        `t=${quote(m.target)}`,
        'if [ ! -e "$t" ]; then',
        '  if [ -z "$(made "$t")" ]; then a="$t"; while [ ! -e "$a" ]; do a=$(dirname "$a"); done',
        '    if [ "$a" = / ]; then echo "cannot mount at $t" >&2; exit 1; fi',
        '    n=$((n+1)); mkdir -p "$layers/$n/upper" "$layers/$n/work"',
        '    mount -t overlay overlay -o "lowerdir=$a,upperdir=$layers/$n/upper,workdir=$layers/$n/work" "$a"',
        '    touch "$a/.kubelet-overlay"; fi',
        '  mkdir -p "$t"; fi',
        `mount --bind ${quote(m.source)} "$t"`,
      );
    }
    // `ip netns exec` bound the pod's /etc/netns files (its hosts file) over /etc; an overlay of /etc hid them.
    script.push(
      `for f in /etc/netns/${pod.netns}/*; do if [ -e "$f" ]; then mount --bind "$f" "/etc/\${f##*/}"; fi; done`,
      'exec "$@"',
    );
    const args = ['netns', 'exec', pod.netns, 'unshare', '--uts', 'sh', '-c', script.join('\n'), 'sh', ...command];
    return new Proc(name, 'ip', args, { env: pod.env, cwd: '/' });
  }

  /** The container environment Kubernetes builds (see the header). */
  private environment(pod: Pod, spec: any): Record<string, string> {
    const env: Record<string, string> = {
      PATH: `${join(this.dir, 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: '/root',
      HOSTNAME: pod.name,
    };
    if (this.opts.kubeApi) {
      env.KUBERNETES_SERVICE_HOST = this.opts.kubeApi.host;
      env.KUBERNETES_SERVICE_PORT = String(this.opts.kubeApi.port);
    }
    if (spec.enableServiceLinks !== false) {
      for (const svc of this.objects.filter((o) => o.kind === 'Service')) {
        const base = svc.metadata.name.toUpperCase().replaceAll('-', '_');
        const port = svc.spec.ports?.[0]?.port;
        env[`${base}_SERVICE_HOST`] = this.net.prefix + '.0';
        if (port !== undefined) {
          env[`${base}_SERVICE_PORT`] = String(port);
          env[`${base}_PORT`] = `tcp://${this.net.prefix}.0:${port}`;
        }
      }
    }
    const containerEnv = pod.container.env ?? [];
    for (const e of containerEnv) {
      if (e.value !== undefined) env[e.name] = expandVars(String(e.value), env);
      else if (e.valueFrom?.fieldRef) env[e.name] = this.field(pod, e.valueFrom.fieldRef.fieldPath);
      else if (e.valueFrom?.secretKeyRef) env[e.name] = this.keyOf('Secret', e.valueFrom.secretKeyRef, pod);
      else if (e.valueFrom?.configMapKeyRef) env[e.name] = this.keyOf('ConfigMap', e.valueFrom.configMapKeyRef, pod);
      else env[e.name] = '';
    }
    for (const [k, v] of Object.entries(this.opts.extraEnv ?? {})) env[k] = v;
    return env;
  }

  private field(pod: Pod, path: string): string {
    switch (path) {
      case 'metadata.name':
        return pod.name;
      case 'metadata.namespace':
        return this.namespace;
      case 'status.podIP':
        return pod.ip;
      case 'spec.nodeName':
        return pod.nodeName;
      case 'spec.serviceAccountName':
        return pod.owner.spec.template.spec.serviceAccountName ?? 'default';
      default:
        throw new Error(`${pod.name}: fieldRef ${path} is not played by this harness`);
    }
  }

  private keyOf(
    kind: 'Secret' | 'ConfigMap',
    ref: { name: string; key: string; optional?: boolean },
    pod: Pod,
  ): string {
    const obj = this.objects.find((o) => o.kind === kind && o.metadata.name === ref.name);
    const raw = obj?.stringData?.[ref.key] ?? obj?.data?.[ref.key];
    if (raw === undefined) {
      if (ref.optional) return '';
      throw new Error(`${pod.name}: ${kind} ${ref.name} has no key ${ref.key}`);
    }
    return kind === 'Secret' && obj?.stringData?.[ref.key] === undefined
      ? Buffer.from(String(raw), 'base64').toString('utf8')
      : String(raw);
  }

  /** The files of a `secret` volume: every key of the Secret, or the `items` (key → path) when listed. */
  private writeSecretVolume(
    pod: Pod,
    volume: { secretName: string; items?: Array<{ key: string; path: string }>; optional?: boolean },
    dir: string,
  ): void {
    const secret = this.objects.find((o) => o.kind === 'Secret' && o.metadata.name === volume.secretName);
    if (!secret) {
      if (volume.optional) return;
      throw new Error(`${pod.name}: Secret ${volume.secretName} of a volume is not in the release`);
    }
    const keys = [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})];
    const items = volume.items ?? keys.map((key) => ({ key, path: key }));
    rmSync(dir, { recursive: true, force: true });
    for (const { key, path } of items) {
      const value = this.keyOf('Secret', { name: volume.secretName, key }, pod);
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), value, { mode: 0o644 });
    }
  }

  /** Directories of this harness for the container's volume mounts (see the header). */
  private volumes(pod: Pod, owner: KubeObject): Array<{ source: string; target: string }> {
    const mounts: Array<{ source: string; target: string }> = [];
    const claims = new Set<string>((owner.spec.volumeClaimTemplates ?? []).map((t: KubeObject) => t.metadata.name));
    const volumes: any[] = owner.spec.template.spec.volumes ?? [];
    for (const m of pod.container.volumeMounts ?? []) {
      let source: string;
      if (claims.has(m.name)) source = join(this.dir, 'pvc', `${m.name}-${pod.name}`);
      else {
        const v = volumes.find((x) => x.name === m.name);
        if (!v) throw new Error(`${pod.name}: volume ${m.name} is not defined`);
        source = join(this.dir, 'pods', pod.name, m.name);
        if (v.secret !== undefined) this.writeSecretVolume(pod, v.secret, source);
        else if (v.emptyDir === undefined)
          throw new Error(`${pod.name}: volume ${m.name}: only emptyDir, secret and PVCs are played`);
      }
      mkdirSync(source, { recursive: true });
      mounts.push({ source, target: m.mountPath });
    }
    const automount = owner.spec.template.spec.automountServiceAccountToken !== false;
    if (this.opts.kubeApi && automount)
      mounts.push({
        source: this.opts.kubeApi.serviceAccountDir,
        target: '/var/run/secrets/kubernetes.io/serviceaccount',
      });
    return mounts;
  }

  private selected(svc: KubeObject): Pod[] {
    const selector: Record<string, string> = svc.spec.selector ?? {};
    return [...this.pods.values()]
      .filter((p) => !p.deleting && Object.entries(selector).every(([k, v]) => p.labels[k] === v))
      .sort((a, b) => a.ordinal - b.ordinal);
  }

  /** Rewrites every pod's hosts file in place (same inode: the bind mount of `ip netns exec` shows the change). */
  private writeHosts(): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost'];
    const domain = `${this.namespace}.svc.cluster.local`;
    for (const svc of this.objects.filter((o) => o.kind === 'Service')) {
      const pods = this.selected(svc);
      const headless = svc.spec.clusterIP === 'None';
      for (const p of pods) {
        if (headless && p.owner.kind === 'StatefulSet')
          lines.push(`${p.ip} ${p.name}.${svc.metadata.name}.${domain} ${p.name}.${svc.metadata.name}`);
      }
      const target = pods.find((p) => p.ready) ?? pods[0];
      if (target) lines.push(`${target.ip} ${svc.metadata.name}.${domain} ${svc.metadata.name}`);
    }
    const text = `${lines.join('\n')}\n`;
    for (const p of this.pods.values()) {
      try {
        writeFileSync(`/etc/netns/${p.netns}/hosts`, `${text}${p.ip} ${p.name}\n`);
      } catch {
        // the pod's namespace is being removed
      }
    }
  }

  private async probeAll(): Promise<void> {
    await Promise.all(
      [...this.pods.values()].map(async (p) => {
        if (p.deleting || !p.proc?.running) return;
        const was = p.ready;
        p.ready = await this.probe(p);
        if (p.ready !== was) this.writeHosts();
      }),
    );
  }

  private async probe(p: Pod): Promise<boolean> {
    const get = p.container.readinessProbe?.httpGet;
    if (!get) return true;
    const port =
      typeof get.port === 'number' ? get.port : p.container.ports?.find((x) => x.name === get.port)?.containerPort;
    try {
      const res = await fetch(`http://${p.ip}:${port}${get.path ?? '/'}`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status >= 200 && res.status < 400;
    } catch {
      return false;
    }
  }
}
