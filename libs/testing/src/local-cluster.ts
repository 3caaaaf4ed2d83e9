import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, GiveUp, httpOk, NODE, REPO, steadEnv, waitFor } from './process.ts';

export type ClusterRole = 'metadata-store' | 'log-server' | 'sequencer' | 'worker' | 'admin' | 'ingress';

/** How many of each process, and the cluster's settings. */
export interface LocalClusterOptions {
  /** Data dirs, logs and the state file `cluster.json` live here. */
  dir: string;
  metadata?: number;
  logServers?: number;
  sequencers?: number;
  workers?: number;
  ingresses?: number;
  admins?: number;
  partitions?: number;
  partitionReplication?: number;
  logReplication?: number;
  /** Port of the first ingress (0 = any free one; default 8080) and of the first admin (default 9070). */
  ingressPort?: number;
  adminPort?: number;
  /** gRPC ingress port of the first ingress (default 8090, or a free one when `ingressPort` is 0). */
  grpcIngressPort?: number;
  /**
   * Processes outlive this one (the `npm run cluster` command); otherwise they are children that `down()` stops
   * (tests).
   */
  detached?: boolean;
  /** Extra flags per role (e.g. shorter failure timeouts in tests). */
  extraArgs?: Partial<Record<ClusterRole, string[]>>;
  /** Environment of every process (default: this one's). */
  env?: NodeJS.ProcessEnv;
  /** Called with progress lines while starting. */
  progress?: (line: string) => void;
  /** How long to wait for the whole cluster to serve (default 60 s). */
  readyTimeoutMs?: number;
  /**
   * Processes (by name, e.g. `w3`) to run in network namespaces of their own, each joined to this one by a veth
   * pair, so that a test can cut them off the network (`cut`/`heal`). The other processes then listen on the
   * veth address of this side (10.N.1.1) instead of 127.0.0.1. Needs root (`ip`, `nft`).
   */
  isolate?: string[];
  /** Data dirs of processes (by name) that keep their data elsewhere than under `dir` (e.g. on a small tmpfs). */
  dataDirs?: Record<string, string>;
  /** Environments of processes (by name) that run with another than `env` (e.g. LD_PRELOAD of a shim). */
  envs?: Record<string, NodeJS.ProcessEnv>;
  /** `--location` of processes (by name, e.g. `{ w1: 'r.z1' }`); also of processes added later with `add`. */
  locations?: Record<string, string>;
  /**
   * Names the log servers and workers as a StatefulSet names its pods: `<name>-0`, `<name>-1`, … (e.g.
   * `{ worker: 'stead-worker' }`) instead of `ls1`, `w1`, …
   */
  podNames?: Partial<Record<'log-server' | 'worker', string>>;
}

/** One process of the cluster, as written to `cluster.json`. */
export interface ClusterProcess {
  name: string;
  role: ClusterRole;
  pid: number;
  args: string[];
  log: string;
  metricsPort: number;
  /** gRPC port (metadata store, log server, sequencer, worker). */
  nodePort?: number;
  /** HTTP port (ingress, admin). */
  httpPort?: number;
  /** gRPC ingress port (ingress). */
  grpcPort?: number;
  /** Address it listens on. */
  host: string;
  /** Network namespace it runs in (see LocalClusterOptions.isolate). */
  netns?: string;
}

interface ClusterState {
  dir: string;
  ingressUrl: string;
  grpcIngressAddress?: string;
  adminUrl: string;
  metadataAddress: string;
  processes: ClusterProcess[];
  /** Network namespaces made for isolated processes (removed by `down`). */
  netns?: string[];
}

const NODE_FLAGS = ['--disable-warning=ExperimentalWarning', '--max-old-space-size=512'];
const LOOPBACK = '127.0.0.1';

/** A network namespace of one isolated process and the veth pair joining it to this namespace. */
interface Isolation {
  netns: string;
  /** Interface names: this side, the namespace side. */
  outer: string;
  inner: string;
  /** Addresses: this side, the namespace side. */
  outerAddress: string;
  innerAddress: string;
}

function run(cmd: string, args: string[], input?: string): void {
  execFileSync(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], input });
}

function main(role: ClusterRole): string {
  return `${REPO}apps/${role}/src/main.ts`;
}

/** One process to start: its name, role, ports (absent: none) and extra arguments. */
interface ProcessSpec {
  name: string;
  role: ClusterRole;
  nodePort?: number;
  httpPort?: number;
  grpcPort?: number;
  args: string[];
}

/**
 * A Stead cluster of real processes on loopback: metadata-store members, log servers, sequencers, workers,
 * admin and ingress, each with its data dir and log file under `dir`. Started in dependency order; `up` returns
 * once every process reports ready and the ingress knows a leader for every partition.
 */
export class LocalCluster {
  readonly dir: string;
  readonly processes: ClusterProcess[] = [];
  private readonly children = new Map<string, ChildProcess>();
  private readonly opts: LocalClusterOptions;
  metadataAddress = '';
  ingressUrl = '';
  /** host:port of the first ingress's gRPC ingress. */
  grpcIngressAddress = '';
  adminUrl = '';
  /** Where the processes of this namespace listen: 127.0.0.1, or the veth address when some are isolated. */
  host = LOOPBACK;
  private readonly isolations = new Map<string, Isolation>();
  /** Environments of processes that run with another than the cluster's (see `restart`). */
  private readonly envs = new Map<string, NodeJS.ProcessEnv>();

  private constructor(opts: LocalClusterOptions) {
    this.opts = opts;
    this.dir = resolve(opts.dir);
    for (const [name, env] of Object.entries(opts.envs ?? {})) this.envs.set(name, env);
  }

  static async up(opts: LocalClusterOptions): Promise<LocalCluster> {
    const c = new LocalCluster(opts);
    mkdirSync(join(c.dir, 'logs'), { recursive: true });
    try {
      await c.startAll();
    } catch (e) {
      await c.killAll();
      throw e;
    }
    return c;
  }

  private progress(line: string): void {
    this.opts.progress?.(line);
  }

  /**
   * Creates the namespaces and veth pairs of the isolated processes (10.N.k.0/30 for the k-th). N comes from this
   * process's pid, as the names do: two test runs on one machine (two sessions) must not route each other's
   * packets to their own veths.
   */
  private isolateProcesses(): void {
    const names = this.opts.isolate ?? [];
    const tag = (process.pid % 100_000).toString(36);
    const net = 100 + (process.pid % 150);
    names.forEach((name, i) => {
      const k = i + 1;
      const iso: Isolation = {
        netns: `stead-${tag}-${name}`,
        outer: `sv${tag}a${k}`,
        inner: `sv${tag}b${k}`,
        outerAddress: `10.${net}.${k}.1`,
        innerAddress: `10.${net}.${k}.2`,
      };
      // Recorded first: down() removes what exists of it even when a step below fails.
      this.isolations.set(name, iso);
      run('ip', ['netns', 'add', iso.netns]);
      run('ip', ['link', 'add', iso.outer, 'type', 'veth', 'peer', 'name', iso.inner]);
      run('ip', ['link', 'set', iso.inner, 'netns', iso.netns]);
      run('ip', ['addr', 'add', `${iso.outerAddress}/30`, 'dev', iso.outer]);
      run('ip', ['link', 'set', iso.outer, 'up']);
      const inNs = (...args: string[]) => run('ip', ['netns', 'exec', iso.netns, ...args]);
      inNs('ip', 'addr', 'add', `${iso.innerAddress}/30`, 'dev', iso.inner);
      inNs('ip', 'link', 'set', iso.inner, 'up');
      inNs('ip', 'link', 'set', 'lo', 'up');
      inNs('ip', 'route', 'add', 'default', 'via', iso.outerAddress);
    });
    if (names.length > 0) this.host = `10.${net}.1.1`;
  }

  /** Cuts an isolated process off the network: every packet through its veth is dropped (nftables). */
  cut(name: string): void {
    const iso = this.isolation(name);
    run(
      'ip',
      ['netns', 'exec', iso.netns, 'nft', '-f', '-'],
      `table inet stead_cut {
  chain input { type filter hook input priority 0; policy accept; iifname "${iso.inner}" drop; }
  chain output { type filter hook output priority 0; policy accept; oifname "${iso.inner}" drop; }
}
`,
    );
  }

  /** Undoes `cut`. */
  heal(name: string): void {
    const iso = this.isolation(name);
    run('ip', ['netns', 'exec', iso.netns, 'nft', 'delete', 'table', 'inet', 'stead_cut']);
  }

  private isolation(name: string): Isolation {
    const iso = this.isolations.get(name);
    if (!iso) throw new Error(`${name} is not isolated in a network namespace (LocalClusterOptions.isolate)`);
    return iso;
  }

  private removeIsolations(): void {
    removeNamespaces([...this.isolations.values()].map((i) => i.netns));
    for (const iso of this.isolations.values()) {
      try {
        run('ip', ['link', 'del', iso.outer]);
      } catch {
        // gone with its namespace
      }
    }
    this.isolations.clear();
  }

  private async startAll(): Promise<void> {
    this.isolateProcesses();
    const o = this.opts;
    const HOST = this.host;
    const counts = {
      metadata: o.metadata ?? 3,
      logServers: o.logServers ?? 3,
      sequencers: o.sequencers ?? 2,
      workers: o.workers ?? 3,
      ingresses: o.ingresses ?? 1,
      admins: o.admins ?? 1,
    };
    const metadataPorts = await Promise.all(Array.from({ length: counts.metadata }, () => freePort()));
    const peers = metadataPorts.map((p, i) => `m${i + 1}=${HOST}:${p}`).join(',');
    this.metadataAddress = metadataPorts.map((p) => `${HOST}:${p}`).join(',');
    const md = this.metadataFlag();
    await this.startGroup(
      metadataPorts.map((port, i) => ({
        name: `m${i + 1}`,
        role: 'metadata-store' as const,
        nodePort: port,
        args: [`--peers=${peers}`, '--cluster-name=stead'],
      })),
    );
    await this.startGroup(
      Array.from({ length: counts.logServers }, (_, i) => ({
        name: this.memberName('log-server', i),
        role: 'log-server' as const,
        args: this.roleArgs('log-server'),
      })),
    );
    await this.startGroup(
      Array.from({ length: counts.sequencers }, (_, i) => ({
        name: `seq${i + 1}`,
        role: 'sequencer' as const,
        args: this.roleArgs('sequencer'),
      })),
    );
    const ingressPort = o.ingressPort ?? 8080;
    const adminPort = o.adminPort ?? 9070;
    const firstIngress = ingressPort === 0 ? await freePort() : ingressPort;
    const firstAdmin = adminPort === 0 ? await freePort() : adminPort;
    this.ingressUrl = `http://${HOST}:${firstIngress}`;
    const firstGrpc = ingressPort === 0 ? await freePort() : (o.grpcIngressPort ?? 8090);
    this.grpcIngressAddress = `${HOST}:${firstGrpc}`;
    this.adminUrl = `http://${HOST}:${firstAdmin}`;
    const cluster = [
      `--partitions=${o.partitions ?? 8}`,
      `--partition-replication=${o.partitionReplication ?? 2}`,
      `--log-replication=${o.logReplication ?? 2}`,
    ];
    await this.startGroup(
      await Promise.all(
        Array.from({ length: counts.admins }, async (_, i) => ({
          name: `admin${i + 1}`,
          role: 'admin' as const,
          httpPort: i === 0 ? firstAdmin : await freePort(),
          args: [md, ...cluster, `--ingress-endpoint=${this.ingressUrl}`],
        })),
      ),
    );
    await this.startGroup(
      Array.from({ length: counts.workers }, (_, i) => ({
        name: this.memberName('worker', i),
        role: 'worker' as const,
        args: this.roleArgs('worker'),
      })),
    );
    await this.startGroup(
      await Promise.all(
        Array.from({ length: counts.ingresses }, async (_, i) => ({
          name: `ingress${i + 1}`,
          role: 'ingress' as const,
          httpPort: i === 0 ? firstIngress : await freePort(),
          grpcPort: i === 0 ? firstGrpc : await freePort(),
          args: this.roleArgs('ingress'),
        })),
      ),
    );
    this.save();
  }

  /** The name of the `i`-th (from 0) log server or worker started with the cluster. */
  private memberName(role: 'log-server' | 'worker', i: number): string {
    const pod = this.opts.podNames?.[role];
    if (pod !== undefined) return `${pod}-${i}`;
    return `${role === 'worker' ? 'w' : 'ls'}${i + 1}`;
  }

  private metadataFlag(): string {
    return `--metadata-address=${this.metadataAddress}`;
  }

  /** The flags of a log server, sequencer, worker or ingress of this cluster (beyond the per-process ones). */
  private roleArgs(role: 'log-server' | 'sequencer' | 'worker' | 'ingress'): string[] {
    const md = this.metadataFlag();
    if (role === 'log-server') return [md, '--cluster-name=stead'];
    if (role === 'worker') return [md, `--log-replication=${this.opts.logReplication ?? 2}`];
    return [md];
  }

  /**
   * Starts one more log server, sequencer, worker or ingress (named `ls4`, `seq3`, `w4`… after the highest of its
   * role, unless `name` is given), waits until it is ready, and records it in `cluster.json`.
   */
  async add(
    role: 'log-server' | 'sequencer' | 'worker' | 'ingress',
    opts: { name?: string; args?: string[] } = {},
  ): Promise<ClusterProcess> {
    const prefix = { 'log-server': 'ls', sequencer: 'seq', worker: 'w', ingress: 'ingress' }[role];
    const taken = this.processes
      .filter((p) => p.role === role && p.name.startsWith(prefix))
      .map((p) => Number(p.name.slice(prefix.length)))
      .filter((n) => Number.isInteger(n));
    const name = opts.name ?? `${prefix}${Math.max(0, ...taken) + 1}`;
    if (this.processes.some((p) => p.name === name)) throw new Error(`the cluster already has a process ${name}`);
    await this.startGroup([
      {
        name,
        role,
        httpPort: role === 'ingress' ? await freePort() : undefined,
        grpcPort: role === 'ingress' ? await freePort() : undefined,
        args: [...this.roleArgs(role), ...(opts.args ?? [])],
      },
    ]);
    this.save();
    return this.process(name);
  }

  /** Starts processes of one stage together and waits until each is ready. */
  private async startGroup(specs: ProcessSpec[]): Promise<void> {
    const started: ClusterProcess[] = [];
    for (const s of specs) started.push(await this.spawn(s));
    const timeoutMs = this.opts.readyTimeoutMs ?? 60_000;
    for (const p of started) {
      await waitFor(() => this.ready(p), {
        timeoutMs,
        what: `${p.name} (${p.role}) ready\n${this.output(p.name)}`,
      });
      this.progress(`  ${p.name.padEnd(9)} ${p.role.padEnd(15)} pid ${p.pid}  ${this.where(p)}`);
    }
  }

  /** Whether `p` answers ready; throws (ending the wait) once it has exited. */
  private async ready(p: ClusterProcess): Promise<boolean> {
    if (!this.alive(p.name)) throw new GiveUp(`${p.name} (${p.role}) exited during start\n${this.output(p.name)}`);
    return httpOk(`http://${p.host}:${p.metricsPort}/ready`);
  }

  private where(p: ClusterProcess): string {
    const parts: string[] = [];
    if (p.httpPort !== undefined) parts.push(`http ${p.host}:${p.httpPort}`);
    if (p.nodePort !== undefined) parts.push(`grpc ${p.host}:${p.nodePort}`);
    parts.push(`metrics ${p.host}:${p.metricsPort}`, `log ${p.log}`);
    if (p.netns) parts.push(`netns ${p.netns}`);
    return parts.join('  ');
  }

  private async spawn(s: ProcessSpec): Promise<ClusterProcess> {
    const iso = this.isolations.get(s.name);
    const HOST = iso?.innerAddress ?? this.host;
    const metricsPort = await freePort();
    const nodePort = s.role === 'admin' || s.role === 'ingress' ? undefined : (s.nodePort ?? (await freePort()));
    const grpcPort = s.role === 'ingress' ? (s.grpcPort ?? (await freePort())) : undefined;
    const args = [
      `--node-id=${s.name}`,
      `--bind-address=${HOST}`,
      `--metrics-port=${metricsPort}`,
      ...(nodePort === undefined ? [] : [`--node-port=${nodePort}`, `--advertised-address=${HOST}:${nodePort}`]),
      ...(s.role === 'admin' ? [`--admin-port=${s.httpPort}`] : []),
      ...(s.role === 'ingress' ? [`--ingress-port=${s.httpPort}`, `--grpc-ingress-port=${grpcPort}`] : []),
      ...(s.role === 'admin' || s.role === 'ingress' || s.role === 'sequencer'
        ? []
        : [`--data-dir=${this.opts.dataDirs?.[s.name] ?? join(this.dir, 'data', s.name)}`]),
      ...(this.opts.locations?.[s.name] ? [`--location=${this.opts.locations[s.name]}`] : []),
      ...s.args,
      ...(this.opts.extraArgs?.[s.role] ?? []),
    ];
    const p: ClusterProcess = {
      name: s.name,
      role: s.role,
      pid: -1,
      args,
      log: join(this.dir, 'logs', `${s.name}.log`),
      metricsPort,
      nodePort,
      httpPort: s.httpPort,
      grpcPort,
      host: HOST,
      netns: iso?.netns,
    };
    this.launch(p);
    this.processes.push(p);
    return p;
  }

  /** Starts (or restarts) the process `p` describes, appending to its log file. */
  private launch(p: ClusterProcess): void {
    const fd = openSync(p.log, 'a');
    try {
      const command = [NODE, ...NODE_FLAGS, main(p.role), ...p.args];
      // `ip netns exec` runs the command in place of itself: the pid is the node process's.
      const [cmd, ...args] = p.netns ? ['ip', 'netns', 'exec', p.netns, ...command] : command;
      const child = spawn(cmd, args, {
        cwd: REPO,
        env: steadEnv(this.envs.get(p.name) ?? this.opts.env ?? process.env),
        stdio: ['ignore', fd, fd],
        detached: this.opts.detached === true,
      });
      if (child.pid === undefined) throw new Error(`cannot start ${p.name}`);
      p.pid = child.pid;
      if (this.opts.detached) child.unref();
      else this.children.set(p.name, child);
    } finally {
      closeSync(fd);
    }
  }

  process(name: string): ClusterProcess {
    const p = this.processes.find((x) => x.name === name);
    if (!p) throw new Error(`no process named ${name} in this cluster`);
    return p;
  }

  /** Whether the process still runs (signal 0 reaches it and, for a child, it has not exited). */
  alive(name: string): boolean {
    const p = this.process(name);
    const child = this.children.get(name);
    if (child) return child.exitCode === null && child.signalCode === null;
    return clusterProcessAlive(p);
  }

  /** How a child process of this cluster ended: its exit code, or undefined while it runs (or is not a child). */
  exitCode(name: string): number | null | undefined {
    const child = this.children.get(name);
    if (!child || (child.exitCode === null && child.signalCode === null)) return undefined;
    return child.exitCode;
  }

  /** Sends `signal` to a process of this cluster (by its pid). */
  signal(name: string, signal: NodeJS.Signals): void {
    const p = this.process(name);
    if (this.alive(name)) process.kill(p.pid, signal);
  }

  /** Kills a process with SIGKILL and waits until it is gone. */
  async kill(name: string): Promise<void> {
    this.signal(name, 'SIGKILL');
    await waitFor(() => !this.alive(name), { timeoutMs: 10_000, what: `${name} gone after SIGKILL` });
  }

  /** Stops a process with SIGTERM (SIGKILL after `graceMs`) and waits until it is gone. */
  async stop(name: string, graceMs = 10_000): Promise<void> {
    await stopProcesses([this.process(name)], graceMs, (n) => this.alive(n));
  }

  /**
   * Starts a stopped process again with the same flags and waits until it is ready. `env` replaces the
   * cluster's environment for this and later starts of it (e.g. LD_PRELOAD of libfaketime); `undefined` keeps it.
   * `flags` (`--name=value`) replace the process's flags of the same names, for this and later starts.
   */
  async restart(name: string, opts: { env?: NodeJS.ProcessEnv; flags?: string[] } = {}): Promise<void> {
    const p = this.process(name);
    if (this.alive(name)) throw new Error(`${name} still runs`);
    if (opts.env) this.envs.set(name, opts.env);
    for (const flag of opts.flags ?? []) {
      const prefix = `${flag.split('=')[0]}=`;
      p.args = [...p.args.filter((a) => !a.startsWith(prefix)), flag];
    }
    this.launch(p);
    this.save();
    await waitFor(() => this.ready(p), {
      timeoutMs: this.opts.readyTimeoutMs ?? 60_000,
      what: `${name} ready again\n${this.output(name)}`,
    });
  }

  /** The last lines of a process's log file. */
  output(name: string, lines = 60): string {
    const p = this.process(name);
    const text = existsSync(p.log) ? readFileSync(p.log, 'utf8') : '';
    return `--- last output of ${name} (pid ${p.pid}) ---\n${text.split('\n').slice(-lines).join('\n')}`;
  }

  private save(): void {
    const state: ClusterState = {
      dir: this.dir,
      ingressUrl: this.ingressUrl,
      grpcIngressAddress: this.grpcIngressAddress,
      adminUrl: this.adminUrl,
      metadataAddress: this.metadataAddress,
      processes: this.processes,
      netns: [...this.isolations.values()].map((i) => i.netns),
    };
    writeFileSync(join(this.dir, 'cluster.json'), `${JSON.stringify(state, null, 2)}\n`);
  }

  /** Stops every process (SIGTERM, then SIGKILL after `graceMs`), last started first. */
  async down(graceMs = 10_000): Promise<void> {
    try {
      await stopProcesses(this.processes, graceMs, (name) => this.alive(name));
    } finally {
      this.removeIsolations();
    }
  }

  /**
   * Kills every process at once (SIGKILL), waits until each is gone and removes the network namespaces: the
   * teardown of a test, whose data dir is deleted next. `down()` would wait out timeouts that prove nothing there:
   * workers stopping together wait half their shutdown timeout for a worker to take their leaderships, and an admin
   * whose metadata store stopped first waits for its metadata calls to give up (10 s per cluster in all). Graceful
   * stops are tested where their outcome is asserted (e2e/test/elastic.test.ts, the topology's `restart`).
   */
  async killAll(): Promise<void> {
    try {
      await Promise.all(this.processes.filter((p) => this.alive(p.name)).map((p) => this.kill(p.name)));
    } finally {
      this.removeIsolations();
    }
  }

  /** The state file of a cluster started (detached) in `dir`, or undefined when there is none. */
  static state(dir: string): ClusterState | undefined {
    const file = join(resolve(dir), 'cluster.json');
    if (!existsSync(file)) return undefined;
    return JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
  }
}

/**
 * Whether `p` still runs as the process this cluster started: its pid is alive and its command line is that
 * process's (a pid reused by another program after a reboot is never signalled).
 */
export function clusterProcessAlive(p: ClusterProcess): boolean {
  try {
    const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(main(p.role)) && cmdline.includes(`--node-id=${p.name}`);
  } catch {
    return false;
  }
}

/** Removes network namespaces made for isolated processes (each takes its veth pair with it). */
export function removeNamespaces(names: readonly string[]): void {
  for (const netns of names) {
    try {
      run('ip', ['netns', 'del', netns]);
    } catch {
      // not created, or gone already
    }
  }
}

/** Stops processes in reverse start order: SIGTERM, wait up to `graceMs`, then SIGKILL. */
export async function stopProcesses(
  processes: readonly ClusterProcess[],
  graceMs: number,
  alive: (name: string) => boolean = (name) => {
    const p = processes.find((x) => x.name === name);
    return p !== undefined && clusterProcessAlive(p);
  },
  progress?: (line: string) => void,
): Promise<void> {
  // All at once: a node that drains on SIGTERM waits for others to take over what it holds, which they cannot
  // while they stop one after the other; together, every process is gone within the grace period.
  const signalled = [...processes].reverse().filter((p) => {
    if (!alive(p.name)) return false;
    try {
      process.kill(p.pid, 'SIGTERM');
      return true;
    } catch {
      return false;
    }
  });
  await Promise.all(
    signalled.map(async (p) => {
      const stopped = await waitFor(() => !alive(p.name), { timeoutMs: graceMs, what: `${p.name} stopped` }).then(
        () => true,
        () => false,
      );
      if (!stopped) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        await waitFor(() => !alive(p.name), { timeoutMs: 5_000, what: `${p.name} gone after SIGKILL` });
      }
      progress?.(`  stopped ${p.name} (pid ${p.pid})${stopped ? '' : ' with SIGKILL'}`);
    }),
  );
}
