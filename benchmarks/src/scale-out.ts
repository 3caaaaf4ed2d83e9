// `npm run bench -- --scenario scale-out`: a 3-node cluster under closed-loop load gets more nodes (Stead: workers
// started next to it; Restate: restate-server nodes joining it). Measures how long each new node takes to lead
// its share of the partitions (without any operator action), and the throughput and latency before the scale-out,
// while the cluster rebalances, and after; Stead and restate-server run in this script one after the other.

import { Agent } from 'node:http';
import { parseDurationMs } from '@stead/runtime';
import { Cleanup, ServiceProcess } from '@stead/testing';
import { f, stepsCall, table, waitAnswering, writeResult } from './cells.ts';
import { type ClusterName, type ClusterTarget, startRestateCluster, startSteadCluster } from './cluster-targets.ts';
import { percentile, post } from './load.ts';
import { loadAverages, machineInfo, register } from './targets.ts';

const SERVICE = new URL('./service.ts', import.meta.url).pathname;
const TARGETS: ClusterName[] = ['stead-cluster', 'restate-cluster'];

interface Options {
  targets: ClusterName[];
  clients: number;
  steps: number;
  warmup: number;
  /** Load before the first node is added, and after every new node leads its share. */
  phaseMs: number;
  /** Nodes added (one after the other, without waiting for the rebalance). */
  add: number;
  /** How long a new node may take to lead its share before the round reports it as not reached. */
  shareTimeoutMs: number;
  steadPartitions: number;
  restatePartitions: number;
}

const USAGE = `usage: npm run bench -- --scenario scale-out [--only stead-cluster,restate-cluster] [--clients 8]
         [--steps 3] [--warmup 1000] [--phase 15s] [--add 2] [--share-timeout 60s] [--stead-partitions 12]
         [--restate-partitions 12]`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    targets: TARGETS,
    clients: 8,
    steps: 3,
    warmup: 1000,
    phaseMs: 15_000,
    add: 2,
    shareTimeoutMs: 60_000,
    steadPartitions: 12,
    restatePartitions: 12,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    const int = (min: number) => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`${a}: expected an integer ≥ ${min}, got ${v}`);
      return n;
    };
    const ms = () => {
      const v = value();
      const n = parseDurationMs(v);
      if (n === undefined || n <= 0) throw new Error(`${a}: expected a duration like 15s, got ${v}`);
      return n;
    };
    if (a === '--clients') o.clients = int(1);
    else if (a === '--steps') o.steps = int(1);
    else if (a === '--warmup') o.warmup = int(0);
    else if (a === '--phase') o.phaseMs = ms();
    else if (a === '--add') o.add = int(1);
    else if (a === '--share-timeout') o.shareTimeoutMs = ms();
    else if (a === '--stead-partitions') o.steadPartitions = int(1);
    else if (a === '--restate-partitions') o.restatePartitions = int(1);
    else if (a === '--only') {
      const names = value().split(',');
      for (const n of names)
        if (!TARGETS.includes(n as ClusterName)) throw new Error(`--only: one of ${TARGETS.join(', ')}, got ${n}`);
      o.targets = TARGETS.filter((t) => names.includes(t));
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

/** One finished request: when it ended (ms, performance clock), how long it took, whether it succeeded. */
interface Sample {
  endMs: number;
  latencyMs: number;
  ok: boolean;
}

interface Phase {
  phase: 'before' | 'during' | 'after';
  seconds: number;
  ok: number;
  failed: number;
  throughput: number;
  p50: number;
  p99: number;
}

interface NewNode {
  node: string;
  /** From its start (ms) until it leads its share: ⌊partitions / nodes⌋ leaderships; undefined when not reached. */
  shareMs?: number;
  ledAtEnd: number;
}

interface ScaleOutResult {
  target: ClusterName;
  version: string;
  partitions: number;
  leadersBefore: Record<string, number>;
  leadersAfter: Record<string, number>;
  newNodes: NewNode[];
  phases: Phase[];
  firstError?: string;
}

/** Closed-loop clients on Bench/steps until `stop()`; every request is kept as a sample. */
function startClients(ingress: string, o: Options): { samples: Sample[]; stop: () => Promise<string | undefined> } {
  const { url, body, expect } = stepsCall(ingress, o.steps);
  const agent = new Agent({ keepAlive: true, maxSockets: o.clients, maxFreeSockets: o.clients });
  const samples: Sample[] = [];
  let firstError: string | undefined;
  let sending = true;
  const clients = Array.from({ length: o.clients }, async () => {
    while (sending) {
      const t0 = performance.now();
      let ok = false;
      try {
        const res = await post(agent, url, body, 30_000);
        ok = res.status === 200 && res.body === expect;
        if (!ok) firstError ??= `${res.status} ${res.body.slice(0, 300)}`;
      } catch (err) {
        firstError ??= String(err);
      }
      const t1 = performance.now();
      samples.push({ endMs: t1, latencyMs: t1 - t0, ok });
    }
  });
  return {
    samples,
    stop: async () => {
      sending = false;
      await Promise.all(clients);
      agent.destroy();
      return firstError;
    },
  };
}

function phaseOf(name: Phase['phase'], samples: readonly Sample[], fromMs: number, toMs: number): Phase {
  const inside = samples.filter((s) => s.endMs >= fromMs && s.endMs < toMs);
  const ok = inside.filter((s) => s.ok);
  const latencies = ok.map((s) => s.latencyMs).sort((a, b) => a - b);
  const seconds = (toMs - fromMs) / 1000;
  return {
    phase: name,
    seconds,
    ok: ok.length,
    failed: inside.length - ok.length,
    throughput: seconds > 0 ? ok.length / seconds : 0,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the leaders until `node` leads `share` partitions or the deadline passes; ms from `sinceMs`, or undefined. */
async function timeToShare(t: ClusterTarget, node: string, share: number, sinceMs: number, o: Options) {
  const deadline = sinceMs + o.shareTimeoutMs;
  while (performance.now() < deadline) {
    const led = await t.leaders().catch(() => new Map<string, number>());
    if ((led.get(node) ?? 0) >= share) return performance.now() - sinceMs;
    await sleep(100);
  }
  return undefined;
}

async function scaleOut(t: ClusterTarget, o: Options, out: (s: string) => void): Promise<ScaleOutResult> {
  const ingress = t.ingress();
  await waitAnswering(t.name, ingress);
  const warm = startClients(ingress, o);
  while (warm.samples.length < o.warmup) await sleep(50);
  await warm.stop();
  const partitions = await t.partitions();
  const leadersBefore = Object.fromEntries(await t.leaders());
  const load = startClients(ingress, o);
  const startMs = performance.now();
  await sleep(o.phaseMs);
  const scaleAtMs = performance.now();
  const started: { node: string; atMs: number }[] = [];
  for (let i = 0; i < o.add; i++) {
    const atMs = performance.now();
    const node = await t.addNode();
    started.push({ node, atMs });
    out(`  ${t.name}: ${node} started after ${f((performance.now() - atMs) / 1000, 1)} s\n`);
  }
  const share = Math.floor(partitions / t.nodes.length);
  const shares = await Promise.all(started.map((s) => timeToShare(t, s.node, share, s.atMs, o)));
  const settledMs = performance.now();
  for (const [i, s] of started.entries())
    out(
      `  ${t.name}: ${s.node} leads its share (${share} of ${partitions}) ` +
        `${shares[i] === undefined ? `not within ${o.shareTimeoutMs / 1000} s` : `after ${f(shares[i]! / 1000, 1)} s`}\n`,
    );
  await sleep(o.phaseMs);
  const endMs = performance.now();
  const firstError = await load.stop();
  const leadersAfter = Object.fromEntries(await t.leaders());
  const phases = [
    phaseOf('before', load.samples, startMs, scaleAtMs),
    phaseOf('during', load.samples, scaleAtMs, settledMs),
    phaseOf('after', load.samples, settledMs, endMs),
  ];
  const r: ScaleOutResult = {
    target: t.name,
    version: t.version,
    partitions,
    leadersBefore,
    leadersAfter,
    newNodes: started.map((s, i) => ({ node: s.node, shareMs: shares[i], ledAtEnd: leadersAfter[s.node] ?? 0 })),
    phases,
  };
  if (phases.some((p) => p.failed > 0) && firstError !== undefined) r.firstError = firstError;
  return r;
}

function resultTable(results: ScaleOutResult[]): string {
  const header = ['cluster', 'phase', 'seconds', 'ok', 'failed', 'req/s', 'p50 ms', 'p99 ms'];
  const rows = results.flatMap((r) =>
    r.phases.map((p) => [
      r.target,
      p.phase,
      f(p.seconds, 1),
      String(p.ok),
      String(p.failed),
      f(p.throughput, 0),
      f(p.p50, 2),
      f(p.p99, 2),
    ]),
  );
  return table(header, rows, 2);
}

function shareTable(results: ScaleOutResult[], o: Options): string {
  const header = ['cluster', 'new node', 'share reached after s', 'leads at the end', 'leaders before → after'];
  const rows = results.flatMap((r) =>
    r.newNodes.map((n) => [
      r.target,
      n.node,
      n.shareMs === undefined ? `not within ${o.shareTimeoutMs / 1000}` : f(n.shareMs / 1000, 1),
      String(n.ledAtEnd),
      `${JSON.stringify(r.leadersBefore)} → ${JSON.stringify(r.leadersAfter)}`,
    ]),
  );
  return table(header, rows, 3);
}

export async function scaleOutBench(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  const out = (s: string) => process.stdout.write(s);
  const startedAt = new Date();
  const machine = machineInfo();
  const cleanup = new Cleanup();
  const results: ScaleOutResult[] = [];
  const failures: Record<string, string> = {};
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    void cleanup.run().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const svc = await ServiceProcess.start(cleanup, SERVICE);
    for (const name of o.targets) {
      const local = new Cleanup();
      let t: ClusterTarget | undefined;
      try {
        out(`\nstarting ${name} …\n`);
        const progress = (line: string) => out(`${line}\n`);
        t =
          name === 'stead-cluster'
            ? await startSteadCluster(local, { workers: 3, replication: 2, partitions: o.steadPartitions, progress })
            : await startRestateCluster(local, { replication: 2, partitions: o.restatePartitions, progress });
        await register({ name, admin: t.admin }, svc.uri);
        out(
          `${name}: ${o.clients} clients, ${o.phaseMs / 1000} s before, +${o.add} nodes, ${o.phaseMs / 1000} s after\n`,
        );
        const r = await scaleOut(t, o, out);
        results.push(r);
        for (const p of r.phases)
          out(
            `  ${name} ${p.phase}: ${f(p.throughput, 0)} req/s, p50 ${f(p.p50, 2)} / p99 ${f(p.p99, 2)} ms, ` +
              `${p.failed} failed (${f(p.seconds, 1)} s)\n`,
          );
        if (r.firstError) out(`    first error: ${r.firstError}\n`);
      } catch (err) {
        if (interrupted) return 130;
        failures[name] = (err as Error).message;
        process.stderr.write(`\n${name} failed: ${(err as Error).message}\n${t?.output() ?? ''}\n`);
      } finally {
        out(`stopping ${name} …\n`);
        await local.run();
      }
    }
  } finally {
    await cleanup.run();
  }
  if (interrupted) return 130;
  const lines = [
    '',
    `Scale-out under load: ${results.map((r) => r.version).join('; ')}`,
    `${machine.cores} × ${machine.cpuModel}, node ${machine.node}; ${o.clients} closed-loop clients on Bench/steps ` +
      `(${o.steps} ctx.run steps), warm-up ${o.warmup} requests`,
    `3 nodes → ${3 + o.add} nodes (Stead: workers; Restate: restate-server nodes with every role). before = ` +
      `${o.phaseMs / 1000} s of load on 3 nodes; during = from the first new node's start until every new node leads ` +
      `⌊partitions / nodes⌋ partitions (or ${o.shareTimeoutMs / 1000} s passed); after = ${o.phaseMs / 1000} s more.`,
    '',
    shareTable(results, o),
    '',
    resultTable(results),
  ];
  for (const [name, why] of Object.entries(failures))
    lines.push('', `${name} did not complete: ${why.split('\n')[0]} (full output above)`);
  out(`${lines.join('\n')}\n`);
  const file = writeResult('bench-scale-out', 'scale-out-latest.json', startedAt, {
    benchmark: 'scale-out under load: time for new nodes to lead their share, throughput before/during/after',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    config: o,
    machine: { ...machine, loadavgAtEnd: loadAverages() },
    failures,
    results,
  });
  out(`\nresults: ${file} (and results/scale-out-latest.json)\n`);
  return Object.keys(failures).length > 0 ? 1 : 0;
}
