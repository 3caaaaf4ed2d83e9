/**
 * An invocation's journal as a timeline: `sys_journal` rows (commands and notifications), the retries recorded in
 * `sys_journal_events`, and the failing entry that `sys_invocation`'s last failure points at.
 */
import { type Row, toMs, toNum, toStr } from './format.ts';

export type EntryKind =
  | 'input'
  | 'output'
  | 'run'
  | 'call'
  | 'send'
  | 'sleep'
  | 'awakeable'
  | 'promise'
  | 'state'
  | 'attach'
  | 'signal'
  | 'cancel'
  | 'other';

/** What an entry type (`Call`, `Command: Run`, `Notification: Sleep`, `SetState`, …) is about. */
export function entryKind(entryType: string): EntryKind {
  const t = entryType
    .toLowerCase()
    .replace(/^(command|notification|completion)\s*:\s*/, '')
    .replace(/[\s_-]/g, '');
  if (t.startsWith('input')) return 'input';
  if (t.startsWith('output')) return 'output';
  if (t.includes('run') || t.includes('sideeffect')) return 'run';
  if (t.includes('oneway') || t.includes('backgroundinvoke') || t === 'send') return 'send';
  if (t.includes('sleep')) return 'sleep';
  if (t.includes('awakeable')) return 'awakeable';
  if (t.includes('promise')) return 'promise';
  if (t.includes('state')) return 'state';
  if (t.includes('attach') || t.includes('invocationoutput')) return 'attach';
  if (t.includes('cancel')) return 'cancel';
  if (t.includes('call') || t.includes('invoke')) return 'call';
  if (t.includes('signal')) return 'signal';
  return 'other';
}

/** Whether the entry is a notification (a completion the runtime delivered) rather than a command. */
export function isNotification(entryType: string): boolean {
  return /^(notification|completion)\b/i.test(entryType.trim());
}

/** One row of `sys_journal_events` (a transient error of an attempt, a pause, …). */
export interface JournalEvent {
  type: string;
  atMs?: number;
  afterIndex?: number;
  json?: string;
  /** The error message the event carries, if any. */
  message?: string;
}

/** The last failure of an invocation (sys_invocation's `last_failure*`, `retry_count`, `next_retry_at`). */
export interface Failure {
  message?: string;
  code?: string;
  /** The journal entry (or command) the failure is about. */
  index?: number;
  name?: string;
  type?: string;
  retryCount: number;
  nextRetryAtMs?: number;
}

export interface TimelineItem {
  index: number;
  kind: EntryKind;
  type: string;
  notification: boolean;
  name?: string;
  completed?: boolean;
  appendedAtMs?: number;
  invokedId?: string;
  invokedTarget?: string;
  wakeupAtMs?: number;
  promiseName?: string;
  json?: string;
  /** The entry the last failure is about. */
  failing: boolean;
  /** False for a failing entry the journal does not hold yet (a step whose every attempt failed). */
  journaled: boolean;
  /** Events recorded after this entry (retries and their errors). */
  events: JournalEvent[];
}

/** The message of an event's JSON: the first string field whose name says message or error. */
function eventMessage(json: string | undefined): string | undefined {
  if (json === undefined) return undefined;
  try {
    const found = findMessage(JSON.parse(json), 0);
    return found;
  } catch {
    return undefined;
  }
}

function findMessage(v: unknown, depth: number): string | undefined {
  if (depth > 3 || v === null || typeof v !== 'object') return undefined;
  const entries = Object.entries(v as Record<string, unknown>);
  for (const [k, x] of entries) if (typeof x === 'string' && /message|error|reason/i.test(k)) return x;
  for (const [, x] of entries) {
    const m = findMessage(x, depth + 1);
    if (m !== undefined) return m;
  }
  return undefined;
}

export function toEvent(r: Row): JournalEvent {
  const json = toStr(r.event_json);
  return {
    type: toStr(r.event_type) ?? 'event',
    atMs: toMs(r.appended_at),
    afterIndex: toNum(r.after_journal_entry_index),
    json,
    message: eventMessage(json),
  };
}

/** The last failure of a `sys_invocation` row, or undefined when it has not failed. */
export function failureOf(inv: Row): Failure | undefined {
  const message = toStr(inv.last_failure);
  const retryCount = toNum(inv.retry_count) ?? 0;
  if (message === undefined && retryCount === 0) return undefined;
  return {
    message,
    code: toStr(inv.last_failure_error_code),
    index: toNum(inv.last_failure_related_entry_index) ?? toNum(inv.last_failure_related_command_index),
    name: toStr(inv.last_failure_related_entry_name) ?? toStr(inv.last_failure_related_command_name),
    type: toStr(inv.last_failure_related_entry_type) ?? toStr(inv.last_failure_related_command_type),
    retryCount,
    nextRetryAtMs: toMs(inv.next_retry_at),
  };
}

function toItem(r: Row): TimelineItem {
  const type = toStr(r.entry_type) ?? 'unknown';
  return {
    index: toNum(r.index) ?? 0,
    kind: entryKind(type),
    type,
    notification: isNotification(type),
    name: toStr(r.name),
    completed: typeof r.completed === 'boolean' ? r.completed : undefined,
    appendedAtMs: toMs(r.appended_at),
    invokedId: toStr(r.invoked_id),
    invokedTarget: toStr(r.invoked_target),
    wakeupAtMs: toMs(r.sleep_wakeup_at),
    promiseName: toStr(r.promise_name),
    json: toStr(r.entry_json),
    failing: false,
    journaled: true,
    events: [],
  };
}

/**
 * The timeline: journal entries in index order, each with the events recorded after it, and the entry the last
 * failure names marked failing (added at its index when the journal does not hold it).
 */
export function buildTimeline(journal: Row[], events: Row[], failure?: Failure): TimelineItem[] {
  const items = journal.map(toItem).sort((a, b) => a.index - b.index);
  if (failure?.message !== undefined && (failure.index !== undefined || failure.name !== undefined)) {
    const hit =
      failure.index !== undefined
        ? items.find((i) => i.index === failure.index && !i.notification)
        : items.findLast((i) => i.name === failure.name && !i.completed);
    if (hit) hit.failing = true;
    else {
      const index = failure.index ?? (items.at(-1)?.index ?? -1) + 1;
      const type = failure.type ?? 'unknown';
      items.push({
        index,
        kind: entryKind(type),
        type,
        notification: false,
        name: failure.name,
        failing: true,
        journaled: false,
        events: [],
      });
      items.sort((a, b) => a.index - b.index);
    }
  }
  for (const e of events.map(toEvent)) {
    const at = e.afterIndex ?? -1;
    const item = items.findLast((i) => i.index <= at) ?? items[0];
    item?.events.push(e);
  }
  return items;
}

/** Entries the invocation waits on: commands not completed yet (calls, sleeps, promises, awakeables, runs). */
export function awaited(items: TimelineItem[]): TimelineItem[] {
  return items.filter(
    (i) => i.journaled && !i.notification && i.completed === false && !['send', 'state', 'output'].includes(i.kind),
  );
}
