// Times SQL introspection queries (`POST /query`) against any admin API: the in-process micro-benchmark
// (query-bench.ts) and end-to-end runs against real servers use the same harness.
import { type Table, tableFromIPC } from 'apache-arrow';

export interface QueryTiming {
  query: string;
  /** Wall time of each measured run, request sent → whole answer received, ms. */
  runsMs: number[];
  p50Ms: number;
  minMs: number;
  maxMs: number;
  /** The server's own breakdown of the median run (`server-timing`: plan, load, run), when it sends one. */
  serverMs: Record<string, number>;
  /** Rows of the answer (the last run's). */
  rows: number;
  bytes: number;
}

export interface TimeQueryOptions {
  /** Measured runs (default 5). */
  runs?: number;
  /** Runs before those, not measured (default 1). */
  warmup?: number;
  /** `accept` header (default `*∕*`, as the restate CLI sends: an Arrow IPC stream). */
  accept?: string;
  /** Called with the decoded answer of every run, to check it (throw to fail). */
  check?: (table: Table) => void;
}

/** `server-timing: plan;dur=1.2, load;dur=30.5` → { plan: 1.2, load: 30.5 }. */
export function parseServerTiming(header: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const m = /^\s*([\w-]+)\s*;\s*dur=([\d.]+)/.exec(part);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function once(adminUrl: string, query: string, accept: string) {
  const started = performance.now();
  const res = await fetch(`${adminUrl.replace(/\/$/, '')}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept },
    body: JSON.stringify({ query }),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`${query}: ${res.status} ${Buffer.from(bytes).toString()}`);
  return { ms, bytes, serverMs: parseServerTiming(res.headers.get('server-timing')) };
}

/** Runs `query` warmup + runs times, one after the other, and reports the measured runs. */
export async function timeQuery(adminUrl: string, query: string, opts: TimeQueryOptions = {}): Promise<QueryTiming> {
  const accept = opts.accept ?? '*/*';
  const measured: Array<Awaited<ReturnType<typeof once>>> = [];
  let rows = 0;
  for (let i = 0; i < (opts.warmup ?? 1) + (opts.runs ?? 5); i++) {
    const run = await once(adminUrl, query, accept);
    if (accept !== 'application/json') {
      const table = tableFromIPC(run.bytes);
      rows = table.numRows;
      opts.check?.(table);
    }
    if (i >= (opts.warmup ?? 1)) measured.push(run);
  }
  const sorted = [...measured].sort((a, b) => a.ms - b.ms);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return {
    query,
    runsMs: measured.map((r) => r.ms),
    p50Ms: median.ms,
    minMs: sorted[0]!.ms,
    maxMs: sorted.at(-1)!.ms,
    serverMs: median.serverMs,
    rows,
    bytes: median.bytes.byteLength,
  };
}

/** The queries the issue and the restate CLI send over sys_invocation, and what to check of their answers. */
export const INVOCATION_QUERIES = {
  groupByStatus: 'select status, count(*) from sys_invocation group by status',
  cliCount: "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE status != 'completed'",
  cliList:
    "SELECT id, target, status, created_at FROM sys_invocation WHERE status != 'completed' ORDER BY created_at DESC LIMIT 500",
  allColumns: 'select * from sys_invocation limit 100',
} as const;
