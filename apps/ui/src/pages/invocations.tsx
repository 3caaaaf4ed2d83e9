import { useEffect, useMemo, useState } from 'preact/hooks';
import { query, services } from '../api.ts';
import { ErrorBox, InvocationLink, StatusBadge } from '../components.tsx';
import { formatTime, parseLocalDateTime, relative, toLocalDateTime, toMs, toNum, toStr } from '../format.ts';
import { useLoad, useNow } from '../hooks.ts';
import { navigate, type Route } from '../router.ts';
import {
  filterToParams,
  type InvocationFilter,
  invocationCountQuery,
  invocationPageQuery,
  paramsToFilter,
  STATUSES,
} from '../sql.ts';

const PAGE_SIZE = 25;

async function loadPage(filter: InvocationFilter, page: number) {
  const [rows, count] = await Promise.all([
    query(invocationPageQuery(filter, page, PAGE_SIZE)),
    query(invocationCountQuery(filter)),
  ]);
  return { rows: rows.slice(0, PAGE_SIZE), more: rows.length > PAGE_SIZE, total: toNum(count[0]?.n) ?? 0 };
}

/** The filter form; applying it changes the URL, which the list follows. */
function Filters(props: { filter: InvocationFilter }) {
  const svc = useLoad(services, []);
  const [f, setF] = useState<InvocationFilter>(props.filter);
  useEffect(() => setF(props.filter), [props.filter]);
  const handlers = svc.data?.find((s) => s.name === f.service)?.handlers ?? [];
  const apply = (e: Event) => {
    e.preventDefault();
    navigate(`/invocations?${filterToParams(f)}`);
  };
  const toggle = (s: string) => {
    const cur = new Set(f.status ?? []);
    if (cur.has(s)) cur.delete(s);
    else cur.add(s);
    setF({ ...f, status: STATUSES.filter((x) => cur.has(x)) });
  };
  return (
    <form class="filters" onSubmit={apply} data-testid="filters">
      <label>
        Service
        <select
          name="service"
          value={f.service ?? ''}
          onChange={(e) => setF({ ...f, service: e.currentTarget.value || undefined, handler: undefined })}
        >
          <option value="">any</option>
          {(svc.data ?? []).map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Handler
        <select
          name="handler"
          value={f.handler ?? ''}
          disabled={!f.service}
          onChange={(e) => setF({ ...f, handler: e.currentTarget.value || undefined })}
        >
          <option value="">any</option>
          {handlers.map((h) => (
            <option key={h.name} value={h.name}>
              {h.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Key
        <input
          name="key"
          value={f.key ?? ''}
          placeholder="object or workflow key"
          onInput={(e) => setF({ ...f, key: e.currentTarget.value || undefined })}
        />
      </label>
      <label>
        Id
        <input
          name="id"
          value={f.id ?? ''}
          placeholder="inv_1… (prefix)"
          onInput={(e) => setF({ ...f, id: e.currentTarget.value.trim() || undefined })}
        />
      </label>
      <label>
        Created from
        <input
          name="from"
          type="datetime-local"
          step="1"
          value={toLocalDateTime(f.createdFromMs)}
          onInput={(e) => setF({ ...f, createdFromMs: parseLocalDateTime(e.currentTarget.value) })}
        />
      </label>
      <label>
        to
        <input
          name="to"
          type="datetime-local"
          step="1"
          value={toLocalDateTime(f.createdToMs)}
          onInput={(e) => setF({ ...f, createdToMs: parseLocalDateTime(e.currentTarget.value) })}
        />
      </label>
      <fieldset class="statuses">
        <legend>Status</legend>
        {STATUSES.map((s) => (
          <label key={s} class="check">
            <input type="checkbox" name="status" value={s} checked={f.status?.includes(s)} onChange={() => toggle(s)} />
            {s}
          </label>
        ))}
      </fieldset>
      <div class="buttons">
        <button type="submit" class="primary">
          Apply
        </button>
        <button type="button" onClick={() => navigate('/invocations')}>
          Clear
        </button>
      </div>
    </form>
  );
}

export function Invocations(props: { route: Route }) {
  const search = props.route.params.toString();
  // Parsed once per query string, so that the form keeps its edits while the list refreshes.
  const parsed = useMemo(() => paramsToFilter(new URLSearchParams(search)), [search]);
  const list = useLoad(() => loadPage(parsed.filter, parsed.page), [search], 5000);
  const now = useNow();
  const go = (p: number) => navigate(`/invocations?${filterToParams(parsed.filter, p)}`);
  const first = parsed.page * PAGE_SIZE;
  return (
    <div class="page">
      <h1>Invocations</h1>
      <Filters filter={parsed.filter} />
      <ErrorBox error={list.error} what="Query" />
      <table class="grid invocations" data-testid="invocations">
        <thead>
          <tr>
            <th>Invocation</th>
            <th>Target</th>
            <th>Status</th>
            <th>Created</th>
            <th>Modified</th>
            <th>Retries</th>
            <th>Last failure</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.rows ?? []).map((r) => {
            const id = toStr(r.id) ?? '';
            const retries = toNum(r.retry_count) ?? 0;
            return (
              <tr key={id} data-id={id}>
                <td>
                  <InvocationLink id={id} />
                </td>
                <td class="mono">{toStr(r.target)}</td>
                <td>
                  <StatusBadge status={r.status} result={r.completion_result} />
                </td>
                <td title={formatTime(toMs(r.created_at))}>{relative(toMs(r.created_at), now)}</td>
                <td title={formatTime(toMs(r.modified_at))}>{relative(toMs(r.modified_at), now)}</td>
                <td class={retries > 0 ? 'warn' : undefined}>{retries > 0 ? retries : ''}</td>
                <td class="failure-cell" title={toStr(r.last_failure)}>
                  {toStr(r.last_failure)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {list.data && list.data.rows.length === 0 ? <p class="muted">No invocation matches.</p> : null}
      <div class="pager">
        <button type="button" disabled={parsed.page === 0} onClick={() => go(parsed.page - 1)}>
          ← Newer
        </button>
        <span data-testid="page-info">
          {list.data
            ? `${list.data.total === 0 ? 0 : first + 1}–${first + list.data.rows.length} of ${list.data.total}`
            : 'loading…'}
        </span>
        <button type="button" disabled={!list.data?.more} onClick={() => go(parsed.page + 1)}>
          Older →
        </button>
      </div>
    </div>
  );
}
