/**
 * Rows of Restate's SQL introspection tables (column names of INTROSPECTION_TABLES in @stead/core) from what a
 * partition stores: pure functions from statuses, journals, state, locks, inboxes and promises to rows. Which
 * rows to read, and in what pages, is scan.ts's business.
 */
import {
  type IntrospectionRow,
  type IntrospectionValue,
  introspectionTable,
  partitionKeyOf,
  type ServiceType,
  schedulePartitionKey,
} from '@stead/core';
import type { PromiseRow } from '../codec.ts';
import { type StatusField, statusFieldMask } from '../codec.ts';
import { entryTypeName } from '../describe.ts';
import type { AttemptFailure, AttemptReport } from '../invoker-driver.ts';
import * as J from '../journal.ts';
import type { ObjectRef, StateEntry } from '../tables.ts';
import {
  type Failure,
  type InvocationPhase,
  type InvocationStatus,
  type JournalEntry,
  normalizeKey,
  type ScheduleRecord,
  type Target,
} from '../types.ts';

/** What rows need besides the stored values. */
export interface RowContext {
  /** The 64-bit partition key of an invocation id. */
  partitionKeyOfInvocation: (invocationId: string) => bigint;
  /** A service's type from the schema, for statuses that did not record it (optional). */
  serviceType?: (service: string) => ServiceType | undefined;
}

/** `sys_invocation_status.status`: the stored phase under Restate's name. */
const PHASE_NAMES: Record<InvocationPhase, string> = {
  scheduled: 'scheduled',
  inboxed: 'inboxed',
  invoked: 'invoked',
  suspended: 'suspended',
  paused: 'paused',
  completed: 'completed',
};

const SERVICE_TYPE_NAMES: Record<ServiceType, string> = {
  SERVICE: 'service',
  VIRTUAL_OBJECT: 'virtual_object',
  WORKFLOW: 'workflow',
};

/** `Service/handler`, or `Service/key/handler` for a keyed target (Restate's target format). */
export function targetName(t: Pick<Target, 'service' | 'handler' | 'key'>): string {
  return t.key === undefined ? `${t.service}/${t.handler}` : `${t.service}/${t.key}/${t.handler}`;
}

const failureText = (f: Failure): string => `[${f.code}] ${f.message}`;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lossyUtf8 = new TextDecoder('utf-8');

/** The bytes as text when they are valid UTF-8, else undefined (NULL). */
function utf8OrNull(b: Uint8Array): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}

// ---------- invocations ----------

/** A column made from an invocation's status: the status fields it reads, and its value. */
interface StatusColumn {
  fields: readonly StatusField[];
  value: (st: InvocationStatus, ctx: RowContext) => IntrospectionValue;
}

/** A failed completion's result. */
const failedOutput = (st: InvocationStatus) =>
  st.phase === 'completed' && st.output?.ok === false ? st.output : undefined;
/** What a suspended invocation waits for. */
const waitingFor = (st: InvocationStatus) => (st.phase === 'suspended' ? st.waiting : undefined);
const caller = (st: InvocationStatus) => st.invokedBy;

/**
 * The columns of `sys_invocation_status` (and the same ones of `sys_invocation`) made from the stored status, each
 * on its own: a scan decodes the fields of the columns a query reads and makes only those (a table of 100,000
 * must load in a fraction of a second). Statuses written before callers were recorded show 'ingress'.
 */
const STATUS_COLUMNS: Readonly<Record<string, StatusColumn>> = {
  id: { fields: ['id'], value: (st) => st.id },
  partition_key: { fields: ['id'], value: (st, ctx) => ctx.partitionKeyOfInvocation(st.id) },
  status: { fields: ['phase'], value: (st) => PHASE_NAMES[st.phase] },
  target: { fields: ['target'], value: (st) => targetName(st.target) },
  target_service_name: { fields: ['target'], value: (st) => st.target.service },
  target_service_key: { fields: ['target'], value: (st) => st.target.key },
  target_handler_name: { fields: ['target'], value: (st) => st.target.handler },
  target_service_ty: {
    fields: ['target'],
    value: (st, ctx) => {
      const ty = st.target.serviceType ?? ctx.serviceType?.(st.target.service);
      return ty && SERVICE_TYPE_NAMES[ty];
    },
  },
  idempotency_key: { fields: ['idempotencyKey'], value: (st) => st.idempotencyKey },
  pinned_deployment_id: { fields: ['deploymentId'], value: (st) => st.deploymentId },
  pinned_service_protocol_version: { fields: ['protocolVersion'], value: (st) => st.protocolVersion },
  journal_size: { fields: ['journalLength'], value: (st) => st.journalLength },
  journal_commands_size: { fields: ['journalCommands'], value: (st) => st.journalCommands },
  created_at: { fields: ['createdAt'], value: (st) => st.createdAt },
  modified_at: { fields: ['modifiedAt'], value: (st) => st.modifiedAt },
  inboxed_at: { fields: ['inboxedAt'], value: (st) => st.inboxedAt },
  // A delayed invocation is scheduled when it is created; the others never are.
  scheduled_at: {
    fields: ['executionTime', 'createdAt'],
    value: (st) => (st.executionTime === undefined ? undefined : st.createdAt),
  },
  scheduled_start_at: { fields: ['executionTime'], value: (st) => st.executionTime },
  running_at: { fields: ['runningAt'], value: (st) => st.runningAt },
  completed_at: { fields: ['completedAt'], value: (st) => st.completedAt },
  completion_retention: { fields: ['retentionMs'], value: (st) => st.retentionMs ?? 0 },
  journal_retention: { fields: ['journalRetentionMs'], value: (st) => st.journalRetentionMs ?? 0 },
  suspended_waiting_for_completions: { fields: ['phase', 'waiting'], value: (st) => waitingFor(st)?.completions },
  suspended_waiting_for_signals: { fields: ['phase', 'waiting'], value: (st) => waitingFor(st)?.signals },
  invoked_by: {
    fields: ['invokedBy', 'restartedFrom'],
    value: (st) => (st.invokedBy ? 'service' : st.restartedFrom !== undefined ? 'restart_as_new' : 'ingress'),
  },
  invoked_by_id: { fields: ['invokedBy'], value: (st) => caller(st)?.invocationId },
  invoked_by_service_name: { fields: ['invokedBy'], value: (st) => caller(st)?.target.service },
  invoked_by_target: {
    fields: ['invokedBy'],
    value: (st) => {
      const c = caller(st);
      return c && targetName(c.target);
    },
  },
  restarted_from: {
    fields: ['invokedBy', 'restartedFrom'],
    value: (st) => (st.invokedBy ? undefined : st.restartedFrom),
  },
  completion_result: {
    fields: ['phase', 'output'],
    value: (st) => (st.phase === 'completed' && st.output ? (st.output.ok ? 'success' : 'failure') : undefined),
  },
  completion_failure: {
    fields: ['phase', 'output'],
    value: (st) => {
      const o = failedOutput(st);
      return o && failureText(o);
    },
  },
};

/**
 * Makes the rows of one status table (`sys_invocation_status`, or `sys_invocation` before its invoker columns)
 * with the columns in `columns` only (all the table's when absent), and says which status fields they read.
 */
export class StatusRows {
  /** The status fields the columns read, as `decodeStatusFields` takes them. */
  readonly mask: number;
  private readonly columns: [string, StatusColumn][];

  constructor(table: 'sys_invocation' | 'sys_invocation_status', columns: ReadonlySet<string> | undefined) {
    const names = introspectionTable(table)?.columns.map(([name]) => name) ?? [];
    this.columns = names
      .filter((name) => Object.hasOwn(STATUS_COLUMNS, name) && (columns === undefined || columns.has(name)))
      .map((name) => [name, STATUS_COLUMNS[name]]);
    // sys_invocation joins each status with the invoker's report by id, and its status column reads the phase.
    const fields: StatusField[] = table === 'sys_invocation' ? ['id', 'phase'] : [];
    this.mask = statusFieldMask([...fields, ...this.columns.flatMap(([, c]) => c.fields)]);
  }

  row(st: InvocationStatus, ctx: RowContext): IntrospectionRow {
    const row: IntrospectionRow = {};
    for (const [name, c] of this.columns) row[name] = c.value(st, ctx);
    return row;
  }
}

/** The journal entry of the `commandIndex`-th command (Input is command 0), if the journal holds it. */
function entryOfCommand(
  journal: readonly JournalEntry[],
  commandIndex: number,
): { index: number; entry: JournalEntry } | undefined {
  let n = 0;
  for (let index = 0; index < journal.length; index++) {
    const entry = journal[index];
    if (!J.isCommandType(entry.type)) continue;
    if (n++ === commandIndex) return { index, entry };
  }
  return undefined;
}

/** The command name of a command type ("Run" for "Command: Run"). */
const commandTypeName = (type: number): string => entryTypeName(type).replace(/^Command: /, '');

/** Sets the columns of an attempt's failure; `journal` places the command it names. */
function setFailureColumns(row: IntrospectionRow, f: AttemptFailure, journal: readonly JournalEntry[]): void {
  row.last_failure = f.code === undefined ? f.message : `[${f.code}] ${f.message}`;
  row.last_failure_error_code = f.code === undefined ? undefined : String(f.code);
  const related = f.relatedCommand;
  if (!related) return;
  row.last_failure_related_command_index = related.index;
  row.last_failure_related_command_name = related.name;
  row.last_failure_related_command_type = related.type === undefined ? undefined : commandTypeName(related.type);
  const at = related.index === undefined ? undefined : entryOfCommand(journal, related.index);
  if (at) {
    row.last_failure_related_entry_index = at.index;
    row.last_failure_related_entry_name = related.name;
    row.last_failure_related_entry_type = entryTypeName(at.entry.type);
  }
}

/** Sets the columns of what the leader's invoker knows of an invocation it runs (but id, partition key, in flight). */
function setAttemptColumns(row: IntrospectionRow, r: AttemptReport, journal: readonly JournalEntry[]): void {
  row.retry_count = r.retryCount;
  row.last_start_at = r.lastStartAt;
  row.next_retry_at = r.nextRetryAt;
  row.last_attempt_deployment_id = r.lastDeploymentId;
  if (r.lastFailure) setFailureColumns(row, r.lastFailure, journal);
}

/**
 * A row of `sys_invocation_state`: what the leader's invoker knows of an invocation it runs. `journal` (the
 * invocation's stored entries) places the command a failure names; empty when unknown.
 */
export function invocationStateRow(
  r: AttemptReport,
  journal: readonly JournalEntry[],
  ctx: RowContext,
): IntrospectionRow {
  const row: IntrospectionRow = {
    id: r.invocationId,
    partition_key: ctx.partitionKeyOfInvocation(r.invocationId),
    in_flight: r.inFlight,
  };
  setAttemptColumns(row, r, journal);
  return row;
}

/** `sys_invocation.status`: the stored phase, refined by the invoker's view for invocations that run. */
function invocationStatusName(st: InvocationStatus, r: AttemptReport | undefined): string {
  switch (st.phase) {
    case 'inboxed':
      return 'pending';
    case 'invoked':
      if (r?.inFlight) return 'running';
      return (r?.retryCount ?? 0) > 0 ? 'backing-off' : 'ready';
    default:
      return st.phase;
  }
}

/**
 * Adds to a row of `sys_invocation` (made by StatusRows from `st`) the invoker's state of the invocation when it
 * runs, and its status, which that refines.
 */
export function joinAttempt(
  row: IntrospectionRow,
  st: InvocationStatus,
  r: AttemptReport | undefined,
  journal: readonly JournalEntry[],
): IntrospectionRow {
  if (r) setAttemptColumns(row, r, journal);
  row.status = invocationStatusName(st, r);
  return row;
}

// ---------- journal ----------

/** The completion id of a command's result (field 11; a one-way call's only one is its id's, field 10). */
function resultCompletionId(e: JournalEntry, f: ReturnType<typeof J.fields>): number | undefined {
  const v = f.get(11)?.at(-1) ?? (e.type === J.T.OneWayCall ? f.get(10)?.at(-1) : undefined);
  return typeof v === 'bigint' ? Number(v) : undefined;
}

/** The invocation id each CallInvocationId notification carries, by its completion id. */
function calleeIds(entries: readonly JournalEntry[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const e of entries) {
    if (e.type !== J.T.CallInvocationIdN) continue;
    const f = J.fields(e.bytes);
    const id = f.get(16)?.at(-1);
    const completion = f.get(1)?.at(-1);
    if (id instanceof Uint8Array && typeof completion === 'bigint') out.set(Number(completion), lossyUtf8.decode(id));
  }
  return out;
}

/** What a command's own fields add to its row: its name, whether its result arrived, and per type. */
function commandColumns(st: InvocationStatus, e: JournalEntry, callees: Map<number, string>): IntrospectionRow {
  const f = J.fields(e.bytes);
  const name = f.get(12)?.at(-1);
  const completion = resultCompletionId(e, f);
  const row: IntrospectionRow = {
    name: name instanceof Uint8Array && name.length > 0 ? lossyUtf8.decode(name) : undefined,
    completed: completion === undefined ? undefined : st.arrived.completions.includes(completion),
  };
  const cmd = J.decodeCommand(e);
  if (cmd.kind === 'call' || cmd.kind === 'oneWayCall') {
    row.invoked_target = targetName(normalizeKey({ ...cmd.target, ...e.callTarget }));
    row.invoked_id = callees.get(cmd.invocationIdCompletionId);
  } else if (cmd.kind === 'sleep') {
    row.sleep_wakeup_at = cmd.wakeUpTime;
  } else if (cmd.kind === 'getPromise' || cmd.kind === 'peekPromise' || cmd.kind === 'completePromise') {
    row.promise_name = cmd.key;
  }
  return row;
}

/** The rows of `sys_journal` for the stored entries of one invocation (in index order). */
export function journalRows(
  st: InvocationStatus,
  entries: readonly JournalEntry[],
  ctx: RowContext,
): IntrospectionRow[] {
  const partitionKey = ctx.partitionKeyOfInvocation(st.id);
  const callees = calleeIds(entries);
  return entries.map((e, index) => ({
    id: st.id,
    index,
    partition_key: partitionKey,
    // Journals are in the service protocol's v4+ form (commands and notifications): Restate's version 2.
    version: 2,
    entry_type: entryTypeName(e.type),
    appended_at: e.appendedAt,
    raw: e.bytes,
    raw_length: e.bytes.length,
    ...(J.isCommandType(e.type) ? commandColumns(st, e, callees) : { completed: true }),
  }));
}

// ---------- objects: state, locks, inboxes, promises ----------

/** The partition key of an object (a virtual object or workflow instance): its key's hash. */
const objectPartitionKey = (o: ObjectRef): bigint => partitionKeyOf(o.key);

/** A row of `state`. */
export function stateRow(e: StateEntry): IntrospectionRow {
  return {
    partition_key: objectPartitionKey(e),
    service_name: e.service,
    service_key: e.key,
    key: lossyUtf8.decode(e.stateKey),
    key_length: e.stateKey.length,
    value: e.value,
    value_length: e.value.length,
    value_utf8: utf8OrNull(e.value),
  };
}

/** A row of `sys_inbox`; `createdAt` is the queued invocation's creation time (undefined if it is gone). */
export function inboxRow(
  e: ObjectRef & { seq: number; invocationId: string },
  createdAt: number | undefined,
): IntrospectionRow {
  return {
    partition_key: objectPartitionKey(e),
    service_name: e.service,
    service_key: e.key,
    id: e.invocationId,
    sequence_number: e.seq,
    created_at: createdAt,
  };
}

/** A row of `sys_keyed_service_status`: the invocation holding an object's lock. */
export function keyedServiceStatusRow(l: ObjectRef & { invocationId: string }): IntrospectionRow {
  return {
    partition_key: objectPartitionKey(l),
    service_name: l.service,
    service_key: l.key,
    invocation_id: l.invocationId,
  };
}

/** A row of `sys_locks`; `acquiredAt` is when the holder first ran (it takes the lock then). */
export function lockRow(l: ObjectRef & { invocationId: string }, acquiredAt: number | undefined): IntrospectionRow {
  return {
    partition_key: objectPartitionKey(l),
    lock_name: `${l.service}/${l.key}`,
    acquired_by: l.invocationId,
    acquired_at: acquiredAt,
  };
}

/** A row of `sys_promise`. */
export function promiseRow(p: ObjectRef & { name: string; row: PromiseRow }): IntrospectionRow {
  const row: IntrospectionRow = {
    partition_key: objectPartitionKey(p),
    service_name: p.service,
    service_key: p.key,
    key: p.name,
    completed: 'done' in p.row,
  };
  if (!('done' in p.row)) return row;
  const r = p.row.done;
  if ('failure' in r) return { ...row, completion_failure: failureText(r.failure) };
  const value = 'value' in r ? r.value : new Uint8Array(0);
  return { ...row, completion_success_value: value, completion_success_value_utf8: utf8OrNull(value) };
}

/** sys_schedule (beyond Restate): a cron schedule and where its ticks stand. */
export function scheduleRow(s: ScheduleRecord): IntrospectionRow {
  const d = s.definition;
  return {
    id: d.id,
    partition_key: schedulePartitionKey(d),
    cron: d.cron,
    time_zone: d.timeZone,
    target_service_name: d.target.service,
    target_handler_name: d.target.handler,
    target_service_key: d.target.key,
    target_service_ty: SERVICE_TYPE_NAMES[d.target.serviceType],
    target_handler_ty: d.target.handlerType?.toLowerCase(),
    input: d.input,
    content_type: d.contentType,
    overlap: d.overlap,
    retention: d.retentionMs,
    journal_retention: d.journalRetentionMs,
    paused: s.paused,
    created_at: s.createdAt,
    next_tick_at: s.nextTick,
    last_tick_at: s.lastTick,
    last_fired_at: s.lastFiredAt,
    last_invocation_id: s.lastInvocationId,
    queued_tick_at: s.queuedTick,
    fired: s.fired,
    skipped: s.skipped,
    late: s.late,
  };
}
