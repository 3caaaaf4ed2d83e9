/**
 * Cron schedules (beyond Restate). A schedule is a row of its partition's store with one armed timer, at its next
 * tick. When that timer fires, the tick's invocation is created here, in the same apply step that arms the next
 * timer: both come from one log record, so a replay (after kill -9, or on a new leader) re-derives exactly the
 * same invocations, and a tick can neither start twice nor be lost. The invocation's id and idempotency key are a
 * pure function of (schedule id, tick): even a schedule deleted and created again does not start a tick twice
 * while the first one's invocation is retained.
 */
import {
  type InvocationOutcome,
  LATE_AFTER_MS,
  nextTick,
  planTicks,
  SCHEDULE_ID_HEADER,
  SCHEDULE_TICK_HEADER,
  type ScheduleDefinition,
  scheduleIdempotencyKey,
  scheduleIdOfKey,
  scheduleInvocationId,
} from '@stead/core';
import { type Command, type InvocationStatus, type ScheduleRecord, TIMER_SCHEDULE, type TimerKey } from '../types.ts';
import type { ApplyContext } from './context.ts';
import { applyInvoke } from './invocation.ts';

type ScheduleCommand = Extract<Command, { kind: 'Schedule' }>;

const ok = (value: string): InvocationOutcome => ({ ok: true, value: new TextEncoder().encode(value) });
const notFound = (id: string): InvocationOutcome => ({ ok: false, code: 404, message: `schedule '${id}' not found` });

export async function applySchedule(ctx: ApplyContext, cmd: ScheduleCommand): Promise<void> {
  const outcome = await scheduleOp(ctx, cmd);
  if (cmd.sink) await ctx.respond('', cmd.sink, outcome, cmd.ts);
}

async function scheduleOp(ctx: ApplyContext, cmd: ScheduleCommand): Promise<InvocationOutcome> {
  const now = cmd.ts;
  if (cmd.op === 'create') {
    if (!cmd.definition) throw new Error('a schedule create carries no definition');
    return create(ctx, cmd.definition, now);
  }
  const s = await ctx.tables.schedule(cmd.id);
  if (!s) return notFound(cmd.id);
  switch (cmd.op) {
    case 'pause':
      if (!s.paused) pause(ctx, s);
      break;
    case 'resume':
      if (s.paused) {
        s.paused = false;
        arm(ctx, s, nextTick(s.definition, now));
      }
      break;
    case 'delete':
      disarm(ctx, s);
      ctx.tables.delSchedule(s.definition.id);
      return ok('deleted');
  }
  ctx.tables.putSchedule(s);
  return ok(s.paused ? 'paused' : 'resumed');
}

async function create(ctx: ApplyContext, def: ScheduleDefinition, now: number): Promise<InvocationOutcome> {
  const existing = await ctx.tables.schedule(def.id);
  if (existing) {
    if (sameDefinition(existing.definition, def)) return ok('unchanged');
    return {
      ok: false,
      code: 409,
      message: `schedule '${def.id}' exists with a different definition; delete it first or pick another id`,
    };
  }
  const s: ScheduleRecord = { definition: def, createdAt: now, paused: false, fired: 0, skipped: 0, late: 0 };
  arm(ctx, s, nextTick(def, now));
  ctx.tables.putSchedule(s);
  return ok('created');
}

/** Field by field (the input byte by byte): a repeated create with the same definition changes nothing. */
export function sameDefinition(a: ScheduleDefinition, b: ScheduleDefinition): boolean {
  const plain = (d: ScheduleDefinition) => JSON.stringify({ ...d, input: Buffer.from(d.input).toString('base64') });
  const norm = (d: ScheduleDefinition): ScheduleDefinition => ({
    id: d.id,
    cron: d.cron,
    timeZone: d.timeZone,
    target: {
      service: d.target.service,
      handler: d.target.handler,
      key: d.target.key,
      serviceType: d.target.serviceType,
      handlerType: d.target.handlerType,
    },
    input: d.input,
    contentType: d.contentType,
    overlap: d.overlap,
    retentionMs: d.retentionMs,
    journalRetentionMs: d.journalRetentionMs,
  });
  return plain(norm(a)) === plain(norm(b));
}

const timerOf = (s: ScheduleRecord, tick: number): TimerKey => ({
  wakeAt: tick,
  invocationId: s.definition.id,
  completionId: TIMER_SCHEDULE,
});

function arm(ctx: ApplyContext, s: ScheduleRecord, tick: number): void {
  s.nextTick = tick;
  ctx.addTimer(timerOf(s, tick));
}

function disarm(ctx: ApplyContext, s: ScheduleRecord): void {
  if (s.nextTick !== undefined) ctx.tables.delTimer(timerOf(s, s.nextTick));
  s.nextTick = undefined;
}

/** Paused: no timer; a tick queued behind a running invocation is dropped (counted as skipped). */
function pause(ctx: ApplyContext, s: ScheduleRecord): void {
  s.paused = true;
  disarm(ctx, s);
  if (s.queuedTick !== undefined) {
    s.skipped++;
    s.queuedTick = undefined;
  }
}

/** The timer of tick `timer.wakeAt` fired at `now` (the TimerFired record's ts). */
export async function scheduleTimerFired(ctx: ApplyContext, timer: TimerKey, now: number): Promise<void> {
  const s = await ctx.tables.schedule(timer.invocationId);
  if (!s || s.paused || s.nextTick !== timer.wakeAt) return; // deleted, paused or re-armed since
  const plan = planTicks(s.definition, timer.wakeAt, now);
  s.skipped += plan.skipped;
  await tick(ctx, s, plan.fire, plan.late, now);
  arm(ctx, s, plan.next);
  ctx.tables.putSchedule(s);
}

/** Tick `t` is due: start it, or apply the overlap policy when the last tick's invocation still runs. */
async function tick(ctx: ApplyContext, s: ScheduleRecord, t: number, late: boolean, now: number): Promise<void> {
  if (s.definition.overlap !== 'allow' && (await lastStillRuns(ctx, s))) {
    if (s.definition.overlap === 'skip' || s.queuedTick !== undefined) s.skipped++;
    if (s.definition.overlap === 'queue') s.queuedTick = t;
    return;
  }
  await start(ctx, s, t, late, now);
}

async function lastStillRuns(ctx: ApplyContext, s: ScheduleRecord): Promise<boolean> {
  if (s.lastInvocationId === undefined) return false;
  const st = await ctx.status(s.lastInvocationId);
  return st !== undefined && st.phase !== 'completed';
}

/** Creates tick `t`'s invocation, as an Invoke record would (an existing one with its id is left alone). */
async function start(ctx: ApplyContext, s: ScheduleRecord, t: number, late: boolean, now: number): Promise<void> {
  const def = s.definition;
  const id = scheduleInvocationId(def, t);
  const idempotencyKey = scheduleIdempotencyKey(def.id, t);
  const headers: [string, string][] = [
    ['idempotency-key', idempotencyKey],
    [SCHEDULE_ID_HEADER, def.id],
    [SCHEDULE_TICK_HEADER, new Date(t).toISOString()],
  ];
  if (def.contentType !== undefined) headers.unshift(['content-type', def.contentType]);
  await applyInvoke(ctx, {
    kind: 'Invoke',
    ts: now,
    inv: {
      id,
      target: { ...def.target },
      input: def.input,
      headers,
      idempotencyKey,
      retentionMs: def.retentionMs,
      journalRetentionMs: def.journalRetentionMs,
    },
  });
  s.fired++;
  if (late) s.late++;
  s.lastTick = t;
  s.lastFiredAt = now;
  s.lastInvocationId = id;
  s.queuedTick = undefined;
}

/**
 * An invocation ended: when it is the last tick's of a schedule with a tick queued behind it (overlap `queue`),
 * that tick starts now. Only invocations with a schedule's idempotency key cost a read.
 */
export async function scheduledInvocationEnded(ctx: ApplyContext, st: InvocationStatus, now: number): Promise<void> {
  const scheduleId = scheduleIdOfKey(st.idempotencyKey);
  if (scheduleId === undefined) return;
  const s = await ctx.tables.schedule(scheduleId);
  if (!s || s.lastInvocationId !== st.id || s.queuedTick === undefined || s.paused) return;
  const t = s.queuedTick;
  await start(ctx, s, t, now - t >= LATE_AFTER_MS, now);
  ctx.tables.putSchedule(s);
}
