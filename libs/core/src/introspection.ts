/**
 * SQL introspection (admin `POST /query`): the tables Restate 1.7 offers, with its column names and types, and
 * the contract between the SQL engine (libs/admin) and what feeds it rows (the partition stores, the schema
 * registry). Column order here is the order of `SELECT *`.
 *
 * A row is a plain object keyed by column name. Values by column type:
 *   utf8 string · u64 bigint or number · u32 number · bool boolean · binary Uint8Array ·
 *   timestamp_ms number (ms since the epoch, UTC) · duration_ms number (ms) · list_u32 number[] · list_utf8 string[]
 * A missing (undefined) or null value is SQL NULL.
 */

/** Column types, named after the Arrow types Restate answers with (LargeUtf8, UInt64, Timestamp(ms, "+00:00"), ...). */
export type SqlColumnType =
  | 'utf8'
  | 'u64'
  | 'u32'
  | 'bool'
  | 'binary'
  | 'timestamp_ms'
  | 'duration_ms'
  | 'list_u32'
  | 'list_utf8';

export interface SqlTable {
  name: string;
  columns: readonly (readonly [name: string, type: SqlColumnType])[];
}

export type IntrospectionValue =
  | string
  | number
  | bigint
  | boolean
  | Uint8Array
  | number[]
  | string[]
  | null
  | undefined;
export type IntrospectionRow = Record<string, IntrospectionValue>;

export interface ScanOptions {
  /** Stop after this many rows (over all batches and partitions). */
  limit: number;
  /**
   * The columns the reader uses (absent: all). A source may leave the others out of its rows, and need not: a
   * reader must not rely on their absence.
   */
  columns?: ReadonlySet<string>;
  signal?: AbortSignal;
}

/** Where the SQL engine reads a table's rows from: every partition (in a cluster, every partition's leader). */
export interface IntrospectionSource {
  /** The rows of `table` (a name of INTROSPECTION_TABLES), in batches; a table it has no data for yields nothing. */
  scan(table: string, opts: ScanOptions): AsyncIterable<IntrospectionRow[]>;
}

/**
 * The rows of several scans read one after the other, with one row limit over all of them: each scan is asked
 * for the rows still wanted, a batch past the limit is cut, and the signal is checked between scans. Serves both
 * a source made of sources and a partition host's scan of its partitions.
 */
export async function* scanInTurn(
  scans: Iterable<(opts: ScanOptions) => AsyncIterable<IntrospectionRow[]>>,
  opts: ScanOptions,
): AsyncGenerator<IntrospectionRow[]> {
  let left = opts.limit;
  for (const scan of scans) {
    if (left <= 0) return;
    opts.signal?.throwIfAborted();
    for await (const batch of scan({ ...opts, limit: left })) {
      const rows = batch.length > left ? batch.slice(0, left) : batch;
      left -= rows.length;
      if (rows.length > 0) yield rows;
      if (left <= 0) return;
    }
  }
}

const c = (spec: string): SqlTable['columns'] =>
  spec
    .trim()
    .split(/\s+/)
    .map((pair) => {
      const [name, type] = pair.split(':');
      return [name, type as SqlColumnType] as const;
    });

/** Every table of Restate 1.7's introspection, by name. Tables we keep no data for are present and empty. */
export const INTROSPECTION_TABLES: readonly SqlTable[] = [
  {
    name: 'state',
    columns: c(`
      key:utf8 key_length:u64 partition_key:u64 scope:utf8 service_key:utf8 service_name:utf8 value:binary
      value_length:u64 value_utf8:utf8
    `),
  },
  {
    name: 'sys_deployment',
    columns: c(`
      created_at:timestamp_ms endpoint:utf8 id:utf8 max_service_protocol_version:u32
      min_service_protocol_version:u32 services:list_utf8 ty:utf8
    `),
  },
  {
    name: 'sys_inbox',
    columns: c(`
      created_at:timestamp_ms id:utf8 partition_key:u64 sequence_number:u64 service_key:utf8
      service_name:utf8
    `),
  },
  {
    name: 'sys_invocation',
    columns: c(`
      completed_at:timestamp_ms completion_failure:utf8 completion_result:utf8
      completion_retention:duration_ms created_at:timestamp_ms created_using_restate_version:utf8 id:utf8
      idempotency_key:utf8 inboxed_at:timestamp_ms invoked_by:utf8 invoked_by_id:utf8
      invoked_by_service_name:utf8 invoked_by_subscription_id:utf8 invoked_by_target:utf8
      journal_commands_size:u32 journal_retention:duration_ms journal_size:u32
      last_attempt_deployment_id:utf8 last_attempt_server:utf8 last_awaiting_on_future_json:utf8
      last_failure:utf8 last_failure_error_code:utf8 last_failure_related_command_index:u64
      last_failure_related_command_name:utf8 last_failure_related_command_type:utf8
      last_failure_related_entry_index:u64 last_failure_related_entry_name:utf8
      last_failure_related_entry_type:utf8 last_start_at:timestamp_ms limit_key:utf8
      modified_at:timestamp_ms next_retry_at:timestamp_ms pinned_deployment_id:utf8
      pinned_service_protocol_version:u32 restarted_from:utf8 retry_count:u64 running_at:timestamp_ms
      scheduled_at:timestamp_ms scheduled_start_at:timestamp_ms scope:utf8 status:utf8
      suspended_waiting_for_completions:list_u32 suspended_waiting_for_signals:list_u32
      suspended_waiting_future_json:utf8 target:utf8 target_handler_name:utf8 target_service_key:utf8
      target_service_name:utf8 target_service_ty:utf8 trace_id:utf8 vqueue_id:utf8
    `),
  },
  {
    name: 'sys_invocation_state',
    columns: c(`
      id:utf8 in_flight:bool last_attempt_deployment_id:utf8 last_attempt_server:utf8
      last_awaiting_on_future_json:utf8 last_failure:utf8 last_failure_error_code:utf8
      last_failure_related_command_index:u64 last_failure_related_command_name:utf8
      last_failure_related_command_type:utf8 last_failure_related_entry_index:u64
      last_failure_related_entry_name:utf8 last_failure_related_entry_type:utf8 last_start_at:timestamp_ms
      next_retry_at:timestamp_ms partition_key:u64 retry_count:u64
    `),
  },
  {
    name: 'sys_invocation_status',
    columns: c(`
      completed_at:timestamp_ms completion_failure:utf8 completion_result:utf8
      completion_retention:duration_ms created_at:timestamp_ms created_using_restate_version:utf8 id:utf8
      idempotency_key:utf8 inboxed_at:timestamp_ms invoked_by:utf8 invoked_by_id:utf8
      invoked_by_service_name:utf8 invoked_by_subscription_id:utf8 invoked_by_target:utf8
      journal_commands_size:u32 journal_retention:duration_ms journal_size:u32 limit_key:utf8
      modified_at:timestamp_ms partition_key:u64 pinned_deployment_id:utf8
      pinned_service_protocol_version:u32 restarted_from:utf8 running_at:timestamp_ms
      scheduled_at:timestamp_ms scheduled_start_at:timestamp_ms scope:utf8 status:utf8
      suspended_waiting_for_completions:list_u32 suspended_waiting_for_signals:list_u32
      suspended_waiting_future_json:utf8 target:utf8 target_handler_name:utf8 target_service_key:utf8
      target_service_name:utf8 target_service_ty:utf8 trace_id:utf8 vqueue_id:utf8
    `),
  },
  {
    name: 'sys_journal',
    columns: c(`
      appended_at:timestamp_ms completed:bool entry_json:utf8 entry_lite_json:utf8 entry_type:utf8 id:utf8
      index:u32 invoked_id:utf8 invoked_target:utf8 name:utf8 partition_key:u64 promise_name:utf8
      raw:binary raw_length:u64 sleep_wakeup_at:timestamp_ms version:u32
    `),
  },
  {
    name: 'sys_journal_events',
    columns: c(`
      after_journal_entry_index:u32 appended_at:timestamp_ms event_json:utf8 event_type:utf8 id:utf8
      partition_key:u64
    `),
  },
  {
    name: 'sys_keyed_service_status',
    columns: c(`
      invocation_id:utf8 partition_key:u64 service_key:utf8 service_name:utf8
    `),
  },
  {
    name: 'sys_locks',
    columns: c(`
      acquired_at:timestamp_ms acquired_by:utf8 lock_name:utf8 partition_key:u64 scope:utf8
    `),
  },
  {
    name: 'sys_promise',
    columns: c(`
      completed:bool completion_failure:utf8 completion_success_value:binary
      completion_success_value_utf8:utf8 key:utf8 partition_key:u64 scope:utf8 service_key:utf8
      service_name:utf8
    `),
  },
  {
    name: 'sys_rules',
    columns: c(`
      concurrency:u32 description:utf8 disabled:bool last_modified:timestamp_ms pattern:utf8 version:u32
    `),
  },
  {
    name: 'sys_scheduler',
    columns: c(`
      blocked_on:utf8 blocked_on_json:utf8 concurrency_rules_block_duration:duration_ms
      deployment_concurrency_block_duration:duration_ms head_entry_id:utf8 id:utf8
      invoker_concurrency_block_duration:duration_ms invoker_memory_block_duration:duration_ms
      invoker_throttling_block_duration:duration_ms lock_block_duration:duration_ms num_inbox:u64
      partition_key:u64 scheduled_at:timestamp_ms status:utf8 throttling_rules_block_duration:duration_ms
    `),
  },
  {
    // Beyond Restate: Stead's cron schedules (admin API /schedules), one row per schedule in its partition.
    name: 'sys_schedule',
    columns: c(`
      content_type:utf8 created_at:timestamp_ms cron:utf8 fired:u64 id:utf8 input:binary
      journal_retention:duration_ms last_fired_at:timestamp_ms last_invocation_id:utf8 last_tick_at:timestamp_ms
      late:u64 next_tick_at:timestamp_ms overlap:utf8 partition_key:u64 paused:bool queued_tick_at:timestamp_ms
      retention:duration_ms skipped:u64 target_handler_name:utf8 target_handler_ty:utf8 target_service_key:utf8
      target_service_name:utf8 target_service_ty:utf8 time_zone:utf8
    `),
  },
  {
    name: 'sys_service',
    columns: c(`
      deployment_id:utf8 name:utf8 public:bool revision:u64 ty:utf8
    `),
  },
  {
    name: 'sys_user_limits',
    columns: c(`
      available:u32 concurrency_limit:u32 l1:utf8 l2:utf8 level:utf8 num_waiters:u64 partition_key:u64
      rule_pattern:utf8 scope:utf8 usage:u32
    `),
  },
  {
    name: 'sys_vqueue_entry_status',
    columns: c(`
      created_at:timestamp_ms deployment:utf8 entry_id:utf8 entry_kind:utf8 first_attempt_at:timestamp_ms
      first_runnable_at:timestamp_ms has_lock:bool latest_attempt_at:timestamp_ms
      latest_attempt_blocked_on_concurrency_rules:duration_ms
      latest_attempt_blocked_on_deployment_concurrency:duration_ms
      latest_attempt_blocked_on_invoker_concurrency:duration_ms
      latest_attempt_blocked_on_invoker_memory:duration_ms
      latest_attempt_blocked_on_invoker_throttling:duration_ms latest_attempt_blocked_on_lock:duration_ms
      latest_attempt_blocked_on_throttling_rules:duration_ms needed_memory:u64 next_at:timestamp_ms
      num_attempts:u32 num_errors:u32 num_pauses:u32 num_suspensions:u32 num_yields:u32 partition_key:u64
      retry_attempts:u32 retry_count_since_last_stored_command:u32 sequence_number:u64 stage:utf8
      status:utf8 total_blocked_on_concurrency_rules:duration_ms
      total_blocked_on_deployment_concurrency:duration_ms total_blocked_on_invoker_concurrency:duration_ms
      total_blocked_on_invoker_memory:duration_ms total_blocked_on_invoker_throttling:duration_ms
      total_blocked_on_lock:duration_ms total_blocked_on_throttling_rules:duration_ms
      transitioned_at:timestamp_ms vqueue_id:utf8
    `),
  },
  {
    name: 'sys_vqueue_meta',
    columns: c(`
      avg_blocked_on_concurrency_rules:duration_ms avg_blocked_on_invoker_concurrency:duration_ms
      avg_blocked_on_invoker_throttling:duration_ms avg_blocked_on_lock:duration_ms
      avg_end_to_end_duration:duration_ms avg_inbox_duration:duration_ms avg_queue_duration:duration_ms
      avg_run_duration:duration_ms avg_suspension_duration:duration_ms created_at:timestamp_ms id:utf8
      is_active:bool last_attempt_at:timestamp_ms last_enqueued_at:timestamp_ms
      last_finish_at:timestamp_ms last_start_at:timestamp_ms limit_key:utf8 lock_name:utf8
      num_finished:u64 num_inbox:u64 num_paused:u64 num_running:u64 num_suspended:u64 partition_key:u64
      queue_is_paused:bool scope:utf8 service_name:utf8
    `),
  },
  {
    name: 'sys_vqueues',
    columns: c(`
      created_at:timestamp_ms deployment:utf8 entry_id:utf8 entry_kind:utf8 first_attempt_at:timestamp_ms
      first_runnable_at:timestamp_ms has_lock:bool id:utf8 latest_attempt_at:timestamp_ms num_attempts:u32
      num_errors:u32 num_pauses:u32 num_suspensions:u32 num_yields:u32 partition_key:u64
      run_at:timestamp_ms sequence_number:u64 stage:utf8 status:utf8 transitioned_at:timestamp_ms
    `),
  },
];

export function introspectionTable(name: string): SqlTable | undefined {
  return INTROSPECTION_TABLES.find((t) => t.name === name);
}
