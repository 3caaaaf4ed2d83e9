// Sustained load: the 3-step handler at concurrency 32 for many minutes against Stead (its one-process server,
// then a local cluster), then against restate-server (one process), each with a fresh SDK service process,
// printing every interval the throughput, p50/p99 of that interval, the server's RSS (a cluster's summed over its
// processes), (one-process Stead) its JS heap, the server's CPU time per request (which other load on the machine
// barely moves), and the bytes its data dirs take on disk (one-process: per top-level entry of its data dir;
// cluster: per role) with the sum of the partition logs' trim points. Ends with the size table of each target,
// the verdict on the sustained-load targets (last-minute throughput >= 0.9 x first minute and >= Restate's, RSS
// growth after the first minute < 10 % and RSS < 300 MiB) and whether Stead's data on disk reached a plateau.
// Stead takes partition snapshots (--snapshots: by default into a bucket of a local S3-compatible server, whose
// directory is sampled as the column `bucket` and must plateau too) and trims its logs behind them; every sample
// also counts the snapshots created and (cluster) the records kept in the partition logs.
// Writes the samples to benchmarks/results/soak-<timestamp>.json (and results/soak-latest.json).
//
//   npm run bench:soak                          10 minutes per target, a sample every 30 s
//   npm run bench:soak -- --minutes 60 --every 5m
//   npm run bench:soak -- --minutes 2 --every 20s --only stead --topology both --concurrency 16 --steps 3
//   npm run bench:soak -- --only stead --snapshots directory --snapshot-records 50000 --trim-delay 0s
import { Agent } from 'node:http';
import { parseDurationMs } from '@stead/runtime';
import { Cleanup, S3Server, ServiceProcess } from '@stead/testing';
import { f, stepsCall, table, waitAnswering, writeResult } from './cells.ts';
import { type Running, runningCluster, runningServer, startSteadCluster } from './cluster-targets.ts';
import { diskUsage, PLATEAU_FLOOR_BYTES, PLATEAU_SHARE, type Plateau, plateau } from './disk.ts';
import { percentile, post } from './load.ts';
import {
  cpuSecondsOf,
  loadAverages,
  machineInfo,
  memoryOf,
  register,
  type ServerName,
  startRestate,
  startStead,
} from './targets.ts';

const SERVICE = new URL('./service.ts', import.meta.url).pathname;
const USAGE = `usage: npm run bench:soak -- [--minutes 10] [--every 30s] [--concurrency 32] [--steps 3]
         [--only stead|restate] [--topology one-process|cluster|both] [--stead-env KEY=VALUE ...]
         [--snapshots none|directory|bucket] [--snapshot-records 20000] [--snapshot-interval 1m] [--trim-delay 10s] [--journal-retention 1d]`;

type Topology = 'one-process' | 'cluster';
/**
 * Where Stead puts its partition snapshots. `bucket`: a local S3-compatible server (s3rver) for the one-process
 * server and the cluster's workers; `directory`: the one-process server's default (`<data-dir>/snapshots`; a
 * cluster then takes none); `none`: no snapshots at all (the one-process server with --snapshot-records 0 and
 * --snapshot-interval 0s; a cluster takes none without a bucket anyway).
 */
type Snapshots = 'none' | 'directory' | 'bucket';
const SNAPSHOTS: readonly Snapshots[] = ['none', 'directory', 'bucket'];
/** What one soak runs against: Stead's one-process server, a local Stead cluster, restate-server. */
type SoakName = 'stead' | 'stead-cluster' | 'restate';
const LABEL: Record<SoakName, string> = {
  stead: 'Stead one-process',
  'stead-cluster': 'Stead cluster',
  restate: 'Restate',
};

interface Options {
  durationMs: number;
  everyMs: number;
  concurrency: number;
  steps: number;
  servers: ServerName[];
  /** Stead's topologies (restate-server runs as one process). */
  topologies: Topology[];
  /** Added to the environment of the Stead server and of every process of the Stead cluster. */
  steadEnv: Record<string, string>;
  snapshots: Snapshots;
  /** --snapshot-records and --snapshot-interval of the processes that take snapshots (unless `none`). */
  snapshotRecords: number;
  snapshotInterval: string;
  /** --trim-delay of the one-process server and of the cluster's admin. */
  trimDelay: string;
  /**
   * --default-journal-retention of the one-process server and of the cluster's workers and admin (default: the
   * engine's, 1 day). Completed invocations stay in the partition stores (and so in the snapshots) that long: a
   * soak of minutes shows the stores level off only with a retention of minutes.
   */
  journalRetention?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    durationMs: 10 * 60_000,
    everyMs: 30_000,
    concurrency: 32,
    steps: 3,
    servers: ['stead', 'restate'],
    topologies: ['one-process', 'cluster'],
    steadEnv: {},
    snapshots: 'bucket',
    snapshotRecords: 20_000,
    snapshotInterval: '1m',
    trimDelay: '10s',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    const duration = (v: string, what: string) => {
      const ms = parseDurationMs(v);
      if (ms === undefined || ms < 0) throw new Error(`${what}: expected a duration like 30s or 5m, got ${v}`);
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
    } else if (a === '--topology') {
      const v = value();
      if (v !== 'one-process' && v !== 'cluster' && v !== 'both')
        throw new Error(`--topology: one-process, cluster or both, got ${v}`);
      o.topologies = v === 'both' ? ['one-process', 'cluster'] : [v];
    } else if (a === '--stead-env') {
      const v = value();
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(v);
      if (!m) throw new Error(`--stead-env: expected KEY=VALUE, got ${v}`);
      o.steadEnv[m[1]!] = m[2]!;
    } else if (a === '--snapshots') {
      const v = value();
      if (!SNAPSHOTS.includes(v as Snapshots)) throw new Error(`--snapshots: ${SNAPSHOTS.join(', ')}, got ${v}`);
      o.snapshots = v as Snapshots;
    } else if (a === '--snapshot-records') {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--snapshot-records: expected an integer >= 0, got ${v}`);
      o.snapshotRecords = n;
    } else if (a === '--snapshot-interval') o.snapshotInterval = duration(value(), a);
    else if (a === '--trim-delay') o.trimDelay = duration(value(), a);
    else if (a === '--journal-retention') o.journalRetention = duration(value(), a);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (o.everyMs > o.durationMs) throw new Error('--every is longer than the whole run');
  return o;
}

/** The targets in the order they run: Stead in each topology, then restate-server. */
function soakNames(o: Options): SoakName[] {
  const names: SoakName[] = [];
  if (o.servers.includes('stead')) {
    if (o.topologies.includes('one-process')) names.push('stead');
    if (o.topologies.includes('cluster')) names.push('stead-cluster');
  }
  if (o.servers.includes('restate')) names.push('restate');
  return names;
}

/**
 * The snapshot flags of the processes that take snapshots (the one-process server; the cluster's workers): the
 * bucket's endpoint and credentials (s3rver's fixed test ones), and when to snapshot. Flags, not `--stead-env`:
 * the other processes of a cluster refuse STEAD_SNAPSHOT_* variables.
 */
function snapshotFlags(o: Options, topology: Topology, bucket: S3Server | undefined): string[] {
  const when = [`--snapshot-records=${o.snapshotRecords}`, `--snapshot-interval=${o.snapshotInterval}`];
  if (bucket)
    return [
      `--snapshot-bucket=${bucket.bucket}`,
      `--snapshot-endpoint=${bucket.endpoint}`,
      `--snapshot-region=${bucket.region}`,
      `--snapshot-access-key=${bucket.accessKey}`,
      `--snapshot-secret-key=${bucket.secretKey}`,
      ...when,
    ];
  // Without a bucket a cluster takes no snapshots: nothing to say to its workers.
  if (topology === 'cluster') return [];
  return o.snapshots === 'directory' ? when : ['--snapshot-records=0', '--snapshot-interval=0s'];
}

async function start(name: SoakName, cleanup: Cleanup, o: Options): Promise<Running> {
  if (name === 'restate') return runningServer(await startRestate(cleanup));
  // Started before Stead, so stopped after it (cleanups run last first).
  const bucket = o.snapshots === 'bucket' ? await S3Server.start(cleanup, 'stead-soak') : undefined;
  if (bucket) process.stdout.write(`  s3rver pid ${bucket.proc?.pid}  ${bucket.endpoint}  bucket ${bucket.bucket}\n`);
  const withBucket = (t: Running): Running =>
    bucket ? { ...t, dataDirs: () => [...t.dataDirs(), { part: 'bucket', dir: bucket.dir }] } : t;
  const trimDelay = `--trim-delay=${o.trimDelay}`;
  const retention = o.journalRetention === undefined ? [] : [`--default-journal-retention=${o.journalRetention}`];
  if (name === 'stead') {
    const flags = [...snapshotFlags(o, 'one-process', bucket), trimDelay, ...retention];
    return withBucket(runningServer(await startStead(cleanup, o.steadEnv, flags)));
  }
  const progress = (line: string) => process.stdout.write(`${line}\n`);
  const extraArgs = {
    worker: [...snapshotFlags(o, 'cluster', bucket), ...retention],
    admin: [trimDelay, ...retention],
  };
  return withBucket(runningCluster(await startSteadCluster(cleanup, { env: o.steadEnv, extraArgs, progress })));
}

interface Sample {
  /** Seconds since the load started, at the end of the interval. */
  atS: number;
  requests: number;
  errors: number;
  throughput: number;
  p50: number;
  p99: number;
  /** Summed over a cluster's processes. */
  rssMiB: number;
  heapMiB: number;
  /** (One-process Stead) MiB written by LevelDB compactions of the partition store in the interval, per second. */
  compactionMiBps: number;
  /** Server CPU time (user + system, all threads, all processes) per completed request in the interval. */
  cpuMsPerRequest: number;
  /** Bytes on disk per column (one-process: per top-level entry of the data dir; cluster: per role). */
  disk: Record<string, number>;
  /** Sum of `disk`. */
  diskBytes: number;
  /** (Stead) sum of the partition logs' trim points from GET <admin>/cluster; NaN when it does not say. */
  trimPoints: number;
  /** (Stead) snapshots created since start and failed attempts, summed over the processes that take them. */
  snapshots: number;
  snapshotsFailed: number;
  /** (Stead cluster) records kept in the partition logs (tail - trim point), summed; NaN when unknown. */
  logRecords: number;
}

/** (Stead) JS heap used and bytes written by compactions of the partition store, from its /metrics. */
async function serverMetrics(t: Running): Promise<{ heapMiB: number; compactionWrittenMiB: number }> {
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

/**
 * (Stead) The sum of the partition logs' trim points (`logs[].trim_point`, decimal strings) in GET <admin>/cluster:
 * it grows when logs are trimmed. NaN when the answer has none (the one-process server's local logs carry none).
 */
async function trimPointsSum(admin: string): Promise<number> {
  try {
    const res = await fetch(`${admin}/cluster`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return Number.NaN;
    const logs = ((await res.json()) as { logs?: { trim_point?: string }[] }).logs ?? [];
    const points = logs.flatMap((l) => (l.trim_point === undefined ? [] : [BigInt(l.trim_point)]));
    return points.length === 0 ? Number.NaN : Number(points.reduce((a, b) => a + b, 0n));
  } catch {
    return Number.NaN;
  }
}

/** The text of a Prometheus endpoint; undefined when it does not answer. */
async function scrape(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Sum of the values of the samples of `name` whose labels contain `labels` (e.g. `outcome="created"`). */
function metricSum(text: string, name: string, labels = ''): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (!m || m[1] !== name || !(m[2] ?? '').includes(labels)) continue;
    sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/**
 * (Stead) Snapshots created and failed, summed over the processes that take them; (cluster) records kept in the
 * partition logs, from the admin that reports them (the active controller; the largest sum if several do).
 */
async function snapshotAndLogMetrics(
  t: Running,
): Promise<Pick<Sample, 'snapshots' | 'snapshotsFailed' | 'logRecords'>> {
  const sumOver = (texts: (string | undefined)[], outcome: string) => {
    const values = texts.flatMap((x) => {
      const v = x === undefined ? undefined : metricSum(x, 'stead_snapshots_total', `outcome="${outcome}"`);
      return v === undefined ? [] : [v];
    });
    return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0);
  };
  const [snapshotters, controllers] = await Promise.all([
    Promise.all((t.snapshotters?.() ?? []).map(scrape)),
    Promise.all((t.controllers?.() ?? []).map(scrape)),
  ]);
  const records = controllers.flatMap((x) => {
    const v = x === undefined ? undefined : metricSum(x, 'stead_log_records');
    return v === undefined ? [] : [v];
  });
  return {
    snapshots: sumOver(snapshotters, 'created'),
    snapshotsFailed: sumOver(snapshotters, 'failed'),
    logRecords: records.length === 0 ? Number.NaN : Math.max(...records),
  };
}

const MiB = (bytes: number) => bytes / 2 ** 20;

/** `12.3 MiB (log 1.0, partitions 11.3)`, then the trim points, snapshots and log records when known. */
function diskText(s: Sample): string {
  const parts = Object.entries(s.disk).map(([k, v]) => `${k} ${f(MiB(v), 1)}`);
  return (
    `disk ${f(MiB(s.diskBytes), 1)} MiB (${parts.join(', ')})` +
    (Number.isFinite(s.trimPoints) ? `, trim points ${s.trimPoints}` : '') +
    (Number.isFinite(s.snapshots) ? `, snapshots ${s.snapshots}` : '') +
    (s.snapshotsFailed > 0 ? ` (${s.snapshotsFailed} failed)` : '') +
    (Number.isFinite(s.logRecords) ? `, log records ${s.logRecords}` : '')
  );
}

/** Closed-loop load for `o.durationMs`; every `o.everyMs` the interval's figures are sampled and printed. */
async function soak(name: SoakName, t: Running, o: Options): Promise<Sample[]> {
  const { url, body, expect } = stepsCall(t.ingress, o.steps);
  await waitAnswering(name, t.ingress);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  let window: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const samples: Sample[] = [];
  const start = performance.now();
  const end = start + o.durationMs;
  let windowStart = start;
  let cpuAtWindowStart = cpuSecondsOf(t.pids());
  let compactionAtWindowStart = (await serverMetrics(t)).compactionWrittenMiB;
  // Lines are printed in sample order, each once its sizes and metrics are in; awaited before the target stops.
  let printed: Promise<void> = Promise.resolve();
  const sampler = setInterval(() => {
    const now = performance.now();
    const lat = window.sort((a, b) => a - b);
    const seconds = (now - windowStart) / 1000;
    const pids = t.pids();
    const cpu = cpuSecondsOf(pids);
    const sample: Sample = {
      atS: Math.round((now - start) / 1000),
      requests: lat.length,
      errors,
      throughput: lat.length / seconds,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      rssMiB: memoryOf(pids).rssMiB,
      heapMiB: Number.NaN,
      compactionMiBps: Number.NaN,
      cpuMsPerRequest: ((cpu - cpuAtWindowStart) * 1000) / lat.length,
      disk: {},
      diskBytes: Number.NaN,
      trimPoints: Number.NaN,
      snapshots: Number.NaN,
      snapshotsFailed: Number.NaN,
      logRecords: Number.NaN,
    };
    cpuAtWindowStart = cpu;
    window = [];
    errors = 0;
    windowStart = now;
    samples.push(sample);
    const measured = Promise.all([
      serverMetrics(t),
      diskUsage(t.dataDirs()),
      name === 'restate' ? Number.NaN : trimPointsSum(t.admin),
      snapshotAndLogMetrics(t),
    ]);
    printed = printed.then(async () => {
      const none = { snapshots: Number.NaN, snapshotsFailed: Number.NaN, logRecords: Number.NaN };
      const [m, disk, trimPoints, counts] = await measured.catch((err: unknown) => {
        process.stderr.write(`  ${name}: sampling failed: ${err}\n`);
        return [{ heapMiB: Number.NaN, compactionWrittenMiB: Number.NaN }, {}, Number.NaN, none] as const;
      });
      Object.assign(sample, counts);
      sample.heapMiB = m.heapMiB;
      sample.compactionMiBps = (m.compactionWrittenMiB - compactionAtWindowStart) / seconds;
      compactionAtWindowStart = m.compactionWrittenMiB;
      sample.disk = disk;
      const sizes = Object.values(disk);
      sample.diskBytes = sizes.length > 0 ? sizes.reduce((a, b) => a + b, 0) : Number.NaN;
      sample.trimPoints = trimPoints;
      process.stdout.write(
        `  ${name} ${String(sample.atS).padStart(5)} s: ${f(sample.throughput, 0)} req/s, p50 ${f(sample.p50, 1)} ms, ` +
          `p99 ${f(sample.p99, 1)} ms, ${sample.errors} errors, RSS ${f(sample.rssMiB, 0)} MiB, heap ${f(sample.heapMiB, 0)} MiB, ` +
          `CPU ${f(sample.cpuMsPerRequest, 2)} ms/req` +
          `${Number.isFinite(sample.compactionMiBps) ? `, compaction ${f(sample.compactionMiBps, 2)} MiB/s` : ''}` +
          `, ${diskText(sample)}` +
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
    await printed;
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

const columnsOf = (samples: readonly Sample[]) => [...new Set(samples.flatMap((s) => Object.keys(s.disk)))];
const count = (n: number) => (Number.isFinite(n) ? String(n) : '-');

/**
 * Bytes on disk over time: a row per sample, a column per data dir part (and the bucket), the total, then the
 * trim points, the snapshots created and the records kept in the partition logs.
 */
function sizeTable(samples: readonly Sample[]): string {
  const parts = columnsOf(samples);
  const rows = samples.map((s) => [
    String(s.atS),
    ...parts.map((p) => f(s.disk[p] === undefined ? Number.NaN : MiB(s.disk[p]), 1)),
    f(MiB(s.diskBytes), 1),
    count(s.trimPoints),
    count(s.snapshots),
    count(s.logRecords),
  ]);
  const head = ['t s', ...parts.map((p) => `${p} MiB`), 'total MiB', 'trim points', 'snapshots', 'log records'];
  return table(head, rows, 1);
}

/** The bytes of one column over time, as `plateau` takes them. */
const column = (samples: readonly Sample[], part: string) =>
  samples.map((s) => ({ atS: s.atS, diskBytes: s.disk[part] ?? Number.NaN }));

/** `second half (240 s -> 480 s): log +0.1 MiB, partitions +2.3 MiB, …`: which column grows. */
function growthLine(samples: readonly Sample[], durationS: number): string {
  const parts = columnsOf(samples).flatMap((part) => {
    const p = plateau(column(samples, part), durationS);
    return p ? [`${part} ${p.growthBytes >= 0 ? '+' : ''}${f(MiB(p.growthBytes), 1)} MiB`] : [];
  });
  const p = plateau(samples, durationS);
  return p ? `second half (${p.midS} s -> ${p.endS} s): ${parts.join(', ')}` : '';
}

function plateauLine(label: string, p: Plateau | undefined, what = 'data on disk'): string {
  if (!p) return `${label} ${what}: too few samples with a size for a plateau verdict`;
  const rule = `plateau when < ${PLATEAU_SHARE * 100} % of the midpoint or < ${MiB(PLATEAU_FLOOR_BYTES)} MiB`;
  return (
    `${label} ${what} ${f(MiB(p.midBytes), 1)} MiB at ${p.midS} s -> ${f(MiB(p.endBytes), 1)} MiB at ${p.endS} s, ` +
    `${p.growthBytes >= 0 ? '+' : ''}${f(MiB(p.growthBytes), 1)} MiB (${f(p.growthShare * 100, 1)} %) over the second half ` +
    `(${rule}): ${p.plateau ? 'plateau' : 'GROWING'}`
  );
}

/** Throughput and RSS over the run of one Stead topology; the 300 MiB bound holds for one process only. */
function steadVerdicts(label: string, samples: Sample[], durationS: number, rssLimitMiB?: number): string[] {
  const first = minute(samples, 'first', durationS);
  const last = minute(samples, 'last', durationS);
  const ratio = last.throughput / first.throughput;
  const growth = last.rssMiB / first.rssMiB - 1;
  const rssMet = growth < 0.1 && (rssLimitMiB === undefined || last.rssMiB < rssLimitMiB);
  return [
    `${label} last/first minute throughput ${f(ratio, 2)} (target >= 0.90): ${ratio >= 0.9 ? 'met' : 'NOT met'}`,
    `${label} RSS ${f(first.rssMiB, 0)} -> ${f(last.rssMiB, 0)} MiB, growth ${f(growth * 100, 1)} % ` +
      `(target < 10 %${rssLimitMiB === undefined ? ', summed over its processes' : `, < ${rssLimitMiB} MiB`}): ` +
      `${rssMet ? 'met' : 'NOT met'}`,
  ];
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const names = soakNames(o);
  const cleanup = new Cleanup();
  const onSignal = () => void cleanup.run().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const startedAt = new Date();
  const machine = machineInfo();
  const env = Object.entries(o.steadEnv).map(([k, v]) => `${k}=${v}`);
  const snapshots =
    o.snapshots === 'none'
      ? 'no snapshots'
      : `snapshots to ${o.snapshots === 'bucket' ? 'an S3 bucket (s3rver)' : 'the data dir (one-process; a cluster takes none)'} ` +
        `every ${o.snapshotRecords} records or ${o.snapshotInterval}`;
  process.stdout.write(
    `soak: ${names.join(' then ')}; ${o.steps}-step handler, concurrency ${o.concurrency}, ` +
      `${o.durationMs / 60_000} min each, a sample every ${o.everyMs / 1000} s; ${machine.cores} cores, node ${machine.node}` +
      `${names.some((n) => n !== 'restate') ? `; Stead: ${snapshots}, trim delay ${o.trimDelay}` : ''}` +
      `${env.length > 0 ? `; Stead processes with ${env.join(' ')}` : ''}\n`,
  );
  const results: Partial<Record<SoakName, { version: string; samples: Sample[] }>> = {};
  try {
    for (const name of names) {
      const local = new Cleanup();
      cleanup.add(() => local.run());
      process.stdout.write(`starting ${LABEL[name]} …\n`);
      const t = await start(name, local, o);
      const service = await ServiceProcess.start(local, SERVICE);
      await register({ name, admin: t.admin }, service.uri);
      const pids = t.pids();
      process.stdout.write(`${t.version}, ${pids.length === 1 ? `pid ${pids[0]}` : `${pids.length} processes`}\n`);
      results[name] = { version: t.version, samples: await soak(name, t, o) };
      await local.run();
    }
  } finally {
    await cleanup.run();
  }
  const durationS = o.durationMs / 1000;
  const lines: string[] = [];
  for (const name of names) {
    const samples = results[name]?.samples ?? [];
    if (samples.length === 0) continue;
    const trim =
      name === 'restate'
        ? ''
        : ', trim points = sum over the partition logs, snapshots = created since start, log records = kept in the partition logs';
    lines.push('', `${LABEL[name]}: bytes on disk of its data dirs (MiB)${trim}`);
    lines.push(sizeTable(samples));
    const growth = growthLine(samples, durationS);
    if (growth !== '') lines.push(growth);
  }
  const verdicts: string[] = [];
  const plateaus: Partial<Record<SoakName | `${SoakName}:bucket`, Plateau>> = {};
  const stead = results.stead?.samples;
  const cluster = results['stead-cluster']?.samples;
  const restate = results.restate?.samples;
  if (stead && stead.length > 0) {
    verdicts.push(...steadVerdicts('Stead', stead, durationS, 300));
    if (restate && restate.length > 0) {
      const last = minute(stead, 'last', durationS);
      const r = minute(restate, 'last', durationS);
      const vs = last.throughput / r.throughput;
      verdicts.push(
        `Stead/Restate last-minute throughput ${f(vs, 2)} (${f(last.throughput, 0)} vs ${f(r.throughput, 0)} req/s; target >= 1.00): ${vs >= 1 ? 'met' : 'NOT met'}`,
      );
    }
  }
  if (cluster && cluster.length > 0) verdicts.push(...steadVerdicts('Stead cluster', cluster, durationS));
  for (const name of ['stead', 'stead-cluster'] as const) {
    const samples = results[name]?.samples;
    if (!samples || samples.length === 0) continue;
    const p = plateau(samples, durationS);
    if (p) plateaus[name] = p;
    verdicts.push(plateauLine(LABEL[name], p));
    // The bucket keeps `--snapshot-retain` snapshots per partition: it levels off as well.
    if (!columnsOf(samples).includes('bucket')) continue;
    const b = plateau(column(samples, 'bucket'), durationS);
    if (b) plateaus[`${name}:bucket`] = b;
    verdicts.push(plateauLine(LABEL[name], b, 'bucket'));
  }
  process.stdout.write(`${lines.join('\n')}\n\n${verdicts.join('\n')}\n`);
  const file = writeResult('soak', 'soak-latest.json', startedAt, {
    options: o,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadavgAtEnd: loadAverages() },
    results,
    verdicts,
    plateaus,
  });
  process.stdout.write(`samples written to ${file} (and results/soak-latest.json)\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench:soak failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
