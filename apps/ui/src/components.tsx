import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { type Row, toStr, type Value } from './format.ts';
import { follow, href, invocationPath } from './router.ts';

/** A link to a route below /ui. */
export function Link(props: { to: string; class?: string; title?: string; children: ComponentChildren }) {
  return (
    <a href={href(props.to)} class={props.class} title={props.title} onClick={(e) => follow(e, props.to)}>
      {props.children}
    </a>
  );
}

/** An invocation status as a coloured badge; a completed one says whether it succeeded or failed. */
export function StatusBadge(props: { status?: Value; result?: Value }) {
  const status = toStr(props.status) ?? 'unknown';
  const failed = status === 'completed' && toStr(props.result) === 'failure';
  return (
    <span class={`badge status-${status}${failed ? ' failed' : ''}`} data-status={status}>
      {status}
      {failed ? ' · failed' : ''}
    </span>
  );
}

export function InvocationLink(props: { id: string; current?: boolean }) {
  return props.current ? (
    <strong class="mono">{props.id}</strong>
  ) : (
    <Link to={invocationPath(props.id)} class="mono">
      {props.id}
    </Link>
  );
}

export function ErrorBox(props: { error?: Error; what?: string }) {
  if (!props.error) return null;
  return (
    <div class="error" role="alert">
      {props.what ? <strong>{props.what}: </strong> : null}
      {props.error.message}
    </div>
  );
}

/** A value of a `/query` row as table cell text. */
export function cellText(v: Value): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/**
 * Rows of any shape as a table, columns in the order they first appear. The JSON answer of `/query` leaves a NULL
 * out of its row (as Restate's): a column missing from a row is NULL there, and a column NULL in every row is not
 * shown.
 */
export function RowsTable(props: { rows: Row[] }) {
  const columns = [...new Set(props.rows.flatMap((r) => Object.keys(r)))];
  return (
    <div class="table-wrap">
      <table class="grid">
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r, i) => (
            <tr key={i}>
              {columns.map((c) => (
                <td key={c} class={r[c] == null ? 'null' : undefined}>
                  {r[c] == null ? 'NULL' : cellText(r[c])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export interface Confirmation {
  title: string;
  body: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
}

/**
 * A modal asking to confirm an action (a native `<dialog>`: focus stays inside, Escape closes it). The action
 * runs on confirm; its error is shown in the dialog, which then stays open.
 */
export function ConfirmDialog(props: { ask?: Confirmation; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.ask && !d.open) {
      setError(undefined);
      setBusy(false);
      d.showModal();
    } else if (!props.ask && d.open) d.close();
  }, [props.ask]);
  const confirm = async () => {
    if (!props.ask) return;
    setBusy(true);
    setError(undefined);
    try {
      await props.ask.onConfirm();
      props.onClose();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} class="confirm" onClose={props.onClose} aria-labelledby="confirm-title">
      {props.ask ? (
        <form method="dialog" onSubmit={(e) => e.preventDefault()}>
          <h3 id="confirm-title">{props.ask.title}</h3>
          <div class="confirm-body">{props.ask.body}</div>
          <ErrorBox error={error} />
          <div class="buttons">
            <button type="button" onClick={props.onClose} disabled={busy}>
              Back
            </button>
            <button
              type="button"
              class={props.ask.danger ? 'danger' : 'primary'}
              onClick={confirm}
              disabled={busy}
              data-confirm
            >
              {busy ? 'Working…' : props.ask.confirmLabel}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}

/** A titled panel of the detail page. */
export function Panel(props: { title: string; id?: string; class?: string; children: ComponentChildren }) {
  return (
    <section class={`panel ${props.class ?? ''}`} id={props.id} data-panel={props.id}>
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** Label/value pairs, skipping empty values. */
export function Facts(props: { items: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {props.items
        .filter(([, v]) => v !== undefined && v !== null && v !== '')
        .map(([k, v]) => (
          <div key={k} class="fact">
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
    </dl>
  );
}
