import { query } from '../api.ts';
import { ErrorBox, Link } from '../components.tsx';
import { toStr } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { filterToParams } from '../sql.ts';

const PROMISES =
  'SELECT service_name, service_key, key, completed, completion_success_value_utf8, completion_failure ' +
  'FROM sys_promise ORDER BY service_name, service_key, key LIMIT 500';

export function Promises() {
  const rows = useLoad(() => query(PROMISES), [], 5000);
  return (
    <div class="page">
      <h1>Workflow promises</h1>
      <ErrorBox error={rows.error} />
      <table class="grid" data-testid="promises">
        <thead>
          <tr>
            <th>Workflow</th>
            <th>Key</th>
            <th>Promise</th>
            <th>State</th>
            <th>Value or failure</th>
          </tr>
        </thead>
        <tbody>
          {(rows.data ?? []).map((r) => {
            const service = toStr(r.service_name) ?? '';
            const key = toStr(r.service_key) ?? '';
            return (
              <tr key={`${service}/${key}/${toStr(r.key)}`}>
                <td>{service}</td>
                <td>
                  <Link to={`/invocations?${filterToParams({ service, key })}`} class="mono">
                    {key}
                  </Link>
                </td>
                <td class="mono">{toStr(r.key)}</td>
                <td>
                  <span class={`tag ${r.completed ? 'done' : 'pending'}`}>{r.completed ? 'completed' : 'pending'}</span>
                </td>
                <td class="mono value">{toStr(r.completion_success_value_utf8) ?? toStr(r.completion_failure)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {rows.data?.length === 0 ? <p class="muted">No workflow promise yet.</p> : null}
    </div>
  );
}
