// Sustained load: the 3-step handler at concurrency 32 for many minutes against Stead, then against
// restate-server (each with a fresh SDK service process), printing every interval the throughput, p50/p99 of
// that interval, the server's RSS, (Stead) its JS heap, and the server's CPU time per request (which other
// load on the machine barely moves). Ends with the verdict on the sustained-load targets: last-minute
// throughput >= 0.9 x first minute and >= Restate's, RSS growth after the first minute < 10 % and RSS
// < 300 MiB. Writes the samples to benchmarks/results/soak-<timestamp>.json.
//
//   npm run bench:soak                          10 minutes per server, a sample every 30 s
//   npm run bench:soak -- --minutes 60 --every 5m
//   npm run bench:soak -- --minutes 2 --every 20s --only stead --concurrency 16 --steps 3
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseDurationMs } from '@stead/runtime';
import { Cleanup, REPO, ServiceProcess, waitFor } from '@stead/testing';
import { percentile, post } from './load.ts';
import { cpuSeconds, memory, register, type ServerName, startRestate, startStead, type Target } from './targets.ts';

const SERVICE = new URL('./service.ts', import.meta.url).pathname;
const USAGE =
  'usage: npm run bench:soak -- [--minutes 10] [--every 30s] [--concurrency 32] [--steps 3] [--only stead|restate]';

interface Options {
  durationMs: number;
  everyMs: number;
  concurrency: number;
  steps: number;
  servers: ServerName[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    durationMs: 10 * 60_000,
    everyMs: 30_000,
    concurrency: 32,
    steps: 3,
    servers: ['stead', 'restate'],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    const positive = (v: string, what: string) => {
      const n = Number(v);
      if (!(n > 0)) throw new Error(`${what}: expected a positive number, got ${v}`);
      return n;
    };
    if (a === '--minutes') o.durationMs = positive(value(), a) * 60_000;
    else if (a === '--every') {
      const v = value();
      const ms = parseDurationMs(v);
      if (ms === undefined || ms <= 0) throw new Error(`--every: expected a duration like 30s or 5m, got ${v}`);
      o.everyMs = ms;
    } else if (a === '--concurrency') o.concurrency = Math.round(positive(value(), a));
    else if (a === '--steps') o.steps = Math.round(positive(value(), a));
    else if (a === '--only') {
      const v = value();
      if (v !== 'stead' && v !== 'restate') throw new Error(`--only: stead or restate, got ${v}`);
      o.servers = [v];
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (o.everyMs > o.durationMs) throw new Error('--every is longer than the whole run');
  return o;
}

interface Sample {
  /** Seconds since the load started, at the end of the interval. */
  atS: number;
  requests: number;
  errors: number;
  throughput: number;
  p50: number;
  p99: number;
  rssMiB: number;
  heapMiB: number;
  /** (Stead) MiB written by LevelDB compactions of the partition store in the interval, per second. */
  compactionMiBps: number;
  /** Server CPU time (user + system, all threads) per completed request in the interval. */
  cpuMsPerRequest: number;
}

/** (Stead) JS heap used and bytes written by compactions of the partition store, from its /metrics. */
async function serverMetrics(t: Target): Promise<{ heapMiB: number; compactionWrittenMiB: number }> {
  const none = { heapMiB: Number.NaN, compactionWrittenMiB: Number.NaN };
  if (!t.metrics) return none;
  try {
    const text = await (await fetch(t.metrics, { signal: AbortSignal.timeout(5_000) })).text();
    const heap = /^stead_nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)$/m.exec(text);
    const compaction = /^stead_leveldb_compaction_written_bytes\{[^}]*store="partitions"[^}]*\} (\S+)$/m.exec(text);
    return {
      heapMiB: heap ? Number(heap[1]) / 2 ** 20 : Number.NaN,
      compactionWrittenMiB: compaction ? Number(compaction[1]) / 2 ** 20 : Number.NaN,
    };
  } catch {
    return none;
  }
}

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

/** Closed-loop load for `o.durationMs`; every `o.everyMs` the interval's figures are sampled and printed. */
async function soak(t: Target, o: Options): Promise<Sample[]> {
  const url = new URL('/Bench/steps', t.ingress);
  const body = JSON.stringify(o.steps);
  const expect = JSON.stringify((o.steps * (o.steps - 1)) / 2);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  await waitFor(async () => (await post(agent, url, body, 10_000)).status === 200, {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: `${t.name} to answer Bench/steps`,
  });
  let window: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const samples: Sample[] = [];
  const start = performance.now();
  const end = start + o.durationMs;
  let windowStart = start;
  let cpuAtWindowStart = cpuSeconds(t.pid);
  let compactionAtWindowStart = (await serverMetrics(t)).compactionWrittenMiB;
  const sampler = setInterval(() => {
    const now = performance.now();
    const lat = window.sort((a, b) => a - b);
    const seconds = (now - windowStart) / 1000;
    const cpu = cpuSeconds(t.pid);
    const sample: Sample = {
      atS: Math.round((now - start) / 1000),
      requests: lat.length,
      errors,
      throughput: lat.length / seconds,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      rssMiB: memory(t.pid).rssMiB,
      heapMiB: Number.NaN,
      compactionMiBps: Number.NaN,
      cpuMsPerRequest: ((cpu - cpuAtWindowStart) * 1000) / lat.length,
    };
    cpuAtWindowStart = cpu;
    window = [];
    errors = 0;
    windowStart = now;
    samples.push(sample);
    void serverMetrics(t).then((m) => {
      sample.heapMiB = m.heapMiB;
      sample.compactionMiBps = (m.compactionWrittenMiB - compactionAtWindowStart) / seconds;
      compactionAtWindowStart = m.compactionWrittenMiB;
      const h = m.heapMiB;
      process.stdout.write(
        `  ${t.name} ${String(sample.atS).padStart(5)} s: ${f(sample.throughput, 0)} req/s, p50 ${f(sample.p50, 1)} ms, ` +
          `p99 ${f(sample.p99, 1)} ms, ${sample.errors} errors, RSS ${f(sample.rssMiB, 0)} MiB, heap ${f(h, 0)} MiB, ` +
          `CPU ${f(sample.cpuMsPerRequest, 2)} ms/req` +
          `${Number.isFinite(sample.compactionMiBps) ? `, compaction ${f(sample.compactionMiBps, 2)} MiB/s` : ''}` +
          `${firstError && sample.errors > 0 ? ` (first error: ${firstError})` : ''}\n`,
      );
    });
  }, o.everyMs);
  try {
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          try {
            const res = await post(agent, url, body, 30_000);
            if (res.status === 200 && res.body === expect) window.push(performance.now() - t0);
            else {
              errors++;
              firstError ??= `${res.status} ${res.body.slice(0, 200)}`;
            }
          } catch (err) {
            errors++;
            firstError ??= String(err);
          }
        }
      }),
    );
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }
  return samples;
}

/** Mean throughput and last RSS of the samples within the first / last minute of the run. */
function minute(samples: Sample[], which: 'first' | 'last', durationS: number) {
  const inside = samples.filter((s) => (which === 'first' ? s.atS <= 60 : s.atS >= durationS - 60));
  const picked = inside.length > 0 ? inside : [which === 'first' ? samples[0]! : samples.at(-1)!];
  const throughput = picked.reduce((a, s) => a + s.throughput, 0) / picked.length;
  return { throughput, rssMiB: picked.at(-1)!.rssMiB };
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const cleanup = new Cleanup();
  const onSignal = () => void cleanup.run().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stdout.write(
    `soak: ${o.servers.join(' then ')}; ${o.steps}-step handler, concurrency ${o.concurrency}, ` +
      `${o.durationMs / 60_000} min each, a sample every ${o.everyMs / 1000} s; ${cpus().length} cores, node ${process.version}\n`,
  );
  const results: Partial<Record<ServerName, { version: string; samples: Sample[] }>> = {};
  try {
    for (const name of o.servers) {
      const local = new Cleanup();
      cleanup.add(() => local.run());
      const t = await (name === 'stead' ? startStead(local) : startRestate(local));
      const service = await ServiceProcess.start(local, SERVICE);
      await register(t, service.uri);
      process.stdout.write(`${t.version}, pid ${t.pid}\n`);
      results[name] = { version: t.version, samples: await soak(t, o) };
      await local.run();
    }
  } finally {
    await cleanup.run();
  }
  const durationS = o.durationMs / 1000;
  const verdicts: string[] = [];
  const stead = results.stead?.samples;
  const restate = results.restate?.samples;
  if (stead && stead.length > 0) {
    const first = minute(stead, 'first', durationS);
    const last = minute(stead, 'last', durationS);
    const ratio = last.throughput / first.throughput;
    const growth = last.rssMiB / first.rssMiB - 1;
    verdicts.push(
      `Stead last/first minute throughput ${f(ratio, 2)} (target >= 0.90): ${ratio >= 0.9 ? 'met' : 'NOT met'}`,
      `Stead RSS ${f(first.rssMiB, 0)} -> ${f(last.rssMiB, 0)} MiB, growth ${f(growth * 100, 1)} % (target < 10 %, < 300 MiB): ${growth < 0.1 && last.rssMiB < 300 ? 'met' : 'NOT met'}`,
    );
    if (restate && restate.length > 0) {
      const r = minute(restate, 'last', durationS);
      const vs = last.throughput / r.throughput;
      verdicts.push(
        `Stead/Restate last-minute throughput ${f(vs, 2)} (${f(last.throughput, 0)} vs ${f(r.throughput, 0)} req/s; target >= 1.00): ${vs >= 1 ? 'met' : 'NOT met'}`,
      );
    }
  }
  process.stdout.write(`\n${verdicts.join('\n')}\n`);
  const dir = join(REPO, 'benchmarks/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ options: o, results, verdicts }, null, 2)}\n`);
  process.stdout.write(`samples written to ${file}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench:soak failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
