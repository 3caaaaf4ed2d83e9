// One measured cell (N steps × C clients against one ingress) and the table printer, shared by the
// one-process comparison and `--topology cluster` in bench.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@stead/client';
import { REPO, waitFor } from '@stead/testing';
import {
  agentFor,
  type ClientOptions,
  closedLoop,
  type LoadResult,
  type LoopOptions,
  post,
  runLoad,
  type Summary,
  summarize,
} from './load.ts';
import { cpuSeconds, cpuSecondsOf, memoryOf } from './targets.ts';

export interface Measured extends Summary {
  /** Server RSS after the measured run, and its peak so far (MiB; summed over a cluster's processes). */
  rssMiB: number;
  peakRssMiB: number;
  /** CPU time (user + system, all threads) of the server during the measured run, per request (ms). */
  serverCpuMsPerRequest: number;
  /** Server CPU use during the measured run (1.0 = one core busy). */
  serverCores: number;
  /** Same for the SDK service process. */
  serviceCpuMsPerRequest: number;
  firstError?: string;
}

export interface CellOptions {
  /** For messages. */
  name: string;
  ingress: string;
  /** The server's processes (one, or every process of a cluster). */
  serverPids: readonly number[];
  servicePid: number;
  steps: number;
  concurrency: number;
  warmup: number;
  durationMs: number;
  /** HTTPS and headers, for a server that asks for them. */
  client?: ClientOptions;
}

/** The request body of `Bench/steps` for `steps` and the answer it must give. */
export function stepsCall(ingress: string, steps: number): { url: URL; body: string; expect: string } {
  return {
    url: new URL('/Bench/steps', ingress),
    body: JSON.stringify(steps),
    expect: JSON.stringify((steps * (steps - 1)) / 2),
  };
}

/** Waits until `Bench/steps` answers 200 at `ingress` (Restate propagates a new deployment asynchronously). */
export async function waitAnswering(
  name: string,
  ingress: string,
  timeoutMs = 30_000,
  client: ClientOptions = {},
): Promise<void> {
  const { url, body } = stepsCall(ingress, 1);
  const probe = agentFor(url, 1, client);
  try {
    await waitFor(async () => (await post(probe, url, body, 10_000, client.headers)).status === 200, {
      timeoutMs,
      intervalMs: 100,
      what: `${name} to answer Bench/steps`,
    });
  } finally {
    probe.destroy();
  }
}

export async function measureCell(o: CellOptions): Promise<Measured> {
  const { url, body, expect } = stepsCall(o.ingress, o.steps);
  await waitAnswering(o.name, o.ingress, 30_000, o.client);
  return measured(o, (loop) => runLoad({ url, body, expect, ...loop, client: o.client }));
}

/**
 * The same cell through the gRPC ingress at `address` (`Ingress/Call` of `Bench/steps` over one HTTP/2 channel, as
 * a gRPC client keeps one), each answer checked as over HTTP.
 */
export async function measureGrpcCell(
  o: Omit<CellOptions, 'ingress' | 'client'> & { address: string },
): Promise<Measured> {
  const client = connect({ address: o.address, timeoutMs: 30_000 });
  const target = { service: 'Bench', handler: 'steps' };
  const body = Buffer.from(JSON.stringify(o.steps));
  const expect = JSON.stringify((o.steps * (o.steps - 1)) / 2);
  const send = async () => {
    const out = await client.callRaw(target, body, 'application/json');
    const text = out.payload.toString('utf8');
    return text === expect ? undefined : `answered ${text.slice(0, 300)}`;
  };
  try {
    await waitFor(async () => (await send().catch((e) => String(e))) === undefined, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: `${o.name} to answer Bench/steps over gRPC`,
    });
    return await measured(o, (loop) => closedLoop(send, loop));
  } finally {
    client.close();
  }
}

/** Runs a closed loop (`run`) with the process counters sampled around its measured part. */
async function measured(
  o: Pick<CellOptions, 'serverPids' | 'servicePid' | 'concurrency' | 'warmup' | 'durationMs'>,
  run: (loop: LoopOptions) => Promise<LoadResult>,
): Promise<Measured> {
  const serverCpu = () => cpuSecondsOf(o.serverPids);
  let cpu0 = [0, 0];
  const r = await run({
    concurrency: o.concurrency,
    warmupRequests: o.warmup,
    durationMs: o.durationMs,
    onMeasureStart: () => {
      cpu0 = [serverCpu(), cpuSeconds(o.servicePid)];
    },
  });
  const cpu1 = [serverCpu(), cpuSeconds(o.servicePid)];
  const s = summarize(r);
  const mem = memoryOf(o.serverPids);
  const cell: Measured = {
    ...s,
    rssMiB: mem.rssMiB,
    peakRssMiB: mem.peakMiB,
    serverCpuMsPerRequest: ((cpu1[0]! - cpu0[0]!) * 1000) / s.requests,
    serverCores: (cpu1[0]! - cpu0[0]!) / r.seconds,
    serviceCpuMsPerRequest: ((cpu1[1]! - cpu0[1]!) * 1000) / s.requests,
  };
  if (r.firstError) cell.firstError = r.firstError;
  return cell;
}

/** A number with `d` decimals, or '-' when there is none. */
export const f = (n: number | undefined, d = 1) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : '-');

/** a / b, NaN when either is missing or b is 0. */
export const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? a / b : Number.NaN;

/** A Markdown table: the first `left` columns left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][], left = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i < left ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
  ]
    .concat(rows.map(line))
    .join('\n');
}

/**
 * Writes `json` (non-finite numbers as null) to benchmarks/results/<prefix>-<timestamp>.json and to
 * benchmarks/results/<latest>; returns the first path.
 */
export function writeResult(prefix: string, latest: string, startedAt: Date, json: unknown): string {
  const dir = join(REPO, 'benchmarks/results');
  mkdirSync(dir, { recursive: true });
  const text = `${JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
  const file = join(dir, `${prefix}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, text);
  writeFileSync(join(dir, latest), text);
  return file;
}
