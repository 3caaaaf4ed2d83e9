/** An invocation's status and journal as admin introspection shows it (Restate's `sys_invocation` columns). */
import type { InvocationDescription } from '@stead/core';
import * as journal from './journal.ts';
import type { InvocationStatus, JournalEntry } from './types.ts';

/** Restate's `sys_invocation.status` names for our phases. */
const STATUS_NAMES: Record<InvocationStatus['phase'], string> = {
  scheduled: 'scheduled',
  inboxed: 'pending',
  invoked: 'running',
  suspended: 'suspended',
  paused: 'paused',
  completed: 'completed',
};

/** Entry types the state machine does not interpret, named here for introspection. */
const OPAQUE_TYPES = { GetEagerState: 0x0407, GetEagerStateKeys: 0x0408, Run: 0x0411 } as const;

const ENTRY_NAMES = new Map<number, string>(
  [...Object.entries(journal.T), ...Object.entries(journal.T2), ...Object.entries(OPAQUE_TYPES)].map(([name, code]) => [
    code,
    journal.isCommandType(code) ? `Command: ${name}` : `Notification: ${name.replace(/N$/, '')}`,
  ]),
);

/** The name of a journal entry type as introspection shows it ("Command: Run", "Notification: Sleep"). */
export function entryTypeName(type: number): string {
  return ENTRY_NAMES.get(type) ?? `0x${type.toString(16)}`;
}

export function describeInvocation(st: InvocationStatus, entries: JournalEntry[]): InvocationDescription {
  const t = st.target;
  const iso = (ms: number) => new Date(ms).toISOString();
  const d: InvocationDescription = {
    id: st.id,
    target: t.key === undefined ? `${t.service}/${t.handler}` : `${t.service}/${t.key}/${t.handler}`,
    target_service_name: t.service,
    target_handler_name: t.handler,
    status: STATUS_NAMES[st.phase],
    created_at: iso(st.createdAt),
    modified_at: iso(st.modifiedAt),
    journal_size: entries.length,
    journal: entries.map((e, index) => ({
      index,
      entry_type: entryTypeName(e.type),
      type_code: e.type,
    })),
  };
  if (t.key !== undefined) d.target_service_key = t.key;
  if (st.idempotencyKey !== undefined) d.idempotency_key = st.idempotencyKey;
  if (st.deploymentId !== undefined) d.deployment_id = st.deploymentId;
  if (st.completedAt !== undefined) {
    d.completed_at = iso(st.completedAt);
    if (st.retentionMs) d.retention_until = iso(st.completedAt + st.retentionMs);
    if (st.journalRetentionMs) d.journal_retention_until = iso(st.completedAt + st.journalRetentionMs);
  }
  if (st.output) {
    d.completion_result = st.output.ok ? 'success' : 'failure';
    if (!st.output.ok) d.completion_failure = `[${st.output.code}] ${st.output.message}`;
  }
  return d;
}
