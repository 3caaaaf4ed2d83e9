// The figures of the partitions a process hosts and of the invocations it runs, as Prometheus metrics. The hot
// paths (invoker, leader) report to an InvocationMetrics sink; the rest is read from the host at scrape time.
import {
  type createRegistry,
  histogram,
  readCounter,
  readGauge,
  readLabeledCounter,
  readLabeledGauge,
} from '@stead/observability';
import type { PartitionHost } from './host.ts';

type Registry = ReturnType<typeof createRegistry>;

/** How an invocation attempt ended (the `outcome` label of `stead_invoker_attempt_duration_seconds`). */
export type AttemptOutcome = 'completed' | 'suspended' | 'failed' | 'retry';

/** What the leaders and the invoker of a process report about invocations (see registerInvocationMetrics). */
export interface InvocationMetrics {
  /** The first attempt of an invocation started. */
  started(): void;
  /** An invocation ended: with a result (`ok`), or with a failure (a terminal error, a kill, a cancellation). */
  ended(ok: boolean): void;
  /** A failed attempt will be made again (after its backoff). */
  retried(): void;
  /** An attempt ended with `outcome`, `seconds` after it started. */
  attempt(outcome: AttemptOutcome, seconds: number): void;
}

const OUTCOMES: readonly AttemptOutcome[] = ['completed', 'suspended', 'failed', 'retry'];

/**
 * The invocation figures of a process (`stead_invocations_*_total`, `stead_invoker_attempt_duration_seconds`)
 * in `registry`, and the sink that feeds them: counts are plain numbers read at scrape time, durations go to one
 * histogram child per outcome (each exported from the start, at zero).
 */
export function registerInvocationMetrics(registry: Registry): InvocationMetrics {
  const n = { started: 0, completed: 0, failed: 0, retried: 0 };
  readCounter(
    registry,
    'stead_invocations_started_total',
    'Invocations whose first attempt started here',
    () => n.started,
  );
  readCounter(registry, 'stead_invocations_completed_total', 'Invocations that ended with a result', () => n.completed);
  readCounter(
    registry,
    'stead_invocations_failed_total',
    'Invocations that ended with a failure (terminal error, killed, cancelled)',
    () => n.failed,
  );
  readCounter(
    registry,
    'stead_invocations_retried_total',
    'Invocation attempts scheduled again after a retryable failure',
    () => n.retried,
  );
  const duration = histogram(
    registry,
    'stead_invoker_attempt_duration_seconds',
    'Invocation attempts, from their start to their end, by how they ended',
    { labelNames: ['outcome'] },
  );
  for (const outcome of OUTCOMES) duration.zero({ outcome });
  const byOutcome = {
    completed: duration.labels('completed'),
    suspended: duration.labels('suspended'),
    failed: duration.labels('failed'),
    retry: duration.labels('retry'),
  };
  return {
    started: () => {
      n.started++;
    },
    ended: (ok) => {
      if (ok) n.completed++;
      else n.failed++;
    },
    retried: () => {
      n.retried++;
    },
    attempt: (outcome, seconds) => byOutcome[outcome].observe(seconds),
  };
}

/**
 * The figures of the partitions `host` holds, read at each scrape: replicas by role, how far each replica is
 * behind its log, its backlog (what admission control limits), the invoker's concurrency and the requests
 * refused as overload, and the tick counts of the cron schedules in the partitions led here.
 */
export function registerHostMetrics(registry: Registry, host: PartitionHost): void {
  readGauge(
    registry,
    'stead_invoker_running_invocations',
    'Invocation attempts running',
    () => host.runningInvocations,
  );
  readGauge(
    registry,
    'stead_invoker_waiting_invocations',
    'Invocations waiting for a slot (--max-concurrent-invocations)',
    () => host.waitingInvocations,
  );
  readGauge(
    registry,
    'stead_ingress_refused_requests',
    'Ingress requests refused as overload (503/429) by the partitions led here',
    () => host.refusedRequests,
  );
  readLabeledGauge(registry, 'stead_partition_replicas', 'Partitions hosted here, by role', 'role', () => {
    let leaders = 0;
    let all = 0;
    for (const p of host.status()) {
      all++;
      if (p.role === 'leader') leaders++;
    }
    // A candidate (its announcement not applied yet) does not act: it counts as a follower.
    return [
      ['leader', leaders],
      ['follower', all - leaders],
    ];
  });
  const perPartition = (pick: (p: PartitionHost['processors'][number]) => number) => () =>
    host.processors.map((p): [string, number] => [String(p.partitionId), pick(p)]);
  readLabeledGauge(
    registry,
    'stead_partition_applied_lag_records',
    'Records of each hosted partition log not applied here yet (its known tail minus its applied offset, minus one)',
    'partition',
    perPartition((p) => p.lag),
  );
  readLabeledGauge(
    registry,
    'stead_partition_backlog_records',
    'Records appended to each hosted partition log and not yet applied, with appends in flight',
    'partition',
    perPartition((p) => p.backlog),
  );
  registerScheduleMetrics(registry, host);
}

/**
 * The ticks of the cron schedules in the partitions led here, by schedule id, read at each scrape from the
 * schedules' durable counts: a restart or a new leader reports the same numbers, never a tick twice.
 */
function registerScheduleMetrics(registry: Registry, host: PartitionHost): void {
  // One read of the schedules serves the three counters of a scrape that asks for them together.
  let cached: { at: number; figures: Promise<ScheduleFigures[]> } | undefined;
  const figures = () => {
    const now = Date.now();
    if (!cached || now - cached.at > 100) cached = { at: now, figures: host.scheduleFigures() };
    return cached.figures;
  };
  const counter = (name: string, help: string, pick: (f: ScheduleFigures) => number) =>
    readLabeledCounter(registry, name, help, 'schedule', async () =>
      (await figures()).map((f): [string, number] => [f.id, pick(f)]),
    );
  counter('stead_schedule_ticks_fired_total', 'Cron schedule ticks that started their invocation', (f) => f.fired);
  counter(
    'stead_schedule_ticks_skipped_total',
    'Cron schedule ticks that never started (missed while no leader ran them, or overlapping with overlap skip)',
    (f) => f.skipped,
  );
  counter(
    'stead_schedule_ticks_late_total',
    'Cron schedule ticks started a second or more after their time (after a gap, the latest missed tick)',
    (f) => f.late,
  );
}

/** What the schedule metrics show of a schedule. */
export interface ScheduleFigures {
  id: string;
  fired: number;
  skipped: number;
  late: number;
}
