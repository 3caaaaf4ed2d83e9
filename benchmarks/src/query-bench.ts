// SQL introspection micro-benchmark: N synthetic sys_invocation rows served by an in-memory IntrospectionSource
// through the real admin HTTP route (`POST /query`, DuckDB, Arrow IPC), timed from the client.
//   npm run bench:query -w @stead/benchmarks [-- --rows 100000 --runs 5]
// The rows are built before timing starts: this measures the SQL engine and the route, not a partition store's
// scan (the end-to-end benchmark against real servers uses `timeQuery` of query.ts the same way).
import { parseArgs } from 'node:util';
import { type AdminServer, MemorySchemaStore, SchemaRegistry, startAdminServer } from '@stead/admin';
import { mountQueryRoutes, type QueryEngine } from '@stead/admin/query';
import { memorySource, syntheticInvocations, syntheticStatusCounts } from '@stead/testing';
import { f, table, writeResult } from './cells.ts';
import { INVOCATION_QUERIES, type QueryTiming, timeQuery } from './query.ts';
import { loadAverages, machineInfo } from './targets.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
  },
});
const rowCount = Number(args.rows);
const runs = Number(args.runs);
const warmup = Number(args.warmup);

async function serve(): Promise<{ admin: AdminServer; engine: QueryEngine; registry: SchemaRegistry }> {
  const registry = await SchemaRegistry.open({ store: new MemorySchemaStore() });
  const rows = syntheticInvocations(rowCount);
  const source = memorySource({ sys_invocation: rows, sys_invocation_status: rows });
  let engine: QueryEngine | undefined;
  const admin = await startAdminServer({
    port: 0,
    host: '127.0.0.1',
    registry,
    extend: (router) => {
      engine = mountQueryRoutes(router, { source });
    },
  });
  return { admin, engine: engine!, registry };
}

/** The group-by's answer must be the synthetic rows' counts. */
function checkCounts(t: import('apache-arrow').Table): void {
  const expected = syntheticStatusCounts(rowCount);
  const got: Record<string, number> = {};
  for (let i = 0; i < t.numRows; i++) got[t.getChildAt(0)!.get(i)] = Number(t.getChildAt(1)!.get(i));
  if (JSON.stringify(got, Object.keys(expected).sort()) !== JSON.stringify(expected, Object.keys(expected).sort())) {
    throw new Error(`wrong counts: ${JSON.stringify(got)} (expected ${JSON.stringify(expected)})`);
  }
}

function report(results: Array<[string, QueryTiming]>): string {
  return table(
    ['query', 'p50 ms', 'min ms', 'max ms', 'plan ms', 'load ms', 'run ms', 'rows', 'bytes'],
    results.map(([name, t]) => [
      name,
      f(t.p50Ms),
      f(t.minMs),
      f(t.maxMs),
      f(t.serverMs.plan),
      f(t.serverMs.load),
      f(t.serverMs.run),
      String(t.rows),
      String(t.bytes),
    ]),
    1,
  );
}

const startedAt = new Date();
const machine = machineInfo();
const { admin, engine, registry } = await serve();
const url = `http://127.0.0.1:${admin.port}`;
try {
  console.log(`POST /query over ${rowCount} synthetic sys_invocation rows, ${warmup} warm-up + ${runs} runs each`);
  const results: Array<[string, QueryTiming]> = [];
  for (const [name, query] of Object.entries(INVOCATION_QUERIES)) {
    const check = name === 'groupByStatus' ? checkCounts : undefined;
    results.push([name, await timeQuery(url, query, { runs, warmup, check })]);
  }
  console.log(report(results));
  const file = writeResult('query', 'query-latest.json', startedAt, {
    benchmark: 'sql-introspection',
    rows: rowCount,
    runs,
    warmup,
    machine: { ...machine, loadavgAtEnd: loadAverages() },
    limits: engine.limits,
    results: Object.fromEntries(results),
  });
  console.log(`\nresults: ${file}`);
} finally {
  await admin.close();
  await engine.close();
  registry.close();
}
