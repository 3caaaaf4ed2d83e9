// `POST /query` on a real admin server on loopback, DuckDB and the Arrow writer for real, rows from in-memory
// IntrospectionSources (the partition stores are another source's business).
import type { IntrospectionRow, IntrospectionSource } from '@stead/core';
import { INTROSPECTION_TABLES } from '@stead/core';
import { memorySource, syntheticInvocations, syntheticStatusCounts, waitFor } from '@stead/testing';
import { type Field, type Table, TimeUnit, Type, tableFromIPC } from 'apache-arrow';
import { type AdminServer, MemorySchemaStore, SchemaRegistry, startAdminServer } from '../src/index.ts';
import {
  combineSources,
  mountQueryRoutes,
  type QueryEngine,
  type QueryRouteOptions,
  registryIntrospection,
} from '../src/query/index.ts';
import { ScriptedDiscover, svc } from './helpers.ts';

const ARROW = 'application/vnd.apache.arrow.stream';
const N = 100_000;

interface Served {
  admin: AdminServer;
  engine: QueryEngine;
  registry: SchemaRegistry;
  close(): Promise<void>;
}

async function serve(source: IntrospectionSource, limits: Omit<QueryRouteOptions, 'source'> = {}): Promise<Served> {
  const discover = new ScriptedDiscover();
  discover.set('http://127.0.0.1:9080/', [svc('Greeter'), svc('Counter', 'VIRTUAL_OBJECT', ['add', 'get'])], {
    minProtocolVersion: 5,
    maxProtocolVersion: 6,
  });
  const registry = await SchemaRegistry.open({ store: new MemorySchemaStore(), discover: discover.fn });
  await registry.register({ uri: 'http://127.0.0.1:9080/' });
  let engine: QueryEngine | undefined;
  const admin = await startAdminServer({
    port: 0,
    host: '127.0.0.1',
    registry,
    onError: () => {},
    extend: (router) => {
      engine = mountQueryRoutes(router, { source: combineSources(registryIntrospection(registry), source), ...limits });
    },
  });
  return {
    admin,
    engine: engine!,
    registry,
    close: async () => {
      await admin.close();
      await engine!.close();
      registry.close();
    },
  };
}

interface Answer {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  json: any;
}

async function post(
  port: number,
  body: string,
  headers: Record<string, string> = {},
  path = '/query',
): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, bytes, json };
}

/** The query answered as JSON rows (expects 200). */
async function rows(port: number, query: string): Promise<Record<string, unknown>[]> {
  const a = await post(port, JSON.stringify({ query }), { accept: 'application/json' });
  if (a.status !== 200) throw new Error(`${a.status}: ${JSON.stringify(a.json)}`);
  return a.json.rows;
}

/** The query answered as an Arrow IPC stream (expects 200). */
async function arrow(port: number, query: string, accept = '*/*', path = '/query'): Promise<Table> {
  const a = await post(port, JSON.stringify({ query }), { accept }, path);
  if (a.status !== 200) throw new Error(`${a.status}: ${JSON.stringify(a.json)}`);
  expect(a.headers.get('content-type')).toBe(ARROW);
  return tableFromIPC(a.bytes);
}

const invocations = syntheticInvocations(N);
const journal: IntrospectionRow[] = [
  { id: invocations[7].id as string, index: 0, entry_type: 'Command: Input', completed: true, appended_at: 1_000 },
  {
    id: invocations[7].id as string,
    index: 1,
    entry_type: 'Command: Run',
    name: 'step',
    completed: false,
    raw: new Uint8Array([1, 2, 3]),
    raw_length: 3n,
    appended_at: 2_000,
  },
];
const state: IntrospectionRow[] = [
  {
    service_name: 'Counter',
    service_key: 'k1',
    key: 'v',
    value: new TextEncoder().encode('42'),
    value_utf8: '42',
    value_length: 2,
    key_length: 1,
    partition_key: 2n ** 63n + 1n,
  },
];

describe('POST /query', () => {
  const source = memorySource({
    sys_invocation: invocations,
    sys_invocation_status: invocations,
    sys_journal: journal,
    state,
  });
  let s: Served;
  let port: number;

  beforeAll(async () => {
    s = await serve(source);
    port = s.admin.port;
  });
  afterAll(async () => {
    await s?.close();
  });

  test('select status, count(*) over 100,000 invocations counts every status', async () => {
    const got = await rows(port, 'select status, count(*) as n from sys_invocation group by status order by status');
    const expected = Object.entries(syntheticStatusCounts(N))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([status, n]) => ({ status, n }));
    expect(got).toEqual(expected);
  });

  test("the CLI's invocation count over a LIMIT 50000 subquery", async () => {
    const t = await arrow(
      port,
      "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE status != 'completed'",
    );
    expect(t.numRows).toBe(1);
    expect(t.schema.fields[0].type.typeId).toBe(Type.Int);
    expect((t.schema.fields[0].type as any).bitWidth).toBe(64);
    const counts = syntheticStatusCounts(50_000);
    expect(Number(t.getChildAt(0)!.get(0))).toBe(50_000 - counts.completed);
  });

  test("the CLI's information_schema.columns check", async () => {
    const scansBefore = source.scans.length;
    const q = (column: string) =>
      `SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_invocation' AND column_name IN ('${column}')`;
    expect(Number((await arrow(port, q('idempotency_key'))).getChildAt(0)!.get(0))).toBe(1);
    expect(Number((await arrow(port, q('no_such_column'))).getChildAt(0)!.get(0))).toBe(0);
    // Every table is there, with every column.
    const all = await rows(port, 'SELECT table_name, count(*) AS n FROM information_schema.columns GROUP BY 1');
    expect(Object.fromEntries(all.map((r) => [r.table_name, r.n]))).toEqual(
      Object.fromEntries(INTROSPECTION_TABLES.map((t) => [t.name, t.columns.length])),
    );
    // No rows were read for it: the table names were only in strings.
    expect(source.scans.length).toBe(scansBefore);
  });

  test("the CLI's LIKE on target over sys_invocation_status", async () => {
    const t = await arrow(
      port,
      "SELECT id, target FROM sys_invocation_status WHERE target LIKE 'Service3/key-3/%' AND status != 'completed' LIMIT 500",
    );
    const expected = invocations.filter(
      (r) => (r.target as string).startsWith('Service3/key-3/') && r.status !== 'completed',
    );
    expect(expected.length).toBeGreaterThan(0);
    expect(t.numRows).toBe(Math.min(500, expected.length));
    const ids = new Set(expected.map((r) => r.id));
    for (let i = 0; i < t.numRows; i++) expect(ids.has(t.getChild('id')!.get(i))).toBe(true);
  });

  test('JSON: timestamps as RFC 3339, integers as numbers (all digits), durations in ms, lists, NULLs left out, hex binary', async () => {
    const suspended = invocations.find((r) => r.status === 'suspended')!;
    const [inv] = await rows(
      port,
      `select id, status, retry_count, journal_size, created_at, completion_retention, suspended_waiting_for_completions,
        completed_at, target_service_key from sys_invocation where id = '${suspended.id}'`,
    );
    expect(inv).toEqual({
      id: suspended.id,
      status: 'suspended',
      retry_count: Number(suspended.retry_count),
      journal_size: suspended.journal_size,
      created_at: new Date(suspended.created_at as number).toISOString(),
      completion_retention: 86_400_000,
      suspended_waiting_for_completions: [1, 2],
      // completed_at is NULL: left out of the row, as Restate leaves it out.
      ...(suspended.target_service_key === undefined ? {} : { target_service_key: suspended.target_service_key }),
    });
    expect(Object.keys(inv)).not.toContain('completed_at');
    const nulls = await post(port, JSON.stringify({ query: 'select 1 as one, null as nothing' }), {
      accept: 'application/json',
    });
    expect(Buffer.from(nulls.bytes).toString()).toBe('{"rows":[{"one":1}]}');
    const a = await post(port, JSON.stringify({ query: 'select partition_key, value, value_utf8 from state' }), {
      accept: 'application/json',
    });
    // u64 beyond 2^53 keeps every digit.
    expect(Buffer.from(a.bytes).toString()).toContain('"partition_key":9223372036854775809');
    // Binary as hex, as Restate's JSON (the CLI's `state get` decodes it so).
    expect(a.json.rows[0].value).toBe('3432');
    expect(a.json.rows[0].value_utf8).toBe('42');
  });

  test('Arrow: every sys_invocation column has the Arrow type Restate gives it', async () => {
    const t = await arrow(port, `select * from sys_invocation where id = '${invocations[3].id}'`, ARROW);
    const table = INTROSPECTION_TABLES.find((x) => x.name === 'sys_invocation')!;
    expect(t.schema.fields.map((f) => f.name)).toEqual(table.columns.map(([name]) => name));
    for (const [name, type] of table.columns) expectArrowType(t.schema.fields.find((f) => f.name === name)!, type);
    expect(t.numRows).toBe(1);
    expect(t.getChild('id')!.get(0)).toBe(invocations[3].id);
    expect(Number(t.getChild('created_at')!.get(0))).toBe(invocations[3].created_at);
    expect(t.getChild('retry_count')!.get(0)).toBe(BigInt(invocations[3].retry_count as bigint));
    expect(t.getChild('target_service_key')!.get(0)).toBe(invocations[3].target_service_key);
    expect(t.getChild('completed_at')!.get(0)).toBeNull();
  });

  test('Arrow: binary, booleans, u32 and string lists keep their types too', async () => {
    const j = await arrow(port, 'select * from sys_journal order by index');
    expectArrowType(j.schema.fields.find((f) => f.name === 'raw')!, 'binary');
    expectArrowType(j.schema.fields.find((f) => f.name === 'completed')!, 'bool');
    expectArrowType(j.schema.fields.find((f) => f.name === 'index')!, 'u32');
    expect(j.getChild('completed')!.toArray()).toEqual([true, false]);
    expect([...(j.getChild('raw')!.get(1) as Uint8Array)]).toEqual([1, 2, 3]);
    const d = await arrow(port, 'select services, created_at from sys_deployment');
    expectArrowType(d.schema.fields.find((f) => f.name === 'services')!, 'list_utf8');
    expect([...d.getChild('services')!.get(0)].sort()).toEqual(['Counter', 'Greeter']);
  });

  test('Arrow: an empty answer still carries its schema', async () => {
    const t = await arrow(port, "select id, created_at from sys_invocation where id = 'none'");
    expect(t.numRows).toBe(0);
    expect(t.schema.fields.map((f) => f.name)).toEqual(['id', 'created_at']);
    expectArrowType(t.schema.fields[1], 'timestamp_ms');
  });

  test('computed columns take the nearest Arrow type, and JSON renders them', async () => {
    const query = `select count(*) as n, 7::integer as i, 1.5 as dec, 2::hugeint as h, date '2024-01-02' as d,
      timestamp '2024-01-02 03:04:05.678' as ts, interval 2 days as iv, [interval 1 second] as ivs,
      {'a': 1} as st, 'x' || 'y' as s from sys_service`;
    const t = await arrow(port, query);
    const types = Object.fromEntries(t.schema.fields.map((f) => [f.name, arrowTypeSummary(f.type)]));
    expect(types).toEqual({
      n: { typeId: Type.Int, bitWidth: 64, isSigned: true },
      i: { typeId: Type.Int, bitWidth: 32, isSigned: true },
      dec: { typeId: Type.Float },
      h: { typeId: Type.Int, bitWidth: 64, isSigned: true },
      d: { typeId: Type.Date, unit: 0 },
      ts: { typeId: Type.Timestamp, unit: TimeUnit.MILLISECOND, timezone: null },
      iv: { typeId: Type.Duration, unit: TimeUnit.MILLISECOND },
      ivs: { typeId: Type.List, item: { typeId: Type.Duration, unit: TimeUnit.MILLISECOND } },
      st: { typeId: Type.LargeUtf8 },
      s: { typeId: Type.LargeUtf8 },
    });
    const row = t.get(0)!.toJSON();
    expect(row.d).toBe(Date.UTC(2024, 0, 2));
    expect(row.ts).toBe(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
    expect(row.iv).toBe(172_800_000n);
    expect(await rows(port, query)).toEqual([
      {
        n: 2,
        i: 7,
        dec: 1.5,
        h: 2,
        d: '2024-01-02',
        ts: '2024-01-02T03:04:05.678Z',
        iv: 172_800_000,
        ivs: [1000],
        st: "{'a': 1}",
        s: 'xy',
      },
    ]);
  });

  test('sys_service and sys_deployment come from the schema registry', async () => {
    const dep = s.registry.deployments()[0];
    expect(await rows(port, 'select name, ty, revision, public, deployment_id from sys_service order by name')).toEqual(
      [
        { name: 'Counter', ty: 'virtual_object', revision: 1, public: true, deployment_id: dep.id },
        { name: 'Greeter', ty: 'service', revision: 1, public: true, deployment_id: dep.id },
      ],
    );
    const [d] = await rows(
      port,
      'select id, ty, endpoint, created_at, min_service_protocol_version, max_service_protocol_version from sys_deployment',
    );
    expect(d).toEqual({
      id: dep.id,
      ty: 'http',
      endpoint: 'http://127.0.0.1:9080/',
      created_at: new Date(dep.createdAt).toISOString(),
      min_service_protocol_version: 5,
      max_service_protocol_version: 6,
    });
  });

  test('tables nothing feeds exist and are empty', async () => {
    expect(await rows(port, 'select count(*) as n from sys_promise')).toEqual([{ n: 0 }]);
    expect(await rows(port, 'select * from sys_inbox')).toEqual([]);
  });

  test('a column read only in a filter, or a whole row, is loaded', async () => {
    const n = invocations.filter((r) => Number(r.retry_count) > 5).length;
    expect(await rows(port, 'select count(*) as n from sys_invocation where retry_count > 5')).toEqual([{ n }]);
    const [row] = await rows(
      port,
      `select to_json(inv) as j from sys_invocation inv where id = '${invocations[5].id}'`,
    );
    const whole = JSON.parse(row.j as string);
    expect(whole.target).toBe(invocations[5].target);
    expect(whole.trace_id).toBe(invocations[5].trace_id);
  });

  test('queries at the same time each see their own tables', async () => {
    const counts = syntheticStatusCounts(N);
    const [byStatus, services, suspended, journalRows] = await Promise.all([
      rows(port, 'select status, count(*) as n from sys_invocation group by status'),
      rows(port, 'select count(*) as n from sys_service'),
      rows(port, "select count(*) as n from sys_invocation_status where status = 'suspended'"),
      rows(port, 'select count(*) as n from sys_journal'),
    ]);
    expect(Object.fromEntries(byStatus.map((r) => [r.status, r.n]))).toEqual(counts);
    expect(services).toEqual([{ n: 2 }]);
    expect(suspended).toEqual([{ n: counts.suspended }]);
    expect(journalRows).toEqual([{ n: journal.length }]);
  });

  test('the server keeps answering while a large query loads and renders', async () => {
    const order: string[] = [];
    const big = post(port, JSON.stringify({ query: 'select * from sys_invocation limit 20000' })).then((a) => {
      order.push('query');
      return a;
    });
    await waitFor(() => source.scans.length > 0 && source.scans.at(-1) === 'sys_invocation');
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    order.push('health');
    expect(health.status).toBe(200);
    const answer = await big;
    expect(order).toEqual(['health', 'query']);
    expect(tableFromIPC(answer.bytes).numRows).toBe(20_000);
  });

  test("the restate CLI's DataFusion forms run: FIRST_VALUE aggregates, an unnamed subquery's inner alias", async () => {
    const counts = syntheticStatusCounts(N);
    const oldestInboxed = invocations.filter((r) => r.status === 'inboxed').at(-1)!;
    const status = await rows(
      port,
      `SELECT COUNT(1) as n, MIN(created_at) as oldest_at, FIRST_VALUE(id ORDER BY created_at ASC) as oldest
       FROM sys_invocation_status WHERE status == 'inboxed'`,
    );
    expect(status).toEqual([
      {
        n: counts.inboxed,
        oldest_at: new Date(oldestInboxed.created_at as number).toISOString(),
        oldest: oldestInboxed.id,
      },
    ]);
    const list = await arrow(
      port,
      `SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000 )
       WHERE inv.target_service_name IN ('Service3') AND status != 'completed'`,
    );
    const expected = invocations
      .slice(0, 50_000)
      .filter((r) => r.target_service_name === 'Service3' && r.status !== 'completed').length;
    expect(Number(list.getChildAt(0)!.get(0))).toBe(expected);
  });

  test('the versioned paths answer too', async () => {
    for (const path of ['/v2/query', '/v3/query', '/v4/query']) {
      const t = await arrow(port, 'select count(*) from sys_service', '*/*', path);
      expect(Number(t.getChildAt(0)!.get(0))).toBe(2);
    }
  });

  test('content negotiation: Arrow without accept, JSON on request, 406 for neither', async () => {
    const body = JSON.stringify({ query: 'select 1 as one' });
    const none = await post(port, body);
    expect(none.headers.get('content-type')).toBe(ARROW);
    expect(tableFromIPC(none.bytes).getChild('one')!.get(0)).toBe(1);
    const json = await post(port, body, { accept: 'application/json' });
    expect(json.json).toEqual({ rows: [{ one: 1 }] });
    const html = await post(port, body, { accept: 'text/html' });
    expect(html.status).toBe(406);
    expect(html.json.message).toContain('application/json');
  });

  test('a bad query is a 400 with the engine message, and the server keeps answering', async () => {
    const bad = async (query: string, message: RegExp) => {
      const a = await post(port, JSON.stringify({ query }), { accept: 'application/json' });
      expect(a.status).toBe(400);
      expect(a.json.message).toMatch(message);
      expect(a.json).toHaveProperty('restate_code');
    };
    await bad('selec status from sys_invocation', /^Parser Error: syntax error/);
    await bad('select * from sys_nope', /Catalog Error.*sys_nope/s);
    await bad('select no_such_column from sys_invocation', /Binder Error.*no_such_column/s);
    await bad("select cast('x' as integer)", /Conversion Error/);
    expect(await rows(port, 'select count(*) as n from sys_service')).toEqual([{ n: 2 }]);
  });

  test('only read-only queries run: no writes, settings, files or extensions', async () => {
    const refused = async (query: string, message: RegExp) => {
      const a = await post(port, JSON.stringify({ query }), { accept: 'application/json' });
      expect({ query, status: a.status }).toEqual({ query, status: 400 });
      expect(a.json.message).toMatch(message);
    };
    await refused('DROP TABLE sys_service', /only read-only queries.*DROP/);
    await refused('CREATE TABLE t AS SELECT 1', /only read-only queries/);
    await refused("INSERT INTO sys_service (name) VALUES ('x')", /only read-only queries.*INSERT/);
    // COPY binds its target file when prepared, which is refused before its type is checked.
    await refused("COPY sys_service TO '/tmp/stead-query-test.csv'", /only read-only queries|^Permission Error/);
    await refused('SET threads = 64', /only read-only queries/);
    await refused("ATTACH '/tmp/stead-query-test.db'", /only read-only queries/);
    await refused('INSTALL httpfs', /only read-only queries/);
    await refused('select 1; select 2', /one SQL statement, got 2/);
    await refused("select * from read_csv('/etc/passwd')", /Permission Error|disabled/);
    await refused("select * from read_text('/etc/hostname')", /Permission Error|disabled/);
    await refused("select * from 'file:///etc/passwd'", /Permission Error|disabled|Catalog Error/);
    expect(await rows(port, 'select count(*) as n from sys_service')).toEqual([{ n: 2 }]);
  });

  test('malformed bodies: 400 or 415 with a message', async () => {
    const notJson = await post(port, '{"query": ');
    expect(notJson.status).toBe(400);
    expect(notJson.json.message).toMatch(/JSON/);
    const wrongType = await post(port, JSON.stringify({ query: 'select 1' }), { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    for (const body of [{ q: 'select 1' }, { query: 7 }, [], { query: '   ' }]) {
      const a = await post(port, JSON.stringify(body));
      expect(a.status).toBe(400);
      expect(a.json.message).toMatch(/query/);
    }
  });
});

describe('POST /query limits', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  const start = async (source: IntrospectionSource, limits: Omit<QueryRouteOptions, 'source'>) => {
    const s = await serve(source, limits);
    cleanups.push(s.close);
    return s.admin.port;
  };

  test('a table longer than maxRowsPerTable is cut there, and the answer says so', async () => {
    const port = await start(memorySource({ sys_invocation: invocations.slice(0, 1500) }, 100), {
      maxRowsPerTable: 1000,
    });
    const a = await post(port, JSON.stringify({ query: 'select count(*) as n from sys_invocation' }), {
      accept: 'application/json',
    });
    expect(a.json).toEqual({ rows: [{ n: 1000 }] });
    expect(a.headers.get('x-stead-truncated-tables')).toBe('sys_invocation; limit=1000');
    // A table exactly at the limit is not cut.
    const b = await post(port, JSON.stringify({ query: 'select count(*) as n from sys_service' }));
    expect(b.headers.get('x-stead-truncated-tables')).toBeNull();
  });

  test('an answer longer than maxResultRows is cut there, and says so', async () => {
    const port = await start(memorySource({ sys_invocation: invocations.slice(0, 5000) }), { maxResultRows: 2100 });
    const a = await post(port, JSON.stringify({ query: 'select id from sys_invocation' }), { accept: ARROW });
    expect(tableFromIPC(a.bytes).numRows).toBe(2100);
    expect(a.headers.get('x-stead-truncated-result')).toBe('limit=2100');
    const b = await post(port, JSON.stringify({ query: 'select id from sys_invocation limit 2100' }));
    expect(tableFromIPC(b.bytes).numRows).toBe(2100);
    expect(b.headers.get('x-stead-truncated-result')).toBeNull();
  });

  test('a query running past timeoutMs is interrupted, and the next one runs', async () => {
    const port = await start(memorySource({}), { timeoutMs: 500 });
    const began = Date.now();
    const a = await post(port, JSON.stringify({ query: 'select count(*) from range(1000000000000) a' }));
    expect(a.status).toBe(400);
    expect(a.json.message).toContain('longer than its limit of 500 ms');
    expect(Date.now() - began).toBeLessThan(5000);
    expect((await post(port, JSON.stringify({ query: 'select 1' }))).status).toBe(200);
  });

  test('a query stopped at the timeout while loading or reading answers an error, never a short answer', async () => {
    const port = await start(memorySource({ sys_invocation: invocations }), { timeoutMs: 300 });
    const a = await post(port, JSON.stringify({ query: 'select * from sys_invocation' }));
    expect(a.status).toBe(400);
    expect(a.json.message).toContain('longer than its limit of 300 ms');
  });

  test('a source that does not answer is abandoned at the timeout', async () => {
    let aborted = false;
    const stuck: IntrospectionSource = {
      async *scan(_table, opts) {
        await new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve()));
        aborted = true;
        opts.signal?.throwIfAborted();
      },
    };
    const port = await start(stuck, { timeoutMs: 300 });
    const a = await post(port, JSON.stringify({ query: 'select count(*) from sys_journal' }));
    expect(a.status).toBe(400);
    expect(a.json.message).toContain('longer than its limit of 300 ms');
    expect(aborted).toBe(true);
  });

  /** A source whose scans wait until `release()`; `scans` counts started scans, `releasedFirst` checks order. */
  function gatedSource() {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let isReleased = false;
    const state = { scans: 0, scansBeforeRelease: 0 };
    const source: IntrospectionSource = {
      async *scan() {
        state.scans++;
        if (!isReleased) state.scansBeforeRelease++;
        await released;
        yield [{ id: 'inv_1' }];
      },
    };
    const open = () => {
      isReleased = true;
      release();
    };
    return { source, state, release: open };
  }

  test('past maxConcurrentQueries + maxQueuedQueries a query gets 503 with retry-after', async () => {
    const gated = gatedSource();
    const port = await start(gated.source, { maxConcurrentQueries: 1, maxQueuedQueries: 0, timeoutMs: 20_000 });
    const body = JSON.stringify({ query: 'select count(*) as n from sys_journal' });
    const first = post(port, body, { accept: 'application/json' });
    await waitFor(() => gated.state.scans === 1, { timeoutMs: 5000 });
    const second = await post(port, body, { accept: 'application/json' });
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(second.json.message).toMatch(/too many SQL queries/);
    gated.release();
    expect((await first).json).toEqual({ rows: [{ n: 1 }] });
  });

  test('a queued query waits for a running one to finish, then runs', async () => {
    const gated = gatedSource();
    const port = await start(gated.source, { maxConcurrentQueries: 1, maxQueuedQueries: 4, timeoutMs: 20_000 });
    const body = JSON.stringify({ query: 'select count(*) as n from sys_journal' });
    const first = post(port, body, { accept: 'application/json' });
    await waitFor(() => gated.state.scans === 1, { timeoutMs: 5000 });
    const second = post(port, body, { accept: 'application/json' });
    gated.release();
    expect((await first).json).toEqual({ rows: [{ n: 1 }] });
    expect((await second).json).toEqual({ rows: [{ n: 1 }] });
    // The second scanned only once the first had been let go: it was not running alongside.
    expect(gated.state).toEqual({ scans: 2, scansBeforeRelease: 1 });
  });

  test('a query needing more than memoryLimitBytes fails with 400, and the next one runs', async () => {
    const port = await start(memorySource({}), { memoryLimitBytes: 32 * 1024 * 1024 });
    const a = await post(port, JSON.stringify({ query: "select list(range::varchar || 'x') from range(20000000)" }));
    expect(a.status).toBe(400);
    expect(a.json.message).toMatch(/memory/i);
    expect((await post(port, JSON.stringify({ query: 'select 1' }))).status).toBe(200);
  });

  test("a source's failure is answered with its status and the table's name", async () => {
    const err = Object.assign(new Error('partition 3 has no leader'), { status: 503 });
    const failing: IntrospectionSource = {
      scan: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) }),
    };
    const port = await start(failing, {});
    const a = await post(port, JSON.stringify({ query: 'select * from state' }));
    expect(a.status).toBe(503);
    expect(a.json.message).toBe('reading table state failed: partition 3 has no leader');
  });
});

/** Restate's Arrow type of each introspection column type, as `arrowTypeSummary` describes a type. */
const RESTATE_ARROW_TYPES: Record<string, object> = {
  utf8: { typeId: Type.LargeUtf8 },
  u64: { typeId: Type.Int, bitWidth: 64, isSigned: false },
  u32: { typeId: Type.Int, bitWidth: 32, isSigned: false },
  bool: { typeId: Type.Bool },
  binary: { typeId: Type.LargeBinary },
  timestamp_ms: { typeId: Type.Timestamp, unit: TimeUnit.MILLISECOND, timezone: '+00:00' },
  duration_ms: { typeId: Type.Duration, unit: TimeUnit.MILLISECOND },
  list_u32: { typeId: Type.List, item: { typeId: Type.Int, bitWidth: 32, isSigned: false } },
  list_utf8: { typeId: Type.List, item: { typeId: Type.LargeUtf8 } },
};

function arrowTypeSummary(type: any): object {
  const out: Record<string, unknown> = { typeId: type.typeId };
  for (const key of ['bitWidth', 'isSigned', 'unit', 'timezone']) if (type[key] !== undefined) out[key] = type[key];
  if (type.typeId === Type.List) out.item = arrowTypeSummary(type.children[0].type);
  return out;
}

/** Checks an Arrow field against Restate's type for an introspection column type. */
function expectArrowType(field: Field, type: string): void {
  expect({ field: field.name, ...arrowTypeSummary(field.type) }).toEqual({
    field: field.name,
    ...RESTATE_ARROW_TYPES[type],
  });
}
