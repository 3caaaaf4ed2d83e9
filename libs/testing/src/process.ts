import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Node 24 of this repository (the machine's own node may be older). */
export const NODE = new URL('../../../node_modules/.bin/node', import.meta.url).pathname;
export const REPO = new URL('../../../', import.meta.url).pathname;

/**
 * Ports below Linux's ephemeral range (32768-60999): the kernel never picks them as the local port of an
 * outgoing connection, so a port handed out here stays free until the process it is meant for binds it (a port
 * from `listen(0)` could be taken meanwhile by one of the many gRPC connections of a cluster: EADDRINUSE).
 */
const PORT_RANGE = { from: 20_000, to: 32_000 };
/** Ports handed out by this process: never twice. */
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A free TCP port on 127.0.0.1 (bound, released), one this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${PORT_RANGE.from}-${PORT_RANGE.to} after 200 attempts`);
}

/** Thrown by a condition of `waitFor` to end the wait at once (e.g. the process it waits for has exited). */
export class GiveUp extends Error {}

/**
 * Polls `cond` until it returns a truthy value or the deadline passes (then throws with `what`); an error `cond`
 * throws is retried, except a `GiveUp`.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/**
 * The environment a Stead process of a test runs with: `env` without the variables that steer the tests
 * (`STEAD_E2E_*`), which a Stead process would refuse as unknown settings.
 */
export function steadEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('STEAD_E2E_')));
}

export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** A child process whose output is kept (last 200 lines) for failure reports. */
export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
    this.name = name;
    this.child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (line === '') continue;
        this.lines.push(line);
        if (this.lines.length > 200) this.lines.shift();
      }
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  /** Stops the process (SIGTERM, then SIGKILL after `graceMs`) and waits for it to exit. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  output(): string {
    return `--- last output of ${this.name} (pid ${this.pid}) ---\n${this.lines.join('\n')}`;
  }
}

/** Things to undo at the end of a test file, last first. */
export class Cleanup {
  private readonly fns: (() => unknown)[] = [];
  add(fn: () => unknown): void {
    this.fns.push(fn);
  }
  tempDir(prefix = 'stead-test-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.add(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }
  async run(): Promise<void> {
    while (this.fns.length > 0) {
      try {
        await this.fns.pop()!();
      } catch {
        // keep cleaning
      }
    }
  }
}
