// Cron schedules in the partition state machine, with the clock injected through the records' timestamps: the
// tick's invocation and the next timer come from one apply step; overlap policies; missed ticks; pause/resume.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { type OverlapPolicy, type ScheduleDefinition, scheduleIdempotencyKey, scheduleInvocationId } from '@stead/core';
import { decodeCommand, encodeCommand } from '../src/codec.ts';
import { PartitionTables } from '../src/tables.ts';
import { type Command, type Effect, type ResponseSink, TIMER_SCHEDULE } from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';

const SINK: ResponseSink = { kind: 'ingress', node: 'admin/1' };
const T0 = Date.parse('2026-11-27T10:00:00.400Z');
const TICK1 = Date.parse('2026-11-27T10:00:01Z');

const definition = (overlap: OverlapPolicy = 'skip', cron = '* * * * * *'): ScheduleDefinition => ({
  id: 'beat',
  cron,
  timeZone: 'UTC',
  target: { service: 'Ticks', handler: 'record', serviceType: 'SERVICE' },
  input: new TextEncoder().encode('{}'),
  contentType: 'application/json',
  overlap,
  retentionMs: 60_000,
  journalRetentionMs: 0,
});

const outcomeOf = (effects: Effect[]) => {
  const r = effects.find((e) => e.kind === 'respond');
  if (r?.kind !== 'respond') throw new Error(`no answer among ${JSON.stringify(effects)}`);
  return r.outcome.ok ? new TextDecoder().decode(r.outcome.value) : r.outcome;
};
const timers = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'timer' ? [e.timer] : []));
const invoked = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'invoke' ? [e.invocationId] : []));

describe('schedules in the state machine', () => {
  let p: TestPartition;
  let tables: PartitionTables;
  beforeEach(async () => {
    p = await openTestPartition('stead-schedules-');
    tables = new PartitionTables(p.store);
  });
  afterEach(() => p.close());

  /** Applies as the processor does: through the record's log encoding. */
  const apply = (cmd: Command) => p.sm.apply(decodeCommand(encodeCommand(cmd)));
  const create = (def: ScheduleDefinition, ts = T0) =>
    apply({ kind: 'Schedule', ts, op: 'create', id: def.id, definition: def, sink: SINK });
  const op = (o: 'pause' | 'resume' | 'delete', ts: number) =>
    apply({ kind: 'Schedule', ts, op: o, id: 'beat', sink: SINK });
  const fire = (tick: number, ts: number) =>
    apply({ kind: 'TimerFired', ts, timer: { wakeAt: tick, invocationId: 'beat', completionId: TIMER_SCHEDULE } });
  const end = (invocationId: string, ts: number) =>
    apply({ kind: 'Effect', ts, epoch: 0, invocationId, attempt: 1, effect: { kind: 'end' } });
  const schedule = async () => {
    const s = await tables.schedule('beat');
    if (!s) throw new Error('no schedule');
    return s;
  };

  it('arms the first tick, starts each tick with its derived id and key, and arms the next in the same step', async () => {
    const def = definition('allow');
    const created = await create(def);
    expect(outcomeOf(created)).toBe('created');
    expect(timers(created)).toEqual([{ wakeAt: TICK1, invocationId: 'beat', completionId: TIMER_SCHEDULE }]);

    const fired = await fire(TICK1, TICK1 + 15);
    const id = scheduleInvocationId(def, TICK1);
    expect(invoked(fired)).toEqual([id]);
    expect(timers(fired)).toEqual([{ wakeAt: TICK1 + 1000, invocationId: 'beat', completionId: TIMER_SCHEDULE }]);
    const st = await p.reader.status(id);
    expect(st).toMatchObject({ idempotencyKey: scheduleIdempotencyKey('beat', TICK1), retentionMs: 60_000 });
    expect(st?.target).toEqual({ service: 'Ticks', handler: 'record', serviceType: 'SERVICE' });
    expect(await schedule()).toMatchObject({ fired: 1, skipped: 0, late: 0, lastTick: TICK1, lastInvocationId: id });

    // The same timer record applied again (a replayed or re-appended fire) starts nothing.
    expect(invoked(await fire(TICK1, TICK1 + 40))).toEqual([]);
    expect((await schedule()).fired).toBe(1);
  });

  it('answers a repeated create with the same definition as unchanged, and a different one with 409', async () => {
    await create(definition());
    expect(outcomeOf(await create(definition(), T0 + 5000))).toBe('unchanged');
    expect(outcomeOf(await create(definition('queue')))).toMatchObject({ ok: false, code: 409 });
    expect((await schedule()).definition.overlap).toBe('skip');
  });

  it('after a gap fires only the latest missed tick, late, and counts the others as skipped', async () => {
    await create(definition('allow'));
    const fired = await fire(TICK1, TICK1 + 3600); // down from before TICK1 until 3.6 s after it
    expect(invoked(fired)).toEqual([scheduleInvocationId(definition(), TICK1 + 3000)]);
    expect(timers(fired)).toEqual([{ wakeAt: TICK1 + 4000, invocationId: 'beat', completionId: TIMER_SCHEDULE }]);
    expect(await schedule()).toMatchObject({ fired: 1, skipped: 3, late: 1, lastTick: TICK1 + 3000 });
  });

  it('overlap skip: a tick while the last one runs is skipped', async () => {
    await create(definition('skip'));
    await fire(TICK1, TICK1 + 10);
    expect(invoked(await fire(TICK1 + 1000, TICK1 + 1010))).toEqual([]);
    expect(await schedule()).toMatchObject({ fired: 1, skipped: 1 });
    await end(scheduleInvocationId(definition(), TICK1), TICK1 + 1500);
    expect(invoked(await fire(TICK1 + 2000, TICK1 + 2010))).toEqual([scheduleInvocationId(definition(), TICK1 + 2000)]);
    expect(await schedule()).toMatchObject({ fired: 2, skipped: 1 });
  });

  it('overlap queue: one tick waits for the last one to end (a newer one replaces it), then starts', async () => {
    const def = definition('queue');
    await create(def);
    await fire(TICK1, TICK1 + 10);
    await fire(TICK1 + 1000, TICK1 + 1010);
    await fire(TICK1 + 2000, TICK1 + 2010); // replaces the queued TICK1+1000, which counts as skipped
    expect(await schedule()).toMatchObject({ fired: 1, skipped: 1, queuedTick: TICK1 + 2000 });
    const ended = await end(scheduleInvocationId(def, TICK1), TICK1 + 2500);
    expect(invoked(ended)).toEqual([scheduleInvocationId(def, TICK1 + 2000)]);
    const s = await schedule();
    expect(s).toMatchObject({ fired: 2, skipped: 1, lastTick: TICK1 + 2000 });
    expect(s.queuedTick).toBeUndefined();
  });

  it('overlap allow: starts every tick', async () => {
    await create(definition('allow'));
    await fire(TICK1, TICK1 + 10);
    expect(invoked(await fire(TICK1 + 1000, TICK1 + 1010))).toHaveLength(1);
    expect(await schedule()).toMatchObject({ fired: 2, skipped: 0 });
  });

  it('pause drops the timer; resume arms the first tick after it; delete forgets the schedule', async () => {
    await create(definition());
    expect(outcomeOf(await op('pause', T0 + 100))).toBe('paused');
    expect(invoked(await fire(TICK1, TICK1 + 10))).toEqual([]); // the old timer is gone
    expect((await p.reader.timersAfter(undefined, 10)).map((t) => t.timer.completionId)).not.toContain(TIMER_SCHEDULE);
    const resumed = await op('resume', TICK1 + 5200);
    expect(outcomeOf(resumed)).toBe('resumed');
    expect(timers(resumed)).toEqual([{ wakeAt: TICK1 + 6000, invocationId: 'beat', completionId: TIMER_SCHEDULE }]);
    expect(await schedule()).toMatchObject({ paused: false, nextTick: TICK1 + 6000, skipped: 0 });
    expect(outcomeOf(await op('delete', TICK1 + 5300))).toBe('deleted');
    expect(await tables.schedule('beat')).toBeUndefined();
    expect(outcomeOf(await op('pause', TICK1 + 5400))).toMatchObject({ ok: false, code: 404 });
    expect(invoked(await fire(TICK1 + 6000, TICK1 + 6010))).toEqual([]);
  });
});
