import { useState } from 'preact/hooks';
import { query } from '../api.ts';
import { ErrorBox, RowsTable } from '../components.tsx';
import type { Row } from '../format.ts';
import { navigate, type Route } from '../router.ts';

const EXAMPLES: [string, string][] = [
  ['Invocations by status', 'SELECT status, count(*) AS n FROM sys_invocation GROUP BY status ORDER BY n DESC'],
  [
    'Retrying invocations',
    'SELECT id, target, retry_count, last_failure, next_retry_at FROM sys_invocation WHERE retry_count > 0 ORDER BY retry_count DESC LIMIT 50',
  ],
  [
    'Locked keys',
    'SELECT service_name, service_key, invocation_id FROM sys_keyed_service_status ORDER BY service_name, service_key',
  ],
  ['Queued invocations', 'SELECT service_name, service_key, id, created_at FROM sys_inbox ORDER BY sequence_number'],
  ['State', 'SELECT service_name, service_key, key, value_utf8 FROM state LIMIT 100'],
  ['Tables and columns', 'SELECT table_name, column_name, data_type FROM information_schema.columns'],
];

export function SqlConsole(props: { route: Route }) {
  const initial = props.route.params.get('q') ?? EXAMPLES[0][1];
  const [text, setText] = useState(initial);
  const [result, setResult] = useState<{ rows: Row[]; ms: number }>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    navigate(`/sql?${new URLSearchParams({ q: text })}`, true);
    const started = performance.now();
    try {
      const rows = await query(text);
      setResult({ rows, ms: Math.round(performance.now() - started) });
    } catch (err) {
      setError(err as Error);
      setResult(undefined);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="page">
      <h1>SQL</h1>
      <p class="muted">
        Queries run on the admin API (<span class="mono">POST /query</span>) over Restate's introspection tables.
        Ctrl+Enter runs.
      </p>
      <div class="examples">
        {EXAMPLES.map(([label, sql]) => (
          <button key={label} type="button" class="link" onClick={() => setText(sql)}>
            {label}
          </button>
        ))}
      </div>
      <textarea
        class="sql"
        name="sql"
        rows={6}
        spellcheck={false}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            void run();
          }
        }}
      />
      <div class="buttons">
        <button type="button" class="primary" onClick={run} disabled={busy} data-testid="run-sql">
          {busy ? 'Running…' : 'Run'}
        </button>
        {result ? (
          <span class="muted" data-testid="sql-summary">
            {result.rows.length} row(s) in {result.ms} ms
          </span>
        ) : null}
      </div>
      <ErrorBox error={error} what="Query failed" />
      {result ? <RowsTable rows={result.rows} /> : null}
    </div>
  );
}
