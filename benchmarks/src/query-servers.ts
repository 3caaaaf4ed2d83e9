// SQL introspection (`POST /query` on the admin API) over a table of 100,000 invocations, Stead beside the real
// restate-server in one run (issue 16): each server gets the same SDK service and the same invocations (delayed
// one-way sends, so that every one of them stays in `sys_invocation` as `scheduled` while the queries run, plus a
// share that runs at once and completes), then answers each query `--runs` times. Prints p50/max per query and
// server, and Stead / Restate ratios; writes results/query-<timestamp>.json.
//
//   npm run bench:query-servers -w benchmarks                       # 100,000 invocations, 10 runs per query
//   npm run bench:query-servers -w benchmarks -- --invocations 20000 --runs 5 --only stead
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cleanup, ServiceProcess, waitFor } from '@stead/testing';
import { percentile, post } from './load.ts';
import { machineInfo, register, type ServerName, startRestate, startStead, type Target } from './targets.ts';

const SERVICE = new URL('./service.ts', import.meta.url).pathname;
const RESULTS = new URL('../results/', import.meta.url).pathname;

const QUERIES = {
  'group by status': 'SELECT status, COUNT(*) AS n FROM sys_invocation GROUP BY status ORDER BY status',
  'count not completed (the CLI)':
    "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE status != 'completed'",
  'newest 100 (the UI list)':
    'SELECT id, target, status, created_at FROM sys_invocation ORDER BY created_at DESC LIMIT 100',
};

const { values: args } = parseArgs({
  options: {
    invocations: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '10' },
    only: { type: 'string' },
    concurrency: { type: 'string', default: '64' },
  },
});
const invocations = Number(args.invocations);
const runs = Number(args.runs);
const concurrency = Number(args.concurrency);
if (!(invocations > 0 && runs > 0 && concurrency > 0)) {
  process.stderr.write('--invocations, --runs and --concurrency must be positive numbers\n');
  process.exit(2);
}

type Row = Record<string, unknown>;

async function query(t: Target, sql: string): Promise<Row[]> {
  const res = await fetch(`${t.admin}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query: sql }),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${t.name} /query answered ${res.status}: ${text.slice(0, 500)}`);
  return (JSON.parse(text) as { rows: Row[] }).rows;
}

/** Sends `n` invocations: nine in ten delayed by an hour (they stay scheduled), the rest run at once. */
async function load(t: Target, n: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const started = performance.now();
  let next = 0;
  let sent = 0;
  const progress = setInterval(() => process.stdout.write(`  ${t.name}: ${sent}/${n} sent\n`), 5000);
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          const i = next++;
          const delayed = i % 10 !== 0;
          const url = new URL(`${t.ingress}/Bench/steps/send${delayed ? '?delay=1h' : ''}`);
          let res = await post(agent, url, '1', 30_000);
          // Overloaded (a partition's backlog at its limit): wait as asked and send again, as a client should.
          for (let tries = 0; (res.status === 503 || res.status === 429) && tries < 30; tries++) {
            await new Promise((resolve) => setTimeout(resolve, 1000));
            res = await post(agent, url, '1', 30_000);
          }
          if (res.status !== 200 && res.status !== 202) {
            throw new Error(`${t.name}: send ${i} answered ${res.status} ${res.body.slice(0, 300)}`);
          }
          sent++;
        }
      }),
    );
  } finally {
    clearInterval(progress);
    agent.destroy();
  }
  return (performance.now() - started) / 1000;
}

async function total(t: Target): Promise<number> {
  const rows = await query(t, 'SELECT COUNT(*) AS n FROM sys_invocation');
  return Number(rows[0]?.n ?? 0);
}

interface ServerResult {
  server: ServerName;
  version: string;
  loadSeconds: number;
  rows: number;
  statusCounts: Row[];
  queries: Record<string, { p50Ms: number; maxMs: number; samplesMs: number[] }>;
}

async function measure(t: Target, cleanup: Cleanup): Promise<ServerResult> {
  const service = await ServiceProcess.start(cleanup, SERVICE);
  await register(t, service.uri);
  process.stdout.write(`${t.name}: sending ${invocations} invocations\n`);
  const loadSeconds = await load(t, invocations);
  // A send is acknowledged once durable; the partition applies it shortly after.
  await waitFor(async () => (await total(t)) >= invocations, {
    timeoutMs: 300_000,
    intervalMs: 1000,
    what: `${invocations} invocations in ${t.name}'s sys_invocation`,
  });
  const rows = await total(t);
  const statusCounts = await query(t, QUERIES['group by status']);
  const queries: ServerResult['queries'] = {};
  for (const [name, sql] of Object.entries(QUERIES)) {
    await query(t, sql); // warm-up
    const samplesMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await query(t, sql);
      samplesMs.push(performance.now() - t0);
    }
    const sorted = [...samplesMs].sort((a, b) => a - b);
    queries[name] = { p50Ms: percentile(sorted, 50), maxMs: sorted[sorted.length - 1]!, samplesMs };
  }
  return { server: t.name, version: t.version, loadSeconds, rows, statusCounts, queries };
}

const results: ServerResult[] = [];
const servers: ServerName[] = args.only ? [args.only as ServerName] : ['stead', 'restate'];
let failed = false;
for (const name of servers) {
  const cleanup = new Cleanup();
  const stop = () => void cleanup.run().then(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    const t = name === 'stead' ? await startStead(cleanup) : await startRestate(cleanup);
    results.push(await measure(t, cleanup));
  } catch (err) {
    failed = true;
    process.stderr.write(`${name} failed: ${(err as Error).stack ?? err}\n`);
  } finally {
    process.off('SIGINT', stop);
    await cleanup.run();
  }
}

const fmt = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(1));
const by = (s: ServerName) => results.find((r) => r.server === s);
const s = by('stead');
const r = by('restate');
process.stdout.write(`\n${invocations} invocations, ${runs} runs per query\n\n`);
process.stdout.write('| query | S p50 ms | S max ms | R p50 ms | R max ms | p50 S/R |\n|:--|--:|--:|--:|--:|--:|\n');
for (const q of Object.keys(QUERIES)) {
  const a = s?.queries[q];
  const b = r?.queries[q];
  const ratio = a && b ? (a.p50Ms / b.p50Ms).toFixed(2) : '-';
  process.stdout.write(
    `| ${q} | ${fmt(a?.p50Ms)} | ${fmt(a?.maxMs)} | ${fmt(b?.p50Ms)} | ${fmt(b?.maxMs)} | ${ratio} |\n`,
  );
}
for (const x of results) {
  process.stdout.write(
    `${x.server}: ${x.rows} rows, loaded in ${x.loadSeconds.toFixed(1)} s; by status ${JSON.stringify(x.statusCounts)}\n`,
  );
}
mkdirSync(RESULTS, { recursive: true });
const file = join(RESULTS, `query-${new Date().toISOString().replaceAll(':', '-').replaceAll('.', '-')}.json`);
writeFileSync(file, `${JSON.stringify({ invocations, runs, machine: machineInfo(), results }, null, 2)}\n`);
process.stdout.write(`results: ${file}\n`);
process.exit(failed ? 1 : 0);
