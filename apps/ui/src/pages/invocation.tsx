import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ACTIONS, type Action, invocationAction, query } from '../api.ts';
import { type CallNode, type CallTree, loadCallTree, stuckIds } from '../calltree.ts';
import {
  type Confirmation,
  ConfirmDialog,
  ErrorBox,
  Facts,
  InvocationLink,
  Link,
  Panel,
  StatusBadge,
} from '../components.tsx';
import { formatDuration, formatTime, prettyJson, type Row, relative, toMs, toNum, toStr } from '../format.ts';
import { useLoad, useNow } from '../hooks.ts';
import { awaited, buildTimeline, type Failure, failureOf, type TimelineItem } from '../journal.ts';
import {
  calleesQuery,
  filterToParams,
  inboxQuery,
  invocationQuery,
  journalEventsQuery,
  journalQuery,
  lockHolderQuery,
} from '../sql.ts';

interface Loaded {
  inv?: Row;
  journal: Row[];
  events: Row[];
  callees: Map<string, Row>;
}

async function load(id: string): Promise<Loaded> {
  const [inv, journal, events, callees] = await Promise.all([
    query(invocationQuery(id)),
    query(journalQuery(id)),
    query(journalEventsQuery(id)),
    query(calleesQuery([id])),
  ]);
  return {
    inv: inv[0],
    journal,
    events,
    callees: new Map(callees.map((r) => [toStr(r.invoked_id) ?? '', r])),
  };
}

const ACTION_TEXT: Record<Action, { label: string; danger: boolean; what: string }> = {
  cancel: {
    label: 'Cancel',
    danger: true,
    what: 'The handler gets a cancellation at its next await and may run its compensations; the calls it waits on are cancelled too. Its caller receives a failure.',
  },
  kill: {
    label: 'Kill',
    danger: true,
    what: 'Stops it at once without running any more of its code, nor compensations; its callees are killed too. Use it only when cancel does not help.',
  },
  pause: {
    label: 'Pause',
    danger: false,
    what: 'Stops it after its current attempt; nothing runs until it is resumed.',
  },
  resume: {
    label: 'Resume',
    danger: false,
    what: 'Runs it again from its journal (a paused invocation, or one waiting to retry).',
  },
  'restart-as-new': {
    label: 'Restart as new',
    danger: false,
    what: 'Starts a new invocation of the same handler with the same input; this one stays as it is. From a journal entry above 0, the new one also starts with this journal up to that entry (and the results of the steps in it), so those steps are replayed, not run again.',
  },
  purge: {
    label: 'Purge',
    danger: true,
    what: 'Deletes this completed invocation with its journal and result; its idempotency key or workflow key can be used again.',
  },
};

/** Whether an action applies to an invocation in `status`. */
function applies(action: Action, status: string): boolean {
  const done = status === 'completed';
  switch (action) {
    case 'cancel':
    case 'kill':
      return !done;
    case 'pause':
      return !done && status !== 'paused';
    case 'resume':
      return status === 'paused' || status === 'suspended' || status === 'backing-off';
    case 'restart-as-new':
    case 'purge':
      return done;
  }
}

/** restart-as-new's choices: the journal entry to start from (0: the input only) and, from a prefix, the deployment. */
function RestartChoices(props: { journalSize: number; choice: { from: string; deployment: string } }) {
  const { choice } = props;
  return (
    <div class="restart-choices">
      <label>
        From journal entry{' '}
        <input
          type="number"
          min={0}
          max={Math.max(0, props.journalSize - 1)}
          value={choice.from}
          data-testid="restart-from"
          onInput={(e) => {
            choice.from = (e.target as HTMLInputElement).value;
          }}
        />
      </label>{' '}
      <label>
        on deployment{' '}
        <select
          data-testid="restart-deployment"
          onChange={(e) => {
            choice.deployment = (e.target as HTMLSelectElement).value;
          }}
        >
          <option value="latest">latest</option>
          <option value="keep">the same as this one</option>
        </select>
      </label>
    </div>
  );
}

function Actions(props: {
  id: string;
  status: string;
  journalSize: number;
  onDone: (message: ComponentChildren) => void;
}) {
  const [ask, setAsk] = useState<Confirmation>();
  const open = (action: Action) => {
    const t = ACTION_TEXT[action];
    const choice = { from: '0', deployment: 'latest' };
    const restart = action === 'restart-as-new';
    setAsk({
      title: `${t.label} ${props.id}?`,
      body: (
        <>
          <p>{t.what}</p>
          {restart ? <RestartChoices journalSize={props.journalSize} choice={choice} /> : null}
        </>
      ),
      confirmLabel: t.label,
      danger: t.danger,
      onConfirm: async () => {
        const from = Number(choice.from);
        if (restart && !(Number.isInteger(from) && from >= 0)) throw new Error('the journal entry is a whole number');
        const params: Record<string, string> =
          restart && from > 0 ? { from: String(from), deployment: choice.deployment } : {};
        const out = await invocationAction(props.id, action, params);
        props.onDone(
          out.newInvocationId ? (
            <>
              Restarted as <InvocationLink id={out.newInvocationId} />
            </>
          ) : (
            `${t.label}: done`
          ),
        );
      },
    });
  };
  return (
    <div class="actions" data-testid="actions">
      {ACTIONS.map((a) => (
        <button
          key={a}
          type="button"
          class={ACTION_TEXT[a].danger ? 'danger-outline' : undefined}
          disabled={!applies(a, props.status)}
          onClick={() => open(a)}
          data-action={a}
        >
          {ACTION_TEXT[a].label}
        </button>
      ))}
      <ConfirmDialog ask={ask} onClose={() => setAsk(undefined)} />
    </div>
  );
}

function Summary(props: { inv: Row; now: number }) {
  const { inv, now } = props;
  const t = (col: string) => {
    const ms = toMs(inv[col]);
    return ms === undefined ? undefined : `${formatTime(ms)} (${relative(ms, now)})`;
  };
  const caller = toStr(inv.invoked_by_id);
  const result = toStr(inv.completion_result);
  return (
    <Facts
      items={[
        ['Target', <span class="mono">{toStr(inv.target)}</span>],
        ['Service type', toStr(inv.target_service_ty)],
        ['Key', toStr(inv.target_service_key)],
        ['Idempotency key', toStr(inv.idempotency_key)],
        [
          'Invoked by',
          caller ? (
            <>
              <InvocationLink id={caller} /> <span class="mono">{toStr(inv.invoked_by_target)}</span>
            </>
          ) : (
            toStr(inv.invoked_by)
          ),
        ],
        ['Created', t('created_at')],
        ['Scheduled start', t('scheduled_start_at')],
        ['Inboxed', t('inboxed_at')],
        ['Running since', t('running_at')],
        ['Last attempt started', t('last_start_at')],
        ['Modified', t('modified_at')],
        ['Completed', t('completed_at')],
        ['Result', result],
        ['Failure', toStr(inv.completion_failure)],
        ['Deployment', toStr(inv.pinned_deployment_id) ?? toStr(inv.last_attempt_deployment_id)],
        ['Journal entries', toNum(inv.journal_size)],
        ['Restarted from', toStr(inv.restarted_from) && <InvocationLink id={toStr(inv.restarted_from)!} />],
      ]}
    />
  );
}

/** What the invocation waits for: the lock of its key and the queue in front of it, or its own awaited entries. */
function Blocking(props: { id: string; inv: Row; items: TimelineItem[]; now: number; refreshMs?: number }) {
  const { id, inv, now } = props;
  const status = toStr(inv.status) ?? '';
  const service = toStr(inv.target_service_name) ?? '';
  const key = toStr(inv.target_service_key);
  const keyed = key !== undefined && status !== 'completed';
  const lock = useLoad(
    async () =>
      keyed
        ? { holder: (await query(lockHolderQuery(service, key)))[0], inbox: await query(inboxQuery(service, key)) }
        : undefined,
    [id, status, keyed],
    keyed ? props.refreshMs : undefined,
  );
  const waits = awaited(props.items);
  const holderId = toStr(lock.data?.holder?.invocation_id);
  const inbox = lock.data?.inbox ?? [];
  const position = inbox.findIndex((r) => toStr(r.id) === id);
  return (
    <Panel title="What is blocking it" id="blocking">
      <p class="verdict" data-testid="verdict">
        {verdict(status, inv, { holderId, id, position, waits, now })}
      </p>
      <ErrorBox error={lock.error} what="Lock and queue" />
      {keyed && lock.data ? (
        <div class="lock" data-testid="lock">
          <h3>
            Lock of <span class="mono">{`${service}/${key}`}</span>
          </h3>
          {holderId ? (
            <p data-testid="lock-holder">
              Held by <InvocationLink id={holderId} current={holderId === id} />{' '}
              <StatusBadge status={lock.data.holder?.status} />{' '}
              <span class="mono">{toStr(lock.data.holder?.target)}</span>
              {holderId === id ? ' (this invocation)' : ''}
            </p>
          ) : (
            <p class="muted">Not held: no exclusive handler runs on this key.</p>
          )}
          <h3>Queue ({inbox.length})</h3>
          {inbox.length === 0 ? (
            <p class="muted">Nothing is queued on this key.</p>
          ) : (
            <ol class="queue" data-testid="inbox">
              {inbox.map((r) => {
                const qid = toStr(r.id) ?? '';
                return (
                  <li key={qid} class={qid === id ? 'me' : undefined}>
                    <InvocationLink id={qid} current={qid === id} /> <span class="mono">{toStr(r.target)}</span>{' '}
                    <span class="muted">queued {relative(toMs(r.created_at), now)}</span>
                    {qid === id ? <strong> ← this invocation</strong> : null}
                  </li>
                );
              })}
            </ol>
          )}
        </div>
      ) : null}
      {waits.length > 0 ? (
        <div class="waits">
          <h3>Awaiting</h3>
          <ul>
            {waits.map((w) => (
              <li key={w.index}>
                #{w.index} {w.kind} {w.name ? <span class="mono">{w.name}</span> : null} <Waiting item={w} now={now} />
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </Panel>
  );
}

function verdict(
  status: string,
  inv: Row,
  c: { holderId?: string; id: string; position: number; waits: TimelineItem[]; now: number },
): string {
  switch (status) {
    case 'completed':
      return 'Nothing: it has completed.';
    case 'pending':
    case 'inboxed':
      if (c.holderId && c.holderId !== c.id) {
        const ahead = c.position >= 0 ? `${c.position} ahead of it in the queue` : 'queued';
        return `Waiting for the lock of its key, held by ${c.holderId} (${ahead}).`;
      }
      return 'Waiting in the queue of its key.';
    case 'scheduled':
      return `Scheduled to start ${relative(toMs(inv.scheduled_start_at), c.now) || 'later'}.`;
    case 'backing-off':
      return `Its last attempt failed; it retries ${relative(toMs(inv.next_retry_at), c.now) || 'soon'} (see retries below).`;
    case 'paused':
      return 'Paused: it runs again only when resumed.';
    case 'suspended':
      if (c.waits.length > 0) return `Suspended, waiting for ${describeWaits(c.waits)}.`;
      return signals(inv) > 0
        ? `Suspended, waiting for ${signals(inv)} signal(s): an awakeable or another invocation's signal.`
        : 'Suspended, waiting for a completion.';
    case 'ready':
      return 'Ready to run: waiting for the invoker to start an attempt.';
    case 'running':
      return c.waits.length > 0
        ? `Running, awaiting ${describeWaits(c.waits)}.`
        : 'Running: its code runs, or it waits for an awakeable or a signal (nothing in its journal is pending).';
    default:
      return status;
  }
}

function describeWaits(waits: TimelineItem[]): string {
  return waits.map((w) => `#${w.index} ${w.kind}${w.name ? ` ${w.name}` : ''}`).join(', ');
}

/** How many signals (awakeables) a suspended invocation waits for. */
function signals(inv: Row): number {
  return Array.isArray(inv.suspended_waiting_for_signals) ? inv.suspended_waiting_for_signals.length : 0;
}

function Waiting(props: { item: TimelineItem; now: number }) {
  const { item, now } = props;
  if (item.kind === 'sleep' && item.wakeupAtMs !== undefined)
    return <span>wakes {relative(item.wakeupAtMs, now)}</span>;
  if (item.invokedId) return <InvocationLink id={item.invokedId} />;
  if (item.promiseName) return <span>promise {item.promiseName}</span>;
  return null;
}

function Retries(props: { failure?: Failure; items: TimelineItem[]; status: string; now: number }) {
  const { failure, now } = props;
  const failing = props.items.find((i) => i.failing);
  if (!failure) {
    return (
      <Panel title="Retries and failures" id="retries">
        <p class="muted" data-testid="no-failure">
          No failed attempt.
        </p>
      </Panel>
    );
  }
  return (
    <Panel title="Retries and failures" id="retries" class="has-failure">
      <Facts
        items={[
          ['Attempts', <span data-testid="attempts">{failure.retryCount + 1}</span>],
          ['Retries', <span data-testid="retry-count">{failure.retryCount}</span>],
          [
            'Failing entry',
            failure.index !== undefined || failure.name !== undefined ? (
              <span data-testid="failing-entry">
                #{failure.index ?? '?'} {failure.type ?? ''} <span class="mono">{failure.name ?? ''}</span>
                {failing && !failing.journaled ? ' (not in the journal yet)' : ''}
              </span>
            ) : undefined,
          ],
          ['Error code', failure.code],
          [
            'Next retry',
            failure.nextRetryAtMs !== undefined ? (
              <span data-testid="next-retry">
                {formatTime(failure.nextRetryAtMs)} ({relative(failure.nextRetryAtMs, now)})
              </span>
            ) : undefined,
          ],
        ]}
      />
      {failure.message ? (
        <pre class="failure" data-testid="last-failure">
          {failure.message}
        </pre>
      ) : null}
    </Panel>
  );
}

function TreeNode(props: { node: CallNode; current: string; stuck: Set<string> }) {
  const { node, current, stuck } = props;
  const oneWay = node.via !== undefined && /one.?way|send/i.test(node.via);
  return (
    <li data-node={node.id}>
      <div class={`node${node.id === current ? ' current' : ''}${stuck.has(node.id) ? ' stuck' : ''}`}>
        {node.missing ? <span class="badge">unknown</span> : <StatusBadge status={node.status} result={node.result} />}{' '}
        <span class="mono target">{node.target ?? ''}</span>{' '}
        <InvocationLink id={node.id} current={node.id === current} />
        {oneWay ? <span class="tag">one-way</span> : null}
        {stuck.has(node.id) ? <span class="tag stuck-tag">waiting here</span> : null}
      </div>
      {node.children.length > 0 ? (
        <ul>
          {node.children.map((c) => (
            <TreeNode key={c.id} node={c} current={current} stuck={stuck} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

function CallTreePanel(props: { id: string; status: string; refreshMs?: number }) {
  const tree = useLoad<CallTree>(() => loadCallTree(props.id, query), [props.id, props.status], props.refreshMs);
  return (
    <Panel title="Call tree" id="calltree">
      <ErrorBox error={tree.error} what="Call tree" />
      {tree.data ? (
        <>
          <p class="muted">
            {tree.data.path.length > 1
              ? `Called through ${tree.data.path.length - 1} caller(s). `
              : 'Not called by another invocation. '}
            Unfinished invocations with no unfinished callee are marked “waiting here”.
          </p>
          <ul class="tree" data-testid="calltree">
            <TreeNode node={tree.data.root} current={props.id} stuck={stuckIds(tree.data.root)} />
          </ul>
          {tree.data.truncated ? <p class="muted">The tree is cut at its depth or size limit.</p> : null}
        </>
      ) : (
        <p class="muted">loading…</p>
      )}
    </Panel>
  );
}

const KIND_ICON: Record<string, string> = {
  input: '→',
  output: '←',
  run: '▶',
  call: '☎',
  send: '✉',
  sleep: '⏲',
  awakeable: '⏳',
  promise: '◇',
  state: '▤',
  attach: '⇆',
  signal: '⚑',
  cancel: '✕',
  other: '•',
};

function EntryDetail(props: { item: TimelineItem; callees: Map<string, Row>; now: number }) {
  const { item, callees, now } = props;
  const bits: ComponentChildren[] = [];
  if (item.invokedId) {
    const callee = callees.get(item.invokedId);
    bits.push(
      <span class="callee">
        {item.invokedTarget ? <span class="mono">{item.invokedTarget}</span> : null}{' '}
        <InvocationLink id={item.invokedId} />{' '}
        {callee?.status ? <StatusBadge status={callee.status} result={callee.completion_result} /> : null}
      </span>,
    );
  } else if (item.invokedTarget) bits.push(<span class="mono">{item.invokedTarget}</span>);
  if (item.wakeupAtMs !== undefined)
    bits.push(
      <span>
        until {formatTime(item.wakeupAtMs)} ({relative(item.wakeupAtMs, now)})
      </span>,
    );
  if (item.promiseName) bits.push(<span>promise {item.promiseName}</span>);
  return bits.length > 0 ? <div class="entry-detail">{bits}</div> : null;
}

function Timeline(props: {
  items: TimelineItem[];
  callees: Map<string, Row>;
  failure?: Failure;
  status: string;
  now: number;
}) {
  const { items, now, failure } = props;
  return (
    <Panel title="Journal" id="journal">
      {items.length === 0 ? <p class="muted">The journal is empty (or no longer retained).</p> : null}
      <ol class="timeline" data-testid="timeline">
        {items.map((item) => (
          <li
            key={`${item.index}-${item.journaled}`}
            class={`entry kind-${item.kind}${item.failing ? ' failing' : ''}${item.notification ? ' notification' : ''}`}
            data-index={item.index}
            data-kind={item.kind}
          >
            <div class="entry-head">
              <span class="icon" aria-hidden="true">
                {KIND_ICON[item.kind]}
              </span>
              <span class="idx">#{item.index}</span>
              <span class="etype">{item.type}</span>
              {item.name ? <span class="mono name">{item.name}</span> : null}
              {item.completed === false ? <span class="tag pending">pending</span> : null}
              {item.completed === true ? <span class="tag done">completed</span> : null}
              {item.failing ? <span class="tag fail">failing</span> : null}
              <span class="when" title={formatTime(item.appendedAtMs)}>
                {item.appendedAtMs !== undefined ? formatTime(item.appendedAtMs) : ''}
              </span>
            </div>
            <EntryDetail item={item} callees={props.callees} now={now} />
            {item.failing && failure?.message ? (
              <div class="entry-failure">
                Attempt {failure.retryCount + 1} failed: <pre>{failure.message}</pre>
                {failure.nextRetryAtMs !== undefined && props.status !== 'completed'
                  ? `Next retry ${relative(failure.nextRetryAtMs, now)}.`
                  : null}
              </div>
            ) : null}
            {item.events.length > 0 ? (
              <ul class="events">
                {item.events.map((e, i) => (
                  <li key={i} class="event">
                    ⟳ {e.type} {e.atMs !== undefined ? formatTime(e.atMs) : ''}
                    {e.message ? `: ${e.message}` : ''}
                  </li>
                ))}
              </ul>
            ) : null}
            {item.json ? (
              <details>
                <summary>entry</summary>
                <pre>{prettyJson(item.json)}</pre>
              </details>
            ) : null}
          </li>
        ))}
      </ol>
    </Panel>
  );
}

export function Invocation(props: { id: string }) {
  const { id } = props;
  const [refreshing, setRefreshing] = useState(true);
  const refreshMs = refreshing ? 2000 : undefined;
  const data = useLoad(() => load(id), [id], refreshMs);
  const [notice, setNotice] = useState<ComponentChildren>();
  const now = useNow();
  const inv = data.data?.inv;
  const status = toStr(inv?.status) ?? '';
  const failure = inv ? failureOf(inv) : undefined;
  const items = data.data ? buildTimeline(data.data.journal, data.data.events, failure) : [];
  const service = toStr(inv?.target_service_name);
  return (
    <div class="page invocation">
      <div class="crumbs">
        <Link to="/invocations">Invocations</Link>
        {service ? (
          <>
            {' / '}
            <Link to={`/invocations?${filterToParams({ service })}`}>{service}</Link>
          </>
        ) : null}
      </div>
      <header class="inv-head">
        <h1 class="mono">{id}</h1>
        {inv ? <StatusBadge status={inv.status} result={inv.completion_result} /> : null}
        <label class="check refresh">
          <input type="checkbox" checked={refreshing} onChange={() => setRefreshing(!refreshing)} /> auto-refresh
        </label>
      </header>
      <ErrorBox error={data.error} what="Query" />
      {data.data && !inv ? <p class="error">No invocation {id}: it never existed or it was purged.</p> : null}
      {inv ? (
        <>
          <Actions
            id={id}
            status={status}
            journalSize={toNum(inv.journal_size) ?? 0}
            onDone={(m) => {
              setNotice(m);
              data.reload();
            }}
          />
          {notice ? (
            <div class="notice" role="status">
              {notice}{' '}
              <button type="button" class="link" onClick={() => setNotice(undefined)}>
                dismiss
              </button>
            </div>
          ) : null}
          <nav class="jump">
            <a href="#blocking">Blocking</a> · <a href="#retries">Retries</a> · <a href="#calltree">Call tree</a> ·{' '}
            <a href="#journal">Journal</a> · <a href="#summary">Details</a>
          </nav>
          <div class="columns">
            <Blocking id={id} inv={inv} items={items} now={now} refreshMs={refreshMs} />
            <Retries failure={failure} items={items} status={status} now={now} />
          </div>
          <CallTreePanel id={id} status={status} refreshMs={refreshMs && 2 * refreshMs} />
          <Timeline
            items={items}
            callees={data.data?.callees ?? new Map()}
            failure={failure}
            status={status}
            now={now}
          />
          <Panel title="Details" id="summary">
            <Summary inv={inv} now={now} />
            {status !== 'completed' && toMs(inv.modified_at) !== undefined ? (
              <p class="muted">
                In this status for {formatDuration(now - (toMs(inv.modified_at) ?? now))}. Open the list of{' '}
                <Link to={`/invocations?${filterToParams({ service, status: [status] })}`}>
                  {status} invocations of {service}
                </Link>
                .
              </p>
            ) : null}
          </Panel>
        </>
      ) : null}
    </div>
  );
}
