/**
 * The SQL the UI sends to `POST /query`, over Restate's introspection tables. `/query` takes no bind parameters,
 * so every value typed by a user goes through `lit` (a quoted string literal with its quotes doubled) or is a
 * number the UI made itself; nothing else is spliced into a query.
 */

/** A SQL string literal: `it's` → `'it''s'`. */
export function lit(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** `value` matched literally inside a LIKE pattern (escape character `\`). */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, '\\$&');
}

/** A list of string literals for `IN (…)`. */
export function litList(values: readonly string[]): string {
  return values.map(lit).join(', ');
}

/** A UTC timestamp literal for comparisons with the tables' `Timestamp(ms, "+00:00")` columns. */
export function tsLit(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`not a time: ${ms}`);
  return `TIMESTAMP ${lit(new Date(ms).toISOString().replace('T', ' ').replace('Z', ''))}`;
}

/** An integer the UI computed (page offsets, limits); anything else is refused rather than spliced in. */
export function int(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a non-negative integer: ${n}`);
  return String(n);
}

/** Restate's invocation statuses, in lifecycle order. */
export const STATUSES = [
  'pending',
  'scheduled',
  'ready',
  'running',
  'backing-off',
  'suspended',
  'paused',
  'completed',
] as const;

/** The filters of the invocation list; empty fields do not filter. */
export interface InvocationFilter {
  service?: string;
  handler?: string;
  key?: string;
  status?: string[];
  /** Invocation id or a prefix of it. */
  id?: string;
  createdFromMs?: number;
  createdToMs?: number;
}

/** The `WHERE` clause of the filter (empty when it filters nothing). */
export function invocationWhere(f: InvocationFilter): string {
  const conds: string[] = [];
  if (f.service) conds.push(`target_service_name = ${lit(f.service)}`);
  if (f.handler) conds.push(`target_handler_name = ${lit(f.handler)}`);
  if (f.key) conds.push(`target_service_key = ${lit(f.key)}`);
  if (f.id) conds.push(`id LIKE ${lit(`${escapeLike(f.id)}%`)} ESCAPE '\\'`);
  if (f.status && f.status.length > 0) conds.push(`status IN (${litList(f.status)})`);
  if (f.createdFromMs !== undefined) conds.push(`created_at >= ${tsLit(f.createdFromMs)}`);
  if (f.createdToMs !== undefined) conds.push(`created_at <= ${tsLit(f.createdToMs)}`);
  return conds.length === 0 ? '' : ` WHERE ${conds.join(' AND ')}`;
}

/** The columns the list shows. */
const LIST_COLUMNS = [
  'id',
  'target',
  'target_service_name',
  'target_handler_name',
  'target_service_key',
  'status',
  'completion_result',
  'created_at',
  'modified_at',
  'retry_count',
  'last_failure',
  'next_retry_at',
  'invoked_by_id',
].join(', ');

/** One page of the list, newest first; asks for one row more than the page to know whether a next page exists. */
export function invocationPageQuery(f: InvocationFilter, page: number, pageSize: number): string {
  return (
    `SELECT ${LIST_COLUMNS} FROM sys_invocation${invocationWhere(f)} ` +
    `ORDER BY created_at DESC, id LIMIT ${int(pageSize + 1)} OFFSET ${int(page * pageSize)}`
  );
}

export function invocationCountQuery(f: InvocationFilter): string {
  return `SELECT count(*) AS n FROM sys_invocation${invocationWhere(f)}`;
}

/** The filter as the list page's URL query (`?service=…&status=running,suspended`), and back. */
export function filterToParams(f: InvocationFilter, page = 0): URLSearchParams {
  const p = new URLSearchParams();
  if (f.service) p.set('service', f.service);
  if (f.handler) p.set('handler', f.handler);
  if (f.key) p.set('key', f.key);
  if (f.id) p.set('id', f.id);
  if (f.status && f.status.length > 0) p.set('status', f.status.join(','));
  if (f.createdFromMs !== undefined) p.set('from', new Date(f.createdFromMs).toISOString());
  if (f.createdToMs !== undefined) p.set('to', new Date(f.createdToMs).toISOString());
  if (page > 0) p.set('page', String(page));
  return p;
}

export function paramsToFilter(p: URLSearchParams): { filter: InvocationFilter; page: number } {
  const time = (name: string) => {
    const v = p.get(name);
    const ms = v === null ? Number.NaN : Date.parse(v);
    return Number.isNaN(ms) ? undefined : ms;
  };
  const page = Number(p.get('page') ?? '0');
  return {
    filter: {
      service: p.get('service') || undefined,
      handler: p.get('handler') || undefined,
      key: p.get('key') ?? undefined,
      id: p.get('id') || undefined,
      status: (p.get('status') ?? '').split(',').filter((s) => s !== ''),
      createdFromMs: time('from'),
      createdToMs: time('to'),
    },
    page: Number.isSafeInteger(page) && page > 0 ? page : 0,
  };
}

/** Everything the detail page shows about one invocation. */
export function invocationQuery(id: string): string {
  return `SELECT * FROM sys_invocation WHERE id = ${lit(id)}`;
}

export function journalQuery(id: string): string {
  return (
    'SELECT index, entry_type, name, completed, invoked_id, invoked_target, sleep_wakeup_at, promise_name, ' +
    `appended_at, entry_json FROM sys_journal WHERE id = ${lit(id)} ORDER BY index`
  );
}

export function journalEventsQuery(id: string): string {
  return (
    'SELECT after_journal_entry_index, appended_at, event_type, event_json FROM sys_journal_events ' +
    `WHERE id = ${lit(id)} ORDER BY appended_at`
  );
}

/** The invocation holding the lock of a virtual object's (or workflow's) key, with its status. */
export function lockHolderQuery(service: string, key: string): string {
  return (
    'SELECT k.invocation_id, i.target, i.status, i.created_at, i.running_at FROM sys_keyed_service_status k ' +
    `LEFT JOIN sys_invocation i ON i.id = k.invocation_id WHERE k.service_name = ${lit(service)} ` +
    `AND k.service_key = ${lit(key)}`
  );
}

/** The invocations queued on a key, oldest first. */
export function inboxQuery(service: string, key: string, limit = 100): string {
  return (
    'SELECT q.id, q.sequence_number, q.created_at, i.target, i.status FROM sys_inbox q ' +
    `LEFT JOIN sys_invocation i ON i.id = q.id WHERE q.service_name = ${lit(service)} ` +
    `AND q.service_key = ${lit(key)} ORDER BY q.sequence_number LIMIT ${int(limit)}`
  );
}

/** Invocations by id (the parents in a call chain). */
export function invocationsByIdQuery(ids: readonly string[]): string {
  return `SELECT id, target, status, completion_result, invoked_by_id FROM sys_invocation WHERE id IN (${litList(ids)})`;
}

/** The calls made by some invocations: their journal's call entries, with the callee's status. */
export function calleesQuery(ids: readonly string[]): string {
  return (
    'SELECT j.id AS parent_id, j.index, j.entry_type, j.invoked_id, j.invoked_target, i.target, i.status, ' +
    'i.completion_result FROM sys_journal j LEFT JOIN sys_invocation i ON i.id = j.invoked_id ' +
    `WHERE j.id IN (${litList(ids)}) AND j.invoked_id IS NOT NULL ORDER BY j.id, j.index`
  );
}

/** Invocations whose caller is one of `ids` (callees whose caller's journal is gone). */
export function childrenQuery(ids: readonly string[]): string {
  return (
    'SELECT invoked_by_id AS parent_id, id AS invoked_id, target, status, completion_result FROM sys_invocation ' +
    `WHERE invoked_by_id IN (${litList(ids)})`
  );
}
