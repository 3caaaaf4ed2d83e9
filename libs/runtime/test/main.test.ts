import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from '@jest/globals';
import { EXIT_BAD_SETTINGS, EXIT_STARTUP } from '../src/errors.ts';

// The `main` of a node process, run for real in a child process (test/fixtures/node.ts).
const FIXTURE = new URL('./fixtures/node.ts', import.meta.url).pathname;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', FIXTURE, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('runNode', () => {
  it('exits 2 with every problem on bad settings', async () => {
    const r = run(['--nope', '1'], { STEAD_SHUTDOWN_TIMEOUT: 'soon' });
    expect(await r.exit).toBe(EXIT_BAD_SETTINGS);
    expect(r.stderr()).toContain('fixture: invalid configuration:');
    expect(r.stderr()).toContain('unknown flag --nope');
    expect(r.stderr()).toContain(
      "environment STEAD_SHUTDOWN_TIMEOUT: expected a duration like 500ms, 10s, 5m, got 'soon'",
    );
  });

  it('exits 1 when an mTLS mode lacks its files, naming the settings to set', async () => {
    const r = run(['--grpc-tls-mode', 'require', '--grpc-tls-ca-file', '/nonexistent/ca.crt']);
    expect(await r.exit).toBe(EXIT_STARTUP);
    expect(r.stderr()).toBe(
      'fixture: refusing to start: --grpc-tls-mode require needs --grpc-tls-cert-file / STEAD_GRPC_TLS_CERT_FILE, --grpc-tls-key-file / STEAD_GRPC_TLS_KEY_FILE (PEM files) to be set\n',
    );
    const bad = run(['--grpc-tls-mode', 'maybe']);
    expect(await bad.exit).toBe(EXIT_BAD_SETTINGS);
    expect(bad.stderr()).toContain('expected off, allow or require');
  });

  it('exits 1 on a StartupError, saying why on stderr and in a JSON log line', async () => {
    const r = run(['--mode', 'refuse']);
    expect(await r.exit).toBe(EXIT_STARTUP);
    expect(r.stderr()).toBe('fixture: refusing to start: the data dir belongs to another cluster\n');
    expect(JSON.parse(r.stdout())).toMatchObject({
      level: 'error',
      component: 'fixture',
      msg: 'refusing to start',
      error: 'the data dir belongs to another cluster',
    });
  });

  it('prints the help and exits 0', async () => {
    const r = run(['--help']);
    expect(await r.exit).toBe(0);
    expect(r.stdout()).toContain('stead fixture: a node for the runtime tests');
    expect(r.stdout()).toContain('--shutdown-timeout <duration>   STEAD_SHUTDOWN_TIMEOUT   (default: 10s)');
  });

  it('stops gracefully on SIGTERM with exit 0', async () => {
    const r = run([]);
    await until('serving', () => r.stdout().includes('"msg":"serving"'));
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
    expect(r.stdout()).toContain('"msg":"stopped"');
  });

  it('exits 1 after the shutdown deadline when a close step never ends', async () => {
    const r = run(['--mode', 'hang', '--shutdown-timeout', '300ms']);
    await until('serving', () => r.stdout().includes('"msg":"serving"'));
    const signalled = Date.now();
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(EXIT_STARTUP);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(290);
    expect(r.stdout()).toContain('"msg":"shutdown timed out; exiting"');
  });

  it('stops once started when SIGTERM comes while starting', async () => {
    const r = run(['--mode', 'slow']);
    await until('starting', () => r.stdout().includes('"msg":"starting"'));
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
    const msgs = r
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).msg);
    expect(msgs).toEqual(['starting', 'serving', 'shutting down', 'stopped']);
  });
});
