import { deployments, query, services } from '../api.ts';
import { ErrorBox, Link, StatusBadge } from '../components.tsx';
import { formatTime, toMs, toNum, toStr } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { filterToParams, STATUSES } from '../sql.ts';

const COUNTS = 'SELECT target_service_name AS service, status, count(*) AS n FROM sys_invocation GROUP BY 1, 2';

const listLink = (f: { service?: string; status?: string }) =>
  `/invocations?${filterToParams({ service: f.service, status: f.status ? [f.status] : [] })}`;

/** Invocation counts: per status, and per service and status. */
async function loadCounts() {
  const rows = await query(COUNTS);
  const byStatus = new Map<string, number>();
  const byService = new Map<string, Map<string, number>>();
  for (const r of rows) {
    const status = toStr(r.status) ?? 'unknown';
    const service = toStr(r.service) ?? '';
    const n = toNum(r.n) ?? 0;
    byStatus.set(status, (byStatus.get(status) ?? 0) + n);
    const m = byService.get(service) ?? new Map<string, number>();
    m.set(status, n);
    byService.set(service, m);
  }
  return { byStatus, byService };
}

function StatusCounts(props: { byStatus: Map<string, number> }) {
  const total = [...props.byStatus.values()].reduce((a, b) => a + b, 0);
  const known = new Set<string>(STATUSES);
  const statuses = [...STATUSES, ...[...props.byStatus.keys()].filter((s) => !known.has(s))];
  return (
    <div class="counts" data-testid="status-counts">
      <Link to="/invocations" class="count total">
        <span class="n">{total}</span>
        <span class="label">invocations</span>
      </Link>
      {statuses.map((s) => (
        <Link key={s} to={listLink({ status: s })} class={`count status-${s}`}>
          <span class="n" data-count={s}>
            {props.byStatus.get(s) ?? 0}
          </span>
          <span class="label">{s}</span>
        </Link>
      ))}
    </div>
  );
}

export function Overview() {
  const counts = useLoad(loadCounts, [], 5000);
  const svc = useLoad(services, []);
  const deps = useLoad(deployments, []);
  return (
    <div class="page">
      <h1>Overview</h1>
      <ErrorBox error={counts.error} what="Invocation counts" />
      {counts.data ? <StatusCounts byStatus={counts.data.byStatus} /> : null}

      <h2>Services</h2>
      <ErrorBox error={svc.error} what="Services" />
      <table class="grid" data-testid="services">
        <thead>
          <tr>
            <th>Service</th>
            <th>Type</th>
            <th>Handlers</th>
            <th>Revision</th>
            <th>Deployment</th>
            <th>Invocations</th>
          </tr>
        </thead>
        <tbody>
          {(svc.data ?? []).map((s) => {
            const mine = counts.data?.byService.get(s.name);
            return (
              <tr key={s.name}>
                <td>
                  <Link to={listLink({ service: s.name })}>{s.name}</Link>
                </td>
                <td>{s.ty}</td>
                <td>{s.handlers.map((h) => h.name).join(', ')}</td>
                <td>{s.revision}</td>
                <td class="mono small">{s.deployment_id}</td>
                <td>
                  {[...(mine ?? new Map<string, number>())].map(([status, n]) => (
                    <Link key={status} to={listLink({ service: s.name, status })} class="chip">
                      <StatusBadge status={status} /> {n}
                    </Link>
                  ))}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {svc.data?.length === 0 ? <p class="muted">No services yet: register a deployment.</p> : null}

      <h2>Deployments</h2>
      <ErrorBox error={deps.error} what="Deployments" />
      <table class="grid" data-testid="deployments">
        <thead>
          <tr>
            <th>Deployment</th>
            <th>Endpoint</th>
            <th>Created</th>
            <th>Services</th>
          </tr>
        </thead>
        <tbody>
          {(deps.data ?? []).map((d) => (
            <tr key={d.id}>
              <td class="mono small">{d.id}</td>
              <td class="mono small">{d.uri ?? ''}</td>
              <td>{formatTime(toMs(d.created_at))}</td>
              <td>{d.services.map((s) => `${s.name} (rev ${s.revision})`).join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
