// Every query the restate CLI 1.7 sends to POST /query (fixtures/restate-cli-queries.sql, captured from the real
// CLI) runs on the engine: DuckDB in Restate's DataFusion dialect, over in-memory tables. The end-to-end test
// (e2e/test/restate-cli.test.ts) checks what the CLI makes of the answers.
import { readFileSync } from 'node:fs';
import { memorySource, syntheticInvocations } from '@stead/testing';
import { QueryEngine } from '../src/query/index.ts';

const FIXTURE = new URL('./fixtures/restate-cli-queries.sql', import.meta.url);

/** The fixture's queries: each follows a `-- restate <command> (accept: ...)` line, up to the next one. */
function cliQueries(): { command: string; sql: string }[] {
  const text = readFileSync(FIXTURE, 'utf8');
  const parts = text.split(/^-- (restate .*)$/m).slice(1);
  const out: { command: string; sql: string }[] = [];
  for (let i = 0; i < parts.length; i += 2) out.push({ command: parts[i], sql: parts[i + 1].trim() });
  return out;
}

const queries = cliQueries();
const invocations = syntheticInvocations(300);

describe('the queries of the restate CLI', () => {
  let engine: QueryEngine;
  beforeAll(() => {
    const text = (s: string) => new TextEncoder().encode(s);
    engine = new QueryEngine(
      memorySource({
        sys_invocation: invocations,
        sys_invocation_status: invocations,
        state: [
          { service_name: 'Counter', service_key: 'a', key: 'v', value: text('5'), partition_key: 1n },
          { service_name: 'Counter', service_key: 'b', key: 'v', value: text('7'), partition_key: 2n },
        ],
      }),
    );
  });
  afterAll(() => engine.close());

  it('are all in the fixture', () => {
    expect(queries.length).toBeGreaterThanOrEqual(30);
    for (const q of queries) expect(q.sql).toMatch(/^(SELECT|select|WITH)\b/);
  });

  it.each(queries.map((q, i) => [`${i} ${q.command}`, q.sql] as const))('runs: %s', async (_name, sql) => {
    const answer = await engine.answer(sql);
    expect(answer.fields.length).toBeGreaterThan(0);
  });

  it('answer what the CLI expects of them', async () => {
    const byText = (needle: string) => {
      const q = queries.find((x) => x.sql.includes(needle));
      if (q === undefined) throw new Error(`no fixture query contains ${needle}`);
      return q.sql;
    };
    const count = await engine.answer(byText("column_name IN ('idempotency_key')"));
    expect(count.batches[0].columns[0][0]).toBe(1n); // the CLI asks for the idempotency_key column
    const state = await engine.answer(byText("select key, value from state where service_name = 'Counter'"));
    expect(state.rowCount).toBe(1);
    const list = await engine.answer(byText('RIGHT JOIN invocations inv'));
    expect(list.fields.map((f) => f.name)).toEqual(expect.arrayContaining(['id', 'pinned_deployment_exists']));
    expect(list.rowCount).toBeGreaterThan(0);
  });
});
