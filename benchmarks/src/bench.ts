// Stead vs restate-server: an SDK handler taking N journaled `ctx.run` steps (N = 1, 3, 9), called through the
// ingress by C closed-loop clients (C = 1, 32). Both servers run here, one after the other, on loopback, with
// the same SDK service process. Prints p50/p90/p99 latency, throughput, RSS and the Stead/Restate ratios, and
// writes them as JSON under benchmarks/results/.
//
//   npm run bench                      10 s per cell
//   npm run bench -- --quick           3 s per cell
//   npm run bench -- --duration 5s --only stead|restate
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Cleanup, freePort, httpOk, Proc, REPO, ServiceProcess, SteadServer, waitFor } from '@stead/testing';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const durationMs = args.includes('--quick') ? 3_000 : parseDuration(flag('--duration') ?? '10s');
const warmup = args.includes('--quick') ? 100 : 300;
const only = flag('--only');
const STEPS = [1, 3, 9];
const CONCURRENCY = [1, 32];

function parseDuration(s: string): number {
  const m = /^(\d+)(ms|s)?$/.exec(s);
  if (!m) throw new Error(`--duration: expected e.g. 10s or 500ms, got ${s}`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
}

const RESTATE_BIN = join(REPO, 'node_modules/@restatedev/restate-server-linux-x64/bin/restate-server');

interface Target {
  name: 'stead' | 'restate';
  ingress: string;
  admin: string;
  pid: number;
  version: string;
}

interface Cell {
  server: 'stead' | 'restate';
  steps: number;
  concurrency: number;
  requests: number;
  errors: number;
  throughput: number;
  p50: number;
  p90: number;
  p99: number;
  rssMiB: number;
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function post(agent: Agent, base: string, path: string, body: string): Promise<number> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function register(admin: string, uri: string): Promise<void> {
  await waitFor(
    async () => {
      const res = await fetch(`${admin}/deployments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uri, force: true }),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${res.status} ${text}`);
      return true;
    },
    { timeoutMs: 30_000, what: `registration of ${uri} at ${admin}` },
  );
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

async function runCell(t: Target, steps: number, concurrency: number): Promise<Cell> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const body = JSON.stringify(steps);
  // Warm-up (also waits until the service is callable: registration propagates asynchronously in Restate).
  await waitFor(async () => (await post(agent, t.ingress, '/Bench/steps', body)) === 200, {
    timeoutMs: 30_000,
    what: `${t.name} to answer Bench/steps`,
  });
  let left = warmup;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await post(agent, t.ingress, '/Bench/steps', body);
    }),
  );
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const status = await post(agent, t.ingress, '/Bench/steps', body);
          if (status === 200) latencies.push(performance.now() - t0);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    server: t.name,
    steps,
    concurrency,
    requests: latencies.length,
    errors,
    throughput: latencies.length / secs,
    p50: pct(latencies, 50),
    p90: pct(latencies, 90),
    p99: pct(latencies, 99),
    rssMiB: rssMiB(t.pid),
  };
}

async function startStead(cleanup: Cleanup): Promise<Target> {
  process.env.STEAD_LOG_LEVEL = 'warn';
  const s = await SteadServer.start(cleanup);
  const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
  return { name: 'stead', ingress: s.ingressUrl, admin: s.adminUrl, pid: s.proc!.pid, version: `stead ${version}` };
}

async function startRestate(cleanup: Cleanup): Promise<Target> {
  if (!existsSync(RESTATE_BIN))
    throw new Error(`restate-server binary not found at ${RESTATE_BIN} (npm ci installs it)`);
  const base = cleanup.tempDir('stead-bench-restate-');
  const [ingress, admin, node] = [await freePort(), await freePort(), await freePort()];
  const proc = new Proc('restate-server', RESTATE_BIN, ['--no-logo'], {
    cwd: base,
    env: {
      PATH: process.env.PATH,
      TMPDIR: base,
      RESTATE_BASE_DIR: base,
      RESTATE_LISTEN_MODE: 'tcp',
      RESTATE_BIND_IP: '127.0.0.1',
      RESTATE_BIND_PORT: String(node),
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingress}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${admin}`,
      RESTATE_DISABLE_TELEMETRY: 'true',
      RESTATE_LOG_FILTER: 'warn',
      RESTATE_ADMIN__DISABLE_WEB_UI: 'true',
    },
  });
  cleanup.add(() => proc.stop(10_000));
  await waitFor(async () => !proc.running || (await httpOk(`http://127.0.0.1:${admin}/health`)), {
    timeoutMs: 60_000,
    what: `restate-server to be healthy\n${proc.output()}`,
  });
  if (!proc.running) throw new Error(`restate-server exited during start\n${proc.output()}`);
  const v = (await (await fetch(`http://127.0.0.1:${admin}/version`)).json()) as { version?: string };
  return {
    name: 'restate',
    ingress: `http://127.0.0.1:${ingress}`,
    admin: `http://127.0.0.1:${admin}`,
    pid: proc.pid,
    version: `restate-server ${v.version ?? '?'}`,
  };
}

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('\ninterrupted: stopping servers\n');
    void cleanup.run().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const cells: Cell[] = [];
  const versions: string[] = [];
  try {
    const service = await ServiceProcess.start(cleanup, join(REPO, 'benchmarks/src/service.ts'));
    const targets: Array<['stead' | 'restate', (c: Cleanup) => Promise<Target>]> = [
      ['stead', startStead],
      ['restate', startRestate],
    ];
    for (const [name, start] of targets) {
      if (only && only !== name) continue;
      const local = new Cleanup();
      try {
        process.stdout.write(`starting ${name}…\n`);
        const t = await start(local);
        versions.push(t.version);
        await register(t.admin, service.uri);
        for (const steps of STEPS)
          for (const c of CONCURRENCY) {
            process.stdout.write(`  ${name}: ${steps} step(s), concurrency ${c}, ${durationMs / 1000} s … `);
            const cell = await runCell(t, steps, c);
            cells.push(cell);
            process.stdout.write(
              `${f(cell.throughput, 0)} req/s, p50 ${f(cell.p50, 2)} ms, p99 ${f(cell.p99, 2)} ms, ${cell.errors} errors\n`,
            );
          }
      } finally {
        await local.run();
      }
    }
  } finally {
    await cleanup.run();
  }

  const find = (s: 'stead' | 'restate', n: number, c: number) =>
    cells.find((x) => x.server === s && x.steps === n && x.concurrency === c);
  const lines = [
    '',
    `Stead vs restate-server: ${versions.join(' / ')}; ${cpus().length} cores, node ${process.version}; ${durationMs / 1000} s per cell`,
    '| steps | conc | Stead p50 | p90 | p99 | req/s | RSS MiB | Restate p50 | p90 | p99 | req/s | RSS MiB | p50 ratio | p99 ratio | throughput ratio |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const ratios: Array<{ steps: number; concurrency: number; p50: number; p99: number; throughput: number }> = [];
  for (const n of STEPS)
    for (const c of CONCURRENCY) {
      const s = find('stead', n, c);
      const r = find('restate', n, c);
      const ratio = {
        steps: n,
        concurrency: c,
        p50: s && r ? s.p50 / r.p50 : Number.NaN,
        p99: s && r ? s.p99 / r.p99 : Number.NaN,
        throughput: s && r ? s.throughput / r.throughput : Number.NaN,
      };
      ratios.push(ratio);
      lines.push(
        `| ${n} | ${c} | ${f(s?.p50 ?? Number.NaN, 2)} | ${f(s?.p90 ?? Number.NaN, 2)} | ${f(s?.p99 ?? Number.NaN, 2)} | ${f(s?.throughput ?? Number.NaN, 0)} | ${f(s?.rssMiB ?? Number.NaN, 0)} | ${f(r?.p50 ?? Number.NaN, 2)} | ${f(r?.p90 ?? Number.NaN, 2)} | ${f(r?.p99 ?? Number.NaN, 2)} | ${f(r?.throughput ?? Number.NaN, 0)} | ${f(r?.rssMiB ?? Number.NaN, 0)} | ${f(ratio.p50, 2)} | ${f(ratio.p99, 2)} | ${f(ratio.throughput, 2)} |`,
      );
    }
  lines.push(
    'latencies in ms; ratios are Stead / Restate (latency: lower is better for Stead; throughput: higher is better)',
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  const dir = join(REPO, 'benchmarks/results');
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify({ benchmark: 'steps', durationMs, versions, cores: cpus().length, node: process.version, cells, ratios }, null, 2)}\n`;
  const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, json);
  writeFileSync(join(dir, 'latest.json'), json);
  process.stdout.write(`results: ${file}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
