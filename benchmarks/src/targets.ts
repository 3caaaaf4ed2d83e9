// The two servers under test, started on free loopback ports in temp dirs, and what we sample of their processes.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { type Cleanup, freePort, httpOk, Proc, REPO, SteadServer, waitFor } from '@stead/testing';
import { agentFor, type ClientOptions, post } from './load.ts';

export type ServerName = 'stead' | 'restate';

export interface Target {
  name: ServerName;
  ingress: string;
  /** host:port of the gRPC ingress (Stead). */
  grpcIngress?: string;
  admin: string;
  pid: number;
  version: string;
  /** Prometheus endpoint of the process, where it has one we can read the JS heap from (Stead). */
  metrics?: string;
  /** Where the server keeps its data (Stead: its --data-dir; Restate: its node's dir in its base dir). */
  dataDir: string;
  /** Output of the server process (for failure reports). */
  output(): string;
}

/** 1, 5 and 15 minute load averages, two decimals. */
export function loadAverages(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

/** What a result file records about the machine. */
export function machineInfo() {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${process.platform} ${release()}`,
    node: process.version,
    loadavgAtStart: loadAverages(),
  };
}

export const RESTATE_BIN = join(REPO, 'node_modules/@restatedev/restate-server-linux-x64/bin/restate-server');

/** Resident set (VmRSS) and its peak (VmHWM) of a process, in MiB (NaN once it is gone). */
export function memory(pid: number): { rssMiB: number; peakMiB: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
    return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
  } catch {
    return { rssMiB: Number.NaN, peakMiB: Number.NaN };
  }
}

/** Resident set and its peak (MiB) summed over `pids` (one server, or every process of a cluster). */
export function memoryOf(pids: readonly number[]): { rssMiB: number; peakMiB: number } {
  const mem = pids.map(memory);
  return { rssMiB: sum(mem.map((m) => m.rssMiB)), peakMiB: sum(mem.map((m) => m.peakMiB)) };
}

/** CPU time (s) summed over `pids`. */
export function cpuSecondsOf(pids: readonly number[]): number {
  return sum(pids.map(cpuSeconds));
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** User + system CPU time (s) of a process, all threads (clock ticks of 1/100 s, the Linux default). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: state is field 3, utime 14, stime 15 (1-based, as in proc(5)).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** `stead <version> (<commit>)`, the commit marked `+dirty` when apps/ or libs/ have uncommitted changes. */
export function steadVersion(): string {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  return `stead ${pkg.version} (${steadCommit()})`;
}

function steadCommit(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'apps', 'libs'], {
      cwd: REPO,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${rev}+dirty` : rev;
  } catch {
    return 'unknown';
  }
}

/**
 * The one-process Stead server; `env` adds to its environment (e.g. STEAD_* settings given on the command line),
 * `args` to its flags (settings only it knows, e.g. `--trim-delay=10s`).
 */
export async function startStead(cleanup: Cleanup, env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<Target> {
  const s = await SteadServer.start(cleanup, args, {
    env: { STEAD_LOG_LEVEL: process.env.STEAD_LOG_LEVEL ?? 'warn', ...env },
  });
  const proc = s.proc!;
  return {
    name: 'stead',
    ingress: s.ingressUrl,
    grpcIngress: s.grpcIngressAddress,
    admin: s.adminUrl,
    pid: proc.pid,
    version: steadVersion(),
    metrics: `${s.metricsUrl}/metrics`,
    dataDir: s.dataDir,
    output: () => proc.output(),
  };
}

const RESTATE_NODE = 'bench';

/**
 * restate-server with all roles in one process, every listener on 127.0.0.1 (TCP only, no unix sockets): node
 * port (fabric, also /metrics), ingress and admin; web UI and telemetry off; its data in a temp dir.
 */
export async function startRestate(cleanup: Cleanup): Promise<Target> {
  if (!existsSync(RESTATE_BIN)) throw new Error(`restate-server binary not found at ${RESTATE_BIN} (run npm ci)`);
  const base = cleanup.tempDir('stead-bench-restate-');
  const [ingress, admin, node] = [await freePort(), await freePort(), await freePort()];
  const proc = new Proc('restate-server', RESTATE_BIN, ['--no-logo'], {
    cwd: base,
    env: {
      PATH: process.env.PATH,
      HOME: base,
      TMPDIR: base,
      RESTATE_BASE_DIR: base,
      RESTATE_NODE_NAME: RESTATE_NODE,
      RESTATE_CLUSTER_NAME: 'bench',
      RESTATE_LISTEN_MODE: 'tcp',
      RESTATE_BIND_IP: '127.0.0.1',
      RESTATE_BIND_PORT: String(node),
      RESTATE_ADVERTISED_HOST: '127.0.0.1',
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingress}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${admin}`,
      RESTATE_ADMIN__DISABLE_WEB_UI: 'true',
      RESTATE_DISABLE_TELEMETRY: 'true',
      RESTATE_LOG_FILTER: 'warn',
      RESTATE_LOG_DISABLE_ANSI_CODES: 'true',
    },
  });
  cleanup.add(() => proc.stop(10_000));
  const adminUrl = `http://127.0.0.1:${admin}`;
  try {
    await waitFor(async () => !proc.running || (await httpOk(`${adminUrl}/health`)), {
      timeoutMs: 60_000,
      what: 'restate-server /health',
    });
    if (!proc.running) throw new Error(`restate-server exited during start (code ${proc.child.exitCode})`);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${proc.output()}`);
  }
  const v = (await (await fetch(`${adminUrl}/version`)).json()) as { version?: string };
  return {
    name: 'restate',
    ingress: `http://127.0.0.1:${ingress}`,
    admin: adminUrl,
    pid: proc.pid,
    version: `restate-server ${v.version ?? '?'}`,
    // restate keeps a node's data under <base dir>/<node name>; the base dir also holds its temp files.
    dataDir: join(base, RESTATE_NODE),
    output: () => proc.output(),
  };
}

/** Registers an SDK endpoint (POST /deployments), retrying while the admin API is not yet ready for it. */
export async function register(
  t: Pick<Target, 'admin'> & { name: string },
  uri: string,
  client: ClientOptions = {},
): Promise<void> {
  const url = new URL('/deployments', t.admin);
  const agent = agentFor(url, 1, client);
  let last = '';
  try {
    await waitFor(
      async () => {
        const res = await post(agent, url, JSON.stringify({ uri, force: true }), 10_000, client.headers);
        last = `${res.status} ${res.body}`;
        return res.status === 200 || res.status === 201;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `registration of ${uri} at ${t.name}` },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message} (last answer: ${last})`);
  } finally {
    agent.destroy();
  }
}
