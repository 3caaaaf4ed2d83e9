/**
 * Cron ticks of a schedule: pure functions of (definition, previous tick, now), so that every replica applying the
 * same records computes the same ticks. A tick is an instant (epoch ms); the cron fields are read as wall-clock
 * time in the schedule's IANA time zone by cron-parser, which also settles daylight saving time:
 *
 * - a wall time that does not exist (spring forward, e.g. 02:30 in New York on 2026-03-08) fires once, at the
 *   same minute after the gap (03:30 EDT);
 * - a wall time that exists twice (fall back, 01:30 on 2026-11-01) fires once, at its first occurrence, when the
 *   hour field is fixed; a schedule whose hour field is `*` runs by the clock's real hours and fires in both
 *   (each is its own tick: 05:00Z and 06:00Z);
 * - ticks only ever move forward (`nextTick` asserts it): no instant fires twice.
 */
import { CronExpressionParser } from 'cron-parser';

export interface CronSpec {
  cron: string;
  timeZone: string;
}

/** A tick fired this much after its time (or after a gap in which ticks were skipped) counts as late. */
export const LATE_AFTER_MS = 1000;
/** Missed ticks counted one by one at most (a longer gap is counted as this many; the latest still fires). */
export const MAX_COUNTED_MISSED = 10_000;

/** Why `spec` is not a schedule we can run (undefined when it is one): a message for a 400 answer. */
export function cronProblem(spec: CronSpec): string | undefined {
  const fields = spec.cron.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6)
    return `cron expression '${spec.cron}' has ${fields.length} fields; expected 5 (minute hour day-of-month month day-of-week) or 6 (second first)`;
  if (fields.some((f) => f.startsWith('@')))
    return `cron expression '${spec.cron}': predefined expressions (@daily, ...) are not supported; write the fields`;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: spec.timeZone });
  } catch {
    return `unknown time zone '${spec.timeZone}'; use an IANA name such as UTC, Europe/Berlin or America/New_York`;
  }
  try {
    nextTick(spec, 0);
  } catch (err) {
    return `invalid cron expression '${spec.cron}': ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}

/**
 * The ticks after `afterMs`, one per call, from one parse of the expression (parsing it again for every tick would
 * cost three times as much); each call asserts that ticks move forward.
 */
function tickWalk(spec: CronSpec, afterMs: number): () => number {
  const it = CronExpressionParser.parse(spec.cron, { tz: spec.timeZone, currentDate: new Date(afterMs) });
  let last = afterMs;
  return () => {
    const t = it.next().getTime();
    if (!(t > last)) throw new Error(`cron '${spec.cron}' in ${spec.timeZone} gave tick ${t} not after ${last}`);
    last = t;
    return t;
  };
}

/** The first tick strictly after `afterMs`. */
export function nextTick(spec: CronSpec, afterMs: number): number {
  return tickWalk(spec, afterMs)();
}

/** The first `n` ticks strictly after `afterMs` (the admin API's next fire times). */
export function nextTicks(spec: CronSpec, afterMs: number, n: number): number[] {
  return Array.from({ length: n }, tickWalk(spec, afterMs));
}

/** What the timer of tick `due` does when it fires at `now` (>= due). */
export interface TickPlan {
  /** The tick to start: the latest one due (`due` itself unless ticks were missed). */
  fire: number;
  /** Ticks due before `fire` that will never start (missed while no leader ran them). */
  skipped: number;
  late: boolean;
  /** The tick to arm next: the first after `now`. */
  next: number;
}

/**
 * The missed-ticks policy: of the ticks due by `now`, the latest fires (late when others were missed or it is
 * LATE_AFTER_MS behind), the earlier ones count as skipped; the next timer is the first tick after `now`.
 */
export function planTicks(spec: CronSpec, due: number, now: number): TickPlan {
  const step = tickWalk(spec, due);
  let fire = due;
  let skipped = 0;
  let next = step();
  while (next <= now && skipped < MAX_COUNTED_MISSED) {
    skipped++;
    fire = next;
    next = step();
  }
  if (next <= now) {
    // A very long gap: jump to the latest tick due instead of walking every one.
    const back = CronExpressionParser.parse(spec.cron, { tz: spec.timeZone, currentDate: new Date(now + 1) });
    fire = Math.max(fire, back.prev().getTime());
    next = nextTick(spec, fire);
  }
  return { fire, skipped, late: skipped > 0 || now - fire >= LATE_AFTER_MS, next };
}
