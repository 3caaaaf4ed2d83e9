import { useMemo } from 'preact/hooks';
import { query, services } from '../api.ts';
import { ErrorBox, InvocationLink, Link, StatusBadge } from '../components.tsx';
import { type Row, toNum, toStr } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { navigate, type Route } from '../router.ts';
import { filterToParams, int, lit } from '../sql.ts';

const MAX_ROWS = 500;

interface KeyView {
  key: string;
  state: Row[];
  holder?: Row;
  queued: number;
}

/** Per key of a service: its state entries, the invocation holding its lock and how many wait in its queue. */
async function loadKeys(service: string, key: string | undefined): Promise<KeyView[]> {
  const where = (alias = '') =>
    `${alias}service_name = ${lit(service)}${key ? ` AND ${alias}service_key = ${lit(key)}` : ''}`;
  const [state, locks, queues] = await Promise.all([
    query(
      `SELECT service_key, key, value_utf8, value_length FROM state WHERE ${where()} ` +
        `ORDER BY service_key, key LIMIT ${int(MAX_ROWS)}`,
    ),
    query(
      `SELECT k.service_key, k.invocation_id, i.status, i.target FROM sys_keyed_service_status k ` +
        `LEFT JOIN sys_invocation i ON i.id = k.invocation_id WHERE ${where('k.')}`,
    ),
    query(`SELECT service_key, count(*) AS n FROM sys_inbox WHERE ${where()} GROUP BY service_key`),
  ]);
  const keys = new Map<string, KeyView>();
  const view = (k: string) => {
    let v = keys.get(k);
    if (!v) {
      v = { key: k, state: [], queued: 0 };
      keys.set(k, v);
    }
    return v;
  };
  for (const r of state) view(toStr(r.service_key) ?? '').state.push(r);
  for (const r of locks) view(toStr(r.service_key) ?? '').holder = r;
  for (const r of queues) view(toStr(r.service_key) ?? '').queued = toNum(r.n) ?? 0;
  return [...keys.values()].sort((a, b) => a.key.localeCompare(b.key));
}

export function StatePage(props: { route: Route }) {
  const service = props.route.params.get('service') ?? '';
  const key = props.route.params.get('key') ?? undefined;
  const svc = useLoad(services, []);
  const keyed = useMemo(() => (svc.data ?? []).filter((s) => s.ty !== 'Service'), [svc.data]);
  const chosen = service || keyed[0]?.name || '';
  const keys = useLoad(async () => (chosen ? loadKeys(chosen, key) : []), [chosen, key], 5000);
  const go = (s: string, k?: string) =>
    navigate(`/state?${new URLSearchParams({ service: s, ...(k ? { key: k } : {}) })}`);
  return (
    <div class="page">
      <h1>Object state</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          go(String(f.get('service')), String(f.get('key') ?? '') || undefined);
        }}
      >
        <label>
          Virtual object or workflow
          <select name="service" value={chosen} onChange={(e) => go(e.currentTarget.value)}>
            {keyed.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Key
          <input name="key" defaultValue={key ?? ''} placeholder="all keys" />
        </label>
        <div class="buttons">
          <button type="submit" class="primary">
            Show
          </button>
        </div>
      </form>
      <ErrorBox error={svc.error ?? keys.error} />
      {svc.data && keyed.length === 0 ? <p class="muted">No virtual object or workflow is registered.</p> : null}
      <div class="keys" data-testid="state">
        {(keys.data ?? []).map((k) => (
          <section class="panel key" key={k.key} data-key={k.key}>
            <h2 class="mono">{k.key}</h2>
            <p>
              {k.holder ? (
                <>
                  Locked by <InvocationLink id={toStr(k.holder.invocation_id) ?? ''} />{' '}
                  <StatusBadge status={k.holder.status} /> <span class="mono">{toStr(k.holder.target)}</span>
                </>
              ) : (
                <span class="muted">Not locked.</span>
              )}{' '}
              {k.queued > 0 ? (
                <Link to={`/invocations?${filterToParams({ service: chosen, key: k.key, status: ['pending'] })}`}>
                  {k.queued} queued
                </Link>
              ) : null}
              {' · '}
              <Link to={`/invocations?${filterToParams({ service: chosen, key: k.key })}`}>
                all invocations of this key
              </Link>
            </p>
            {k.state.length > 0 ? (
              <table class="grid">
                <thead>
                  <tr>
                    <th>State key</th>
                    <th>Value</th>
                    <th>Bytes</th>
                  </tr>
                </thead>
                <tbody>
                  {k.state.map((r) => (
                    <tr key={toStr(r.key)}>
                      <td class="mono">{toStr(r.key)}</td>
                      <td class="mono value">{toStr(r.value_utf8) ?? <span class="muted">(binary)</span>}</td>
                      <td>{toNum(r.value_length)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No state.</p>
            )}
          </section>
        ))}
        {keys.data?.length === 0 && chosen ? (
          <p class="muted">No key of {chosen} has state, a lock or a queue.</p>
        ) : null}
      </div>
    </div>
  );
}
