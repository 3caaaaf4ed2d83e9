import { join } from 'node:path';
import { type Cleanup, freePort, httpOk, NODE, Proc, REPO, steadEnv, waitFor } from './process.ts';

/**
 * V8 heap limits the server runs with (the same as the root package.json `start` script): a young generation
 * of 16 MiB semi-spaces and an old generation capped at 256 MiB keep the resident set of a loaded server
 * around 250–300 MiB instead of letting V8 grow its heap to several times the live data.
 */
export const SERVER_NODE_FLAGS = ['--max-old-space-size=256', '--max-semi-space-size=16'];

/** A child process the tests start, wait for, stop and kill; one place for both kinds below. */
export abstract class ManagedProcess {
  proc: Proc | undefined;

  /** Starts `proc` and waits until `ready()` holds; a process that exits first fails with its output. */
  protected async launch(
    proc: Proc,
    ready: () => Promise<boolean>,
    opts: { timeoutMs: number; what: string; exited: string },
  ): Promise<void> {
    this.proc = proc;
    try {
      await waitFor(async () => !proc.running || (await ready()), { timeoutMs: opts.timeoutMs, what: opts.what });
      if (!proc.running) throw new Error(opts.exited);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${proc.output()}`);
    }
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
  }

  /** kill -9 and wait for the process to be gone. */
  async kill9(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.proc?.exited;
  }
}

/** A running Stead server (all roles in one process) on free loopback ports. */
export class SteadServer extends ManagedProcess {
  readonly dataDir: string;
  readonly ports: { ingress: number; grpcIngress: number; admin: number; node: number; metrics: number };
  /** Flags added to the defaults on every (re)start; tests may change them between restarts. */
  extraArgs: string[];
  /** Environment added to the test's own on every (re)start (e.g. LD_PRELOAD, FAKETIME). */
  env: NodeJS.ProcessEnv;

  private constructor(dataDir: string, ports: SteadServer['ports'], extraArgs: string[], env: NodeJS.ProcessEnv) {
    super();
    this.dataDir = dataDir;
    this.ports = ports;
    this.extraArgs = extraArgs;
    this.env = env;
  }

  /** `opts.dataDir` places the data elsewhere (e.g. on a small tmpfs); `opts.env` adds to the environment. */
  static async start(
    cleanup: Cleanup,
    extraArgs: string[] = [],
    opts: { dataDir?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<SteadServer> {
    const ports = {
      ingress: await freePort(),
      grpcIngress: await freePort(),
      admin: await freePort(),
      node: await freePort(),
      metrics: await freePort(),
    };
    const dataDir = opts.dataDir ?? join(cleanup.tempDir('stead-data-'), 'data');
    const s = new SteadServer(dataDir, ports, extraArgs, opts.env ?? {});
    cleanup.add(() => s.stop());
    await s.start();
    return s;
  }

  get ingressUrl(): string {
    return `http://127.0.0.1:${this.ports.ingress}`;
  }

  /** host:port of the gRPC ingress. */
  get grpcIngressAddress(): string {
    return `127.0.0.1:${this.ports.grpcIngress}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.ports.admin}`;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.ports.metrics}`;
  }

  async start(): Promise<void> {
    const proc = new Proc(
      'stead-server',
      NODE,
      [
        ...SERVER_NODE_FLAGS,
        '--disable-warning=ExperimentalWarning',
        join(REPO, 'apps/server/src/main.ts'),
        '--data-dir',
        this.dataDir,
        '--bind-address',
        '127.0.0.1',
        '--ingress-port',
        String(this.ports.ingress),
        '--grpc-ingress-port',
        String(this.ports.grpcIngress),
        '--admin-port',
        String(this.ports.admin),
        '--node-port',
        String(this.ports.node),
        '--metrics-port',
        String(this.ports.metrics),
        ...this.extraArgs,
      ],
      { env: steadEnv({ ...process.env, STEAD_LOG_LEVEL: process.env.STEAD_LOG_LEVEL ?? 'info', ...this.env }) },
    );
    await this.launch(proc, () => httpOk(`${this.metricsUrl}/ready`), {
      timeoutMs: 20_000,
      what: 'stead-server to be ready',
      exited: 'stead-server exited during start',
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async register(uri: string): Promise<unknown> {
    const res = await fetch(`${this.adminUrl}/deployments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uri }),
    });
    const body = await res.json();
    if (res.status !== 201 && res.status !== 200) {
      throw new Error(`registration of ${uri} failed: ${res.status} ${JSON.stringify(body)}`);
    }
    return body;
  }
}

/** A Node process serving SDK services (a script taking `--port N`). */
export class ServiceProcess extends ManagedProcess {
  readonly script: string;
  readonly port: number;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(script: string, port: number, env: NodeJS.ProcessEnv) {
    super();
    this.script = script;
    this.port = port;
    this.env = env;
  }

  static async start(cleanup: Cleanup, script: string, env: NodeJS.ProcessEnv = {}): Promise<ServiceProcess> {
    const s = new ServiceProcess(script, await freePort(), env);
    cleanup.add(() => s.stop());
    await s.start();
    return s;
  }

  get uri(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = new Proc(
      'sdk-service',
      NODE,
      ['--disable-warning=ExperimentalWarning', this.script, '--port', String(this.port)],
      { env: { ...process.env, ...this.env } },
    );
    await this.launch(proc, () => portOpen(this.port), {
      timeoutMs: 15_000,
      what: 'the SDK service to listen',
      exited: 'the SDK service exited during start',
    });
  }
}

export async function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * A log server or worker started alone, pointed at a metadata store (e.g. a one-process server's node port), with
 * `args` added; resolves once it is ready (a worker: shortly after it started, as it registers only once a
 * partition table exists), stopped by `cleanup`.
 */
export async function startMemberProcess(
  cleanup: Cleanup,
  role: 'log-server' | 'worker',
  id: string,
  metadataAddress: string,
  args: string[] = [],
): Promise<Proc> {
  // A worker serves (and registers) once a partition table exists: before the server grows, it waits for one.
  const [nodePort, metricsPort] = [await freePort(), await freePort()];
  const proc = new Proc(
    id,
    NODE,
    [
      '--disable-warning=ExperimentalWarning',
      join(REPO, `apps/${role}/src/main.ts`),
      `--node-id=${id}`,
      '--bind-address=127.0.0.1',
      `--node-port=${nodePort}`,
      `--advertised-address=127.0.0.1:${nodePort}`,
      `--metrics-port=${metricsPort}`,
      `--metadata-address=${metadataAddress}`,
      `--data-dir=${join(cleanup.tempDir(`stead-${id}-`), 'data')}`,
      ...args,
    ],
    { env: steadEnv({ ...process.env, STEAD_LOG_LEVEL: process.env.STEAD_LOG_LEVEL ?? 'info' }) },
  );
  // Killed at the end of the test (its data dir is deleted next): a log server stopped with SIGTERM would first
  // wait for its records to be copied elsewhere, up to 10 s without progress once nothing runs the rebalancer.
  // A test that stops it on purpose calls `proc.stop()` and checks what that did.
  cleanup.add(async () => {
    proc.kill('SIGKILL');
    await proc.exited;
  });
  try {
    const started = Date.now();
    const ready = async () =>
      role === 'worker' ? Date.now() - started > 1_500 : httpOk(`http://127.0.0.1:${metricsPort}/ready`);
    await waitFor(async () => !proc.running || (await ready()), { timeoutMs: 20_000, what: `${id} to start` });
    if (!proc.running) throw new Error(`${id} exited during start`);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${proc.output()}`);
  }
  return proc;
}
