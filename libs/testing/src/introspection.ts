// In-memory IntrospectionSources for tests and benchmarks of the SQL engine (admin `POST /query`): fixed rows
// per table, and synthetic sys_invocation rows shaped like a busy server's.
import { type IntrospectionRow, type IntrospectionSource, newInvocationId, type ScanOptions } from '@stead/core';

/** Yields each table's rows in batches of `batchRows`, honouring `limit` and the abort signal like a real source. */
export function memorySource(
  tables: Record<string, readonly IntrospectionRow[]>,
  batchRows = 1024,
): IntrospectionSource & { scans: string[] } {
  const scans: string[] = [];
  return {
    scans,
    async *scan(table: string, opts: ScanOptions) {
      scans.push(table);
      const rows = tables[table] ?? [];
      const end = Math.min(rows.length, opts.limit);
      for (let start = 0; start < end; start += batchRows) {
        opts.signal?.throwIfAborted();
        yield rows.slice(start, Math.min(end, start + batchRows));
      }
    },
  };
}

const STATUSES = ['completed', 'running', 'suspended', 'backing-off', 'inboxed', 'scheduled', 'paused'] as const;

/** The status of synthetic invocation `i` (so that counts per status are known: see `syntheticStatusCounts`). */
export function syntheticStatus(i: number): string {
  // Mostly completed, as on a real server; every status occurs.
  return i % 10 < 4 ? STATUSES[i % 7] : 'completed';
}

/** How many of the first `n` synthetic invocations have each status. */
export function syntheticStatusCounts(n: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) counts[syntheticStatus(i)] = (counts[syntheticStatus(i)] ?? 0) + 1;
  return counts;
}

/** The id of synthetic invocation `i`: a real invocation id (its partition key and uuid derived from `i`). */
export function syntheticInvocationId(i: number): string {
  const uuid = Buffer.alloc(16);
  uuid.writeUInt32BE(i, 12);
  return newInvocationId(BigInt(i) * 0x9e3779b97f4a7c15n, () => uuid).toString();
}

/** Synthetic sys_invocation row `i`: ids, targets, timestamps, retries and failures filled as a real server would. */
export function syntheticInvocation(i: number, nowMs = 1_800_000_000_000): IntrospectionRow {
  const status = syntheticStatus(i);
  const service = `Service${i % 20}`;
  // Odd-numbered services are virtual objects (every invocation has a key), the others plain services.
  const key = i % 2 === 1 ? `key-${i % 1000}` : undefined;
  const handler = `handler${i % 5}`;
  const createdAt = nowMs - i * 1000;
  const failing = status === 'backing-off';
  return {
    id: syntheticInvocationId(i),
    partition_key: BigInt.asUintN(64, BigInt(i) * 0x9e3779b97f4a7c15n),
    status,
    target: key === undefined ? `${service}/${handler}` : `${service}/${key}/${handler}`,
    target_service_name: service,
    target_service_key: key,
    target_handler_name: handler,
    target_service_ty: key === undefined ? 'service' : 'virtual_object',
    invoked_by: i % 4 === 0 ? 'service' : 'ingress',
    invoked_by_service_name: i % 4 === 0 ? 'Caller' : undefined,
    pinned_deployment_id: 'dp_14LsPzKxVd5qrWe4KX0qZPr',
    pinned_service_protocol_version: 5,
    created_using_restate_version: '1.7.0',
    trace_id: i.toString(16).padStart(32, '0'),
    journal_size: 3 + (i % 7),
    journal_commands_size: 2 + (i % 7),
    retry_count: BigInt(failing ? 1 + (i % 9) : 1),
    created_at: createdAt,
    modified_at: createdAt + 500,
    running_at: status === 'inboxed' || status === 'scheduled' ? undefined : createdAt + 5,
    completed_at: status === 'completed' ? createdAt + 500 : undefined,
    completion_result: status === 'completed' ? 'success' : undefined,
    completion_retention: 86_400_000,
    journal_retention: 86_400_000,
    last_failure: failing ? `[500] step ${i % 3} failed: connection refused` : undefined,
    last_failure_error_code: failing ? '500' : undefined,
    next_retry_at: failing ? nowMs + (i % 60) * 1000 : undefined,
    suspended_waiting_for_completions: status === 'suspended' ? [1, 2] : undefined,
  };
}

/** `n` synthetic sys_invocation rows. */
export function syntheticInvocations(n: number, nowMs?: number): IntrospectionRow[] {
  return Array.from({ length: n }, (_, i) => syntheticInvocation(i, nowMs));
}
