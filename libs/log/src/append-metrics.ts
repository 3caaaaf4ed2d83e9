import { BATCH_RECORDS_BUCKETS, type createRegistry, histogram } from '@stead/runtime';

type Registry = ReturnType<typeof createRegistry>;

/** What a sequencer or the local log store reports about appends (see registerAppendMetrics). */
export interface AppendMetrics {
  /** An append was acknowledged (its records released, or synced) `seconds` after it was accepted. */
  appended(seconds: number): void;
  /** A batch of `records` records went out: a wave to the log servers, or one synced write of the local log. */
  batch(records: number): void;
}

/**
 * The append figures of a process that sequences logs or writes the local log
 * (`stead_log_append_duration_seconds`, `stead_log_append_batch_records`) in `registry`, and the sink that feeds
 * them.
 */
export function registerAppendMetrics(registry: Registry): AppendMetrics {
  const duration = histogram(
    registry,
    'stead_log_append_duration_seconds',
    'Log appends, from accepted by the sequencer (or the local log) to acknowledged',
  );
  const batch = histogram(
    registry,
    'stead_log_append_batch_records',
    'Records per batch: a wave sent to log servers, or one synced write of the local log',
    { buckets: BATCH_RECORDS_BUCKETS },
  );
  return {
    appended: (seconds) => duration.observe(seconds),
    batch: (records) => batch.observe(records),
  };
}
