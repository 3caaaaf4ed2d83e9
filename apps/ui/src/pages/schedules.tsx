import { useState } from 'preact/hooks';
import { type Schedule, scheduleAction, schedules } from '../api.ts';
import { type Confirmation, ConfirmDialog, ErrorBox, Link } from '../components.tsx';
import { useLoad } from '../hooks.ts';
import { filterToParams } from '../sql.ts';

const targetOf = (s: Schedule) =>
  `${s.target.service}${s.target.key === undefined ? '' : `/${s.target.key}`}/${s.target.handler}`;

/** Durable cron schedules (beyond Restate): each row with its next tick and counts; pause, resume, delete. */
export function Schedules() {
  const list = useLoad(schedules, [], 2000);
  const [ask, setAsk] = useState<Confirmation>();
  const act = (s: Schedule, action: 'pause' | 'resume' | 'delete') => {
    if (action !== 'delete') {
      scheduleAction(s.id, action).then(list.reload, list.reload);
      return;
    }
    setAsk({
      title: `Delete schedule ${s.id}?`,
      body: <p>No tick fires after this; an invocation already started goes on.</p>,
      confirmLabel: 'Delete',
      danger: true,
      onConfirm: async () => {
        await scheduleAction(s.id, 'delete');
        list.reload();
      },
    });
  };
  return (
    <div class="page">
      <h1>Schedules</h1>
      <ErrorBox error={list.error} />
      <table class="grid" data-testid="schedules">
        <thead>
          <tr>
            <th>Id</th>
            <th>Cron</th>
            <th>Target</th>
            <th>Overlap</th>
            <th>Next tick</th>
            <th>Last invocation</th>
            <th>Fired / skipped / late</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(list.data ?? []).map((s) => (
            <tr key={s.id} data-schedule={s.id}>
              <td class="mono">{s.id}</td>
              <td class="mono">
                {s.cron} <span class="muted">{s.timeZone}</span>
              </td>
              <td>
                <Link to={`/invocations?${filterToParams({ service: s.target.service })}`} class="mono">
                  {targetOf(s)}
                </Link>
              </td>
              <td>{s.overlap}</td>
              <td class="mono">{s.nextFireTimes[0] ?? '-'}</td>
              <td class="mono">
                {s.lastInvocationId ? (
                  <Link to={`/invocations/${encodeURIComponent(s.lastInvocationId)}`}>{s.lastInvocationId}</Link>
                ) : (
                  '-'
                )}
              </td>
              <td>
                {s.fired} / {s.skipped} / {s.late}
              </td>
              <td>
                <span class={`tag ${s.paused ? 'pending' : 'done'}`}>{s.paused ? 'paused' : 'active'}</span>
              </td>
              <td class="actions">
                <button
                  type="button"
                  data-action={s.paused ? 'resume' : 'pause'}
                  onClick={() => act(s, s.paused ? 'resume' : 'pause')}
                >
                  {s.paused ? 'Resume' : 'Pause'}
                </button>
                <button type="button" class="danger-outline" data-action="delete" onClick={() => act(s, 'delete')}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data?.length === 0 ? (
        <p class="muted">
          No schedule yet. Create one with <span class="mono">stead schedules create</span> or{' '}
          <span class="mono">POST /schedules</span>.
        </p>
      ) : null}
      <ConfirmDialog ask={ask} onClose={() => setAsk(undefined)} />
    </div>
  );
}
