// Stead vs restate-server: an SDK handler taking N journaled `ctx.run` steps (N = 1, 3, 9), called through the
// HTTP ingress by C closed-loop clients (C = 1, 32). Both servers run in this script on loopback, one after the
// other, each with a fresh process of the same SDK service (benchmarks/src/service.ts). Prints p50/p90/p99 latency,
// throughput, RSS and the Stead/Restate ratios as a table, and writes all figures as JSON to
// benchmarks/results/bench-<timestamp>.json and benchmarks/results/latest.json. Stead's 3-step cells are also measured
// through its gRPC ingress (same server, same service process), next to HTTP.
//
//   npm run bench                              10 s per cell
//   npm run bench -- --quick                   3 s per cell, shorter warm-up
//   npm run bench -- --duration 5s --only stead --steps 1,9 --concurrency 1,8,32 --warmup 500
//   npm run bench -- --topology cluster        clusters side by side and failover (cluster-bench.ts)
//   npm run bench -- --scenario scale-out      3 → 5 nodes under load, Stead and Restate (scale-out.ts)
import { Cleanup, ServiceProcess } from '@stead/testing';
import { f, type Measured, measureCell, measureGrpcCell, ratio, table, writeResult } from './cells.ts';
import { clusterBench } from './cluster-bench.ts';
import { scaleOutBench } from './scale-out.ts';
import { measureSecureCell, startSecureStead } from './secure.ts';
import {
  loadAverages,
  machineInfo,
  register,
  type ServerName,
  startRestate,
  startStead,
  type Target,
} from './targets.ts';

const SERVICE = new URL('./service.ts', import.meta.url).pathname;
const SERVERS: ServerName[] = ['stead', 'restate'];
/** The handler the TLS + auth cells measure (issue 17: the 3-step handler). */
const SECURE_STEPS = 3;
/** The handler the gRPC ingress cells measure (issue 18: the 3-step handler). */
const GRPC_STEPS = 3;

interface Options {
  durationMs: number;
  warmup: number;
  steps: number[];
  concurrency: number[];
  servers: ServerName[];
  /** Also measure Stead with HTTPS and token auth (3 steps), next to plain Stead. */
  secure: boolean;
  /** Also measure Stead's gRPC ingress (3 steps), next to its HTTP ingress. */
  grpc: boolean;
}

const USAGE = `usage: npm run bench -- [--quick] [--duration 10s] [--warmup 200] [--only stead|restate]
                         [--steps 1,3,9] [--concurrency 1,32] [--no-secure] [--no-grpc]
       npm run bench -- --topology cluster [options: --topology cluster --help]
       npm run bench -- --scenario scale-out [options: --scenario scale-out --help]`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    durationMs: 10_000,
    warmup: 200,
    steps: [1, 3, 9],
    concurrency: [1, 32],
    servers: SERVERS,
    secure: true,
    grpc: true,
  };
  const list = (s: string, what: string) =>
    s.split(',').map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: expected positive integers, got ${s}`);
      return n;
    });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--quick') {
      o.durationMs = 3_000;
      o.warmup = 100;
    } else if (a === '--duration') {
      const v = value();
      const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v);
      if (!m) throw new Error(`--duration: expected e.g. 10s or 500ms, got ${v}`);
      o.durationMs = Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
    } else if (a === '--warmup') o.warmup = list(value(), '--warmup')[0]!;
    else if (a === '--steps') o.steps = list(value(), '--steps');
    else if (a === '--concurrency') o.concurrency = list(value(), '--concurrency');
    else if (a === '--only') {
      const v = value();
      if (v !== 'stead' && v !== 'restate') throw new Error(`--only: stead or restate, got ${v}`);
      o.servers = [v];
    } else if (a === '--no-secure') o.secure = false;
    else if (a === '--no-grpc') o.grpc = false;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

interface Cell extends Measured {
  server: ServerName;
  steps: number;
  concurrency: number;
}

async function runCell(t: Target, service: ServiceProcess, steps: number, concurrency: number, o: Options) {
  const m = await measureCell({
    name: t.name,
    ingress: t.ingress,
    serverPids: [t.pid],
    servicePid: service.proc!.pid,
    steps,
    concurrency,
    warmup: o.warmup,
    durationMs: o.durationMs,
  });
  const cell: Cell = { server: t.name, steps, concurrency, ...m };
  return cell;
}

/** Stead's gRPC ingress cells (GRPC_STEPS × each concurrency) on the server and service the HTTP cells used. */
async function runGrpcCells(t: Target, service: ServiceProcess, o: Options, interrupted: () => boolean) {
  const cells: (Measured & { steps: number; concurrency: number })[] = [];
  for (const c of o.concurrency) {
    if (interrupted()) break;
    process.stdout.write(`  stead (gRPC ingress): ${GRPC_STEPS} steps × concurrency ${c} … `);
    const m = await measureGrpcCell({
      name: 'stead (gRPC ingress)',
      address: t.grpcIngress as string,
      serverPids: [t.pid],
      servicePid: service.proc!.pid,
      steps: GRPC_STEPS,
      concurrency: c,
      warmup: o.warmup,
      durationMs: o.durationMs,
    });
    cells.push({ steps: GRPC_STEPS, concurrency: c, ...m });
    process.stdout.write(
      `${f(m.throughput, 0)} req/s, p50 ${f(m.p50, 2)} / p99 ${f(m.p99, 2)} ms, ${m.errors} errors, ` +
        `server CPU ${f(m.serverCpuMsPerRequest, 2)} ms/req\n`,
    );
    if (m.firstError) process.stdout.write(`    first error: ${m.firstError}\n`);
  }
  return cells;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const topology = argv.indexOf('--topology');
  if (topology >= 0) {
    const what = argv[topology + 1];
    if (what === 'cluster') return clusterBench([...argv.slice(0, topology), ...argv.slice(topology + 2)]);
    if (what !== 'single') throw new Error(`--topology: single or cluster, got ${what}\n${USAGE}`);
    argv.splice(topology, 2);
  }
  const scenario = argv.indexOf('--scenario');
  if (scenario >= 0) {
    const what = argv[scenario + 1];
    if (what === 'scale-out') return scaleOutBench([...argv.slice(0, scenario), ...argv.slice(scenario + 2)]);
    throw new Error(`--scenario: scale-out is the one there is, got ${what}\n${USAGE}`);
  }
  const o = parseArgs(argv);
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${sig}: stopping the servers and the service, removing temp dirs\n`);
    void cleanup.run().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const startedAt = new Date();
  const machine = machineInfo();
  const cells: Cell[] = [];
  const versions: Partial<Record<ServerName, string>> = {};
  const failures: Record<string, string> = {};
  const secureCells: (Measured & { steps: number; concurrency: number })[] = [];
  const grpcCells: (Measured & { steps: number; concurrency: number })[] = [];
  const total = o.servers.length * o.steps.length * o.concurrency.length;
  process.stdout.write(
    `bench: ${o.servers.join(' then ')}; steps ${o.steps.join(',')} × concurrency ${o.concurrency.join(',')}; ` +
      `warm-up ${o.warmup} requests, then ${o.durationMs / 1000} s per cell (${total} cells); ` +
      `${machine.cores} cores, node ${machine.node}\n`,
  );
  try {
    for (const name of o.servers) {
      // Everything a server needs is undone right after its cells (and by the outer cleanup on a signal).
      const local = new Cleanup();
      cleanup.add(() => local.run());
      try {
        process.stdout.write(`starting ${name} …\n`);
        const t = await (name === 'stead' ? startStead(local) : startRestate(local));
        versions[name] = t.version;
        // A fresh service process per server, so that neither profits from the other's JIT warm-up.
        const service = await ServiceProcess.start(local, SERVICE);
        await register(t, service.uri);
        process.stdout.write(`  ${t.version}, pid ${t.pid}; service pid ${service.proc!.pid} at ${service.uri}\n`);
        for (const steps of o.steps)
          for (const c of o.concurrency) {
            if (interrupted) return 130;
            process.stdout.write(`  ${name}: ${steps} step(s) × concurrency ${c} … `);
            let cell: Cell;
            try {
              cell = await runCell(t, service, steps, c, o);
            } catch (err) {
              throw new Error(`${(err as Error).message}\n${t.output()}`);
            }
            cells.push(cell);
            process.stdout.write(
              `${f(cell.throughput, 0)} req/s, p50 ${f(cell.p50, 2)} / p90 ${f(cell.p90, 2)} / p99 ${f(cell.p99, 2)} ms, ` +
                `${cell.errors} errors, RSS ${f(cell.rssMiB, 0)} MiB, server CPU ${f(cell.serverCpuMsPerRequest, 2)} ms/req\n`,
            );
            if (cell.firstError) process.stdout.write(`    first error: ${cell.firstError}\n`);
          }
        if (name === 'stead' && o.grpc && o.steps.includes(GRPC_STEPS))
          grpcCells.push(...(await runGrpcCells(t, service, o, () => interrupted)));
      } catch (err) {
        if (interrupted) return 130;
        failures[name] = (err as Error).message;
        process.stderr.write(`\n${name} failed: ${(err as Error).message}\n`);
      } finally {
        await local.run();
      }
    }
    if (o.secure && o.servers.includes('stead') && o.steps.includes(SECURE_STEPS) && !interrupted) {
      const local = new Cleanup();
      cleanup.add(() => local.run());
      try {
        process.stdout.write('starting stead with HTTPS and token auth …\n');
        const s = await startSecureStead(local);
        const service = await ServiceProcess.start(local, SERVICE);
        await register(s.target, service.uri, s.client);
        for (const c of o.concurrency) {
          if (interrupted) return 130;
          process.stdout.write(`  stead (TLS + auth): ${SECURE_STEPS} steps × concurrency ${c} … `);
          const m = await measureSecureCell(s, service, {
            steps: SECURE_STEPS,
            concurrency: c,
            warmup: o.warmup,
            durationMs: o.durationMs,
          });
          secureCells.push({ steps: SECURE_STEPS, concurrency: c, ...m });
          process.stdout.write(
            `${f(m.throughput, 0)} req/s, p50 ${f(m.p50, 2)} / p99 ${f(m.p99, 2)} ms, ${m.errors} errors, ` +
              `server CPU ${f(m.serverCpuMsPerRequest, 2)} ms/req\n`,
          );
          if (m.firstError) process.stdout.write(`    first error: ${m.firstError}\n`);
        }
      } catch (err) {
        if (interrupted) return 130;
        failures['stead (TLS + auth)'] = (err as Error).message;
        process.stderr.write(`\nstead (TLS + auth) failed: ${(err as Error).message}\n`);
      } finally {
        await local.run();
      }
    }
  } finally {
    await cleanup.run();
  }
  if (interrupted) return 130;

  const find = (s: ServerName, n: number, c: number) =>
    cells.find((x) => x.server === s && x.steps === n && x.concurrency === c);
  const comparison = [];
  const rows: string[][] = [];
  for (const n of o.steps)
    for (const c of o.concurrency) {
      const s = find('stead', n, c);
      const r = find('restate', n, c);
      const cmp = {
        steps: n,
        concurrency: c,
        p50Ratio: ratio(s?.p50, r?.p50),
        p90Ratio: ratio(s?.p90, r?.p90),
        p99Ratio: ratio(s?.p99, r?.p99),
        throughputRatio: ratio(s?.throughput, r?.throughput),
        rssRatio: ratio(s?.rssMiB, r?.rssMiB),
        serverCpuRatio: ratio(s?.serverCpuMsPerRequest, r?.serverCpuMsPerRequest),
      };
      comparison.push(cmp);
      rows.push([
        String(n),
        String(c),
        f(s?.p50, 2),
        f(s?.p90, 2),
        f(s?.p99, 2),
        f(s?.throughput, 0),
        f(r?.p50, 2),
        f(r?.p90, 2),
        f(r?.p99, 2),
        f(r?.throughput, 0),
        f(cmp.p50Ratio, 2),
        f(cmp.p99Ratio, 2),
        f(cmp.throughputRatio, 2),
        `${f(s?.rssMiB, 0)}/${f(r?.rssMiB, 0)}`,
        `${f(s?.serverCpuMsPerRequest, 2)}/${f(r?.serverCpuMsPerRequest, 2)}`,
        `${s?.errors ?? '-'}/${r?.errors ?? '-'}`,
      ]);
    }
  const header = [
    'N',
    'C',
    'S p50',
    'S p90',
    'S p99',
    'S req/s',
    'R p50',
    'R p90',
    'R p99',
    'R req/s',
    'p50 S/R',
    'p99 S/R',
    'thr S/R',
    'RSS MiB S/R',
    'CPU ms/req S/R',
    'errors S/R',
  ];
  const out = [
    '',
    `Stead (S) vs restate-server (R): ${Object.values(versions).join(', ')}`,
    `${machine.cores} × ${machine.cpuModel}, node ${machine.node}; warm-up ${o.warmup} requests, ${o.durationMs / 1000} s per cell`,
    'N = ctx.run steps per invocation, C = concurrent closed-loop clients; latencies in ms; throughput in requests/s;',
    'S/R ratios: latency < 1 and throughput > 1 favour Stead; RSS after the cell; server CPU time per request',
    '',
    table(header, rows),
  ];
  const secureComparison = versus(secureCells, (x) => find('stead', x.steps, x.concurrency));
  if (secureComparison.length > 0)
    out.push(
      '',
      `The cost of TLS + auth: Stead with HTTPS (keep-alive connections) and bearer tokens (T) vs plain HTTP (P), N = ${SECURE_STEPS}`,
      '',
      versusTable(secureComparison, 'P', 'T', 2),
    );
  const grpcComparison = versus(grpcCells, (x) => find('stead', x.steps, x.concurrency));
  if (grpcComparison.length > 0)
    out.push(
      '',
      `Stead's gRPC ingress (G, Ingress/Call over one HTTP/2 channel) vs its HTTP ingress (H), N = ${GRPC_STEPS}`,
      '',
      versusTable(grpcComparison, 'H', 'G', 1),
    );
  for (const [name, why] of Object.entries(failures))
    out.push('', `${name} did not complete: ${why.split('\n')[0]} (full output above)`);
  process.stdout.write(`${out.join('\n')}\n`);

  const json = {
    benchmark: 'Bench/steps: N ctx.run steps per invocation through the HTTP ingress, closed loop',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    config: {
      steps: o.steps,
      concurrency: o.concurrency,
      warmupRequests: o.warmup,
      durationMs: o.durationMs,
      servers: o.servers,
    },
    machine: { ...machine, loadavgAtEnd: loadAverages() },
    versions,
    failures,
    cells,
    comparison,
    secure: secureComparison.map(({ base: _, ...x }) => x),
    grpc: grpcComparison.map(({ base: _, ...x }) => x),
  };
  const file = writeResult('bench', 'latest.json', startedAt, json);
  process.stdout.write(`\nresults: ${file} (and results/latest.json)\n`);
  return Object.keys(failures).length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);

/** Each of `cells` beside the cell it is compared with (`base`): the ratios cell/base. */
type StepsCell = Measured & { steps: number; concurrency: number };

function versus(cells: StepsCell[], baseOf: (x: StepsCell) => StepsCell | undefined) {
  return cells.map((cell) => {
    const base = baseOf(cell);
    return {
      steps: cell.steps,
      concurrency: cell.concurrency,
      p50Ratio: ratio(cell.p50, base?.p50),
      p99Ratio: ratio(cell.p99, base?.p99),
      throughputRatio: ratio(cell.throughput, base?.throughput),
      serverCpuRatio: ratio(cell.serverCpuMsPerRequest, base?.serverCpuMsPerRequest),
      base,
      cell,
    };
  });
}

/** The table of a `versus` comparison: `b` (the cells) against `a` (their bases), by concurrency. */
function versusTable(rows: ReturnType<typeof versus>, a: string, b: string, left: number): string {
  return table(
    [
      'C',
      `${a} p50`,
      `${b} p50`,
      `p50 ${b}/${a}`,
      `${a} p99`,
      `${b} p99`,
      `p99 ${b}/${a}`,
      `${a} req/s`,
      `${b} req/s`,
      `thr ${b}/${a}`,
      `CPU ms/req ${a}/${b}`,
    ],
    rows.map((x) => [
      String(x.concurrency),
      f(x.base?.p50, 2),
      f(x.cell.p50, 2),
      f(x.p50Ratio, 2),
      f(x.base?.p99, 2),
      f(x.cell.p99, 2),
      f(x.p99Ratio, 2),
      f(x.base?.throughput, 0),
      f(x.cell.throughput, 0),
      f(x.throughputRatio, 2),
      `${f(x.base?.serverCpuMsPerRequest, 2)}/${f(x.cell.serverCpuMsPerRequest, 2)}`,
    ]),
    left,
  );
}
