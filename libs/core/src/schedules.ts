/**
 * Durable cron schedules (beyond Restate): what the admin API hands the engine. A schedule lives in one partition
 * (see `schedulePartitionKey`), driven by that partition's durable timers; each tick starts its target with an
 * invocation id and an idempotency key that are a pure function of (schedule id, tick), so that a replay, a
 * restart or a new leader can never start a tick twice.
 */
import { derivedInvocationId } from './derived-ids.ts';
import { partitionKeyOf } from './hash.ts';
import type { HandlerType, ServiceType } from './schema.ts';

/**
 * What a tick does while the invocation of an earlier tick still runs: `skip` counts it as skipped, `queue` starts
 * it when that invocation ends (at most one waits; a newer tick replaces it and the older one counts as skipped),
 * `allow` starts it anyway.
 */
export type OverlapPolicy = 'skip' | 'queue' | 'allow';
export const OVERLAP_POLICIES: readonly OverlapPolicy[] = ['skip', 'queue', 'allow'];

export interface ScheduleTarget {
  service: string;
  handler: string;
  /** Object or workflow key (keyed services only). */
  key?: string;
  serviceType: ServiceType;
  handlerType?: HandlerType;
}

/** A schedule as created: everything that identifies it (two creates with the same id must agree on all of it). */
export interface ScheduleDefinition {
  id: string;
  /** 5 fields (minute first) or 6 (second first). */
  cron: string;
  /** IANA time zone the cron fields are read in. */
  timeZone: string;
  target: ScheduleTarget;
  input: Uint8Array;
  contentType?: string;
  overlap: OverlapPolicy;
  /** How long each tick's invocation stays retrievable after it completes (the service's idempotency retention). */
  retentionMs: number;
  journalRetentionMs: number;
}

export type ScheduleOperation =
  | { op: 'create'; definition: ScheduleDefinition }
  | { op: 'pause' | 'resume' | 'delete'; id: string };

/** A schedule lives where its ticks' invocations live: its target key's partition, or its own id's when unkeyed. */
export function schedulePartitionKey(def: Pick<ScheduleDefinition, 'id' | 'target'>): bigint {
  return partitionKeyOf(def.target.key ?? def.id);
}

/** The idempotency key of a tick: `schedule/<id>/<tick as ISO-8601 UTC>`. */
export function scheduleIdempotencyKey(id: string, tickMs: number): string {
  return `${SCHEDULE_KEY_PREFIX}${id}/${new Date(tickMs).toISOString()}`;
}
export const SCHEDULE_KEY_PREFIX = 'schedule/';

/** The schedule id of a tick's idempotency key, or undefined when it is not one. */
export function scheduleIdOfKey(idempotencyKey: string | undefined): string | undefined {
  if (!idempotencyKey?.startsWith(SCHEDULE_KEY_PREFIX)) return undefined;
  const slash = idempotencyKey.lastIndexOf('/');
  return slash <= SCHEDULE_KEY_PREFIX.length ? undefined : idempotencyKey.slice(SCHEDULE_KEY_PREFIX.length, slash);
}

/** The invocation of a tick: same schedule and tick, same id; in the schedule's partition. */
export function scheduleInvocationId(def: Pick<ScheduleDefinition, 'id' | 'target'>, tickMs: number): string {
  return derivedInvocationId(`sched\u0000${def.id}\u0000${tickMs}`, { key: def.target.key ?? def.id });
}

/** Headers every tick's invocation carries, so that a handler can tell which tick it runs for. */
export const SCHEDULE_ID_HEADER = 'x-stead-schedule-id';
export const SCHEDULE_TICK_HEADER = 'x-stead-schedule-tick';
