/**
 * Scans of one partition store for the SQL introspection tables: each table is read a page at a time in key
 * order (a page is one bounded store scan), turned into rows (rows.ts) and yielded as a batch, until the row
 * limit is reached, the table ends or the signal aborts. A scan runs beside the partition's apply loop and sees
 * each page as it is when read: rows of one scan may straddle a change (as Restate's do).
 */
import type { IntrospectionRow, ScanOptions } from '@stead/core';
import type { AttemptReport } from '../invoker-driver.ts';
import type { Page, PartitionTables } from '../tables.ts';
import type { InvocationStatus, JournalEntry } from '../types.ts';
import {
  inboxRow,
  invocationStateRow,
  joinAttempt,
  journalRows,
  keyedServiceStatusRow,
  lockRow,
  promiseRow,
  type RowContext,
  StatusRows,
  scheduleRow,
  stateRow,
} from './rows.ts';

/** What a scan of one partition reads: its store, and the leader's view of the invocations it runs. */
export interface PartitionRowSource extends RowContext {
  tables: PartitionTables;
  /** What the leader's invoker knows of its running invocations (sys_invocation_state); [] when not leading. */
  attempts: () => AttemptReport[];
}

/** Keys read per page of a table (one batch of rows). */
const PAGE_ROWS = 2048;
/** Invocations whose journals make one page of sys_journal, read at once (a journal may hold many entries). */
const JOURNALS_PER_PAGE = 64;

/** Reads one page of a table as rows: at most `limit` keys after the cursor `after`. */
type Pager = (after: string | undefined, limit: number) => Promise<Page<IntrospectionRow>>;

/** The rows of a page; a row that needs another read (a promise) is awaited, the others cost no promise. */
async function mapPage<T>(page: Promise<Page<T>>, row: (t: T) => IntrospectionRow | Promise<IntrospectionRow>) {
  const p = await page;
  const rows: IntrospectionRow[] = new Array(p.rows.length);
  for (let i = 0; i < p.rows.length; i++) {
    const r = row(p.rows[i]);
    rows[i] = r instanceof Promise ? await r : r;
  }
  return { rows, next: p.next };
}

/** The stored journal of `st`; no read for an invocation whose journal is gone (most completed ones). */
function journalOf(src: PartitionRowSource, st: InvocationStatus | undefined): Promise<JournalEntry[]> {
  return st && st.journalLength > 0 ? src.tables.journalEntries(st) : Promise.resolve([]);
}

/** Whether the row of an invocation needs its journal: its last failure names a command, to be placed there. */
const failureNamesCommand = (r: AttemptReport | undefined): r is AttemptReport =>
  r?.lastFailure?.relatedCommand?.index !== undefined;

/** The stored journal of an invocation whose last failure names a command (to place it); [] when not needed. */
async function journalForFailure(src: PartitionRowSource, r: AttemptReport | undefined): Promise<JournalEntry[]> {
  if (!failureNamesCommand(r)) return [];
  return journalOf(src, await src.tables.status(r.invocationId));
}

/** sys_invocation_state: the leader's reports, in id order, paged by id. */
function statePager(src: PartitionRowSource): Pager {
  const reports = src.attempts().sort((a, b) => (a.invocationId < b.invocationId ? -1 : 1));
  return async (after, limit) => {
    const from = after === undefined ? 0 : reports.findIndex((r) => r.invocationId > after);
    const page = from < 0 ? [] : reports.slice(from, from + limit);
    const rows = await Promise.all(page.map(async (r) => invocationStateRow(r, await journalForFailure(src, r), src)));
    return { rows, next: page.length < limit ? undefined : page.at(-1)?.invocationId };
  };
}

/** sys_invocation: statuses joined with the leader's reports (read once, when the scan starts). */
function invocationPager(src: PartitionRowSource, columns: ReadonlySet<string> | undefined): Pager {
  const reports = new Map(src.attempts().map((r) => [r.invocationId, r]));
  const rows = new StatusRows('sys_invocation', columns);
  return (after, limit) =>
    mapPage(src.tables.statusFieldsPage(after, limit, rows.mask), (st) => {
      const r = reports.get(st.id);
      const row = rows.row(st, src);
      if (!failureNamesCommand(r)) return joinAttempt(row, st, r, []);
      return journalForFailure(src, r).then((journal) => joinAttempt(row, st, r, journal));
    });
}

/** sys_journal: the journals of a few invocations per page. */
function journalPager(src: PartitionRowSource): Pager {
  return async (after, limit) => {
    const page = await src.tables.statusPage(after, Math.min(limit, JOURNALS_PER_PAGE));
    const journals = await Promise.all(page.rows.map((st) => journalOf(src, st)));
    return { rows: page.rows.flatMap((st, i) => journalRows(st, journals[i], src)), next: page.next };
  };
}

/** Creation time of a queued or lock-holding invocation, and when it first ran. */
async function statusTimes(src: PartitionRowSource, id: string) {
  const st = await src.tables.status(id);
  return { createdAt: st?.createdAt, runningAt: st?.runningAt };
}

/** The pager of each table a partition store holds rows of. */
const PAGERS: Readonly<Record<string, (src: PartitionRowSource, columns?: ReadonlySet<string>) => Pager>> = {
  sys_invocation_status: (src, columns) => {
    const rows = new StatusRows('sys_invocation_status', columns);
    return (after, limit) => mapPage(src.tables.statusFieldsPage(after, limit, rows.mask), (st) => rows.row(st, src));
  },
  sys_invocation_state: statePager,
  sys_invocation: invocationPager,
  sys_journal: journalPager,
  state: (src) => (after, limit) => mapPage(src.tables.statePage(after, limit), stateRow),
  sys_inbox: (src) => (after, limit) =>
    mapPage(src.tables.inboxPage(after, limit), async (e) =>
      inboxRow(e, (await statusTimes(src, e.invocationId)).createdAt),
    ),
  sys_keyed_service_status: (src) => (after, limit) =>
    mapPage(src.tables.lockPage(after, limit), keyedServiceStatusRow),
  sys_locks: (src) => (after, limit) =>
    mapPage(src.tables.lockPage(after, limit), async (l) =>
      lockRow(l, (await statusTimes(src, l.invocationId)).runningAt),
    ),
  sys_promise: (src) => (after, limit) => mapPage(src.tables.promisePage(after, limit), promiseRow),
  sys_schedule: (src) => (after, limit) => mapPage(src.tables.schedulePage(after, limit), scheduleRow),
};

/** Whether a partition store holds rows of `table` (the others, such as sys_deployment, come from elsewhere). */
export function isPartitionTable(table: string): boolean {
  return Object.hasOwn(PAGERS, table);
}

/**
 * The rows of `table` in one partition, a page of the store (`pageRows` keys) per batch, at most `opts.limit`
 * in all; nothing for a table the partition holds no rows of. Rejects with the signal's reason once it aborts.
 */
export async function* scanPartitionRows(
  src: PartitionRowSource,
  table: string,
  opts: ScanOptions,
  pageRows = PAGE_ROWS,
): AsyncGenerator<IntrospectionRow[]> {
  if (!isPartitionTable(table)) return;
  const pager = PAGERS[table](src, opts.columns);
  let left = opts.limit;
  let after: string | undefined;
  while (left > 0) {
    opts.signal?.throwIfAborted();
    const page = await pager(after, Math.min(pageRows, left));
    const rows = page.rows.length > left ? page.rows.slice(0, left) : page.rows;
    if (rows.length > 0) {
      left -= rows.length;
      yield rows;
    }
    if (page.next === undefined) return;
    after = page.next;
  }
}
