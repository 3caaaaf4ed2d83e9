// Cron tick computation for schedules: a pure function of (definition, previous tick, now), checked over explicit
// daylight-saving dates so that no tick fires twice and no existing wall time is skipped.
import { describe, expect, it } from '@jest/globals';
import { cronProblem, MAX_COUNTED_MISSED, nextTick, nextTicks, planTicks } from '../src/index.ts';

const at = (iso: string) => Date.parse(iso);
const isoTicks = (cron: string, timeZone: string, from: string, n: number) =>
  nextTicks({ cron, timeZone }, at(from), n).map((t) => new Date(t).toISOString());

describe('nextTick across DST', () => {
  it('fires a wall time that does not exist (spring forward) once, right after the gap', () => {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist that day.
    expect(isoTicks('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 3)).toEqual([
      '2026-03-08T07:30:00.000Z', // 03:30 EDT: once, late by the hour the clock skipped
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
      '2026-03-10T06:30:00.000Z',
    ]);
    // Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    expect(isoTicks('30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 2)).toEqual([
      '2026-03-29T01:30:00.000Z', // 03:30 CEST
      '2026-03-30T00:30:00.000Z',
    ]);
  });

  it('fires a fixed wall time that exists twice (fall back) once, at its first occurrence', () => {
    // New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens at 05:30Z and again at 06:30Z.
    expect(isoTicks('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 3)).toEqual([
      '2026-11-01T05:30:00.000Z',
      '2026-11-02T06:30:00.000Z',
      '2026-11-03T06:30:00.000Z',
    ]);
    // From the first occurrence itself (the previous tick), the second is not a new tick.
    expect(nextTick({ cron: '30 1 * * *', timeZone: 'America/New_York' }, at('2026-11-01T05:30:00Z'))).toBe(
      at('2026-11-02T06:30:00Z'),
    );
    expect(nextTick({ cron: '0 30 2 * * *', timeZone: 'Europe/Berlin' }, at('2026-10-25T00:30:00Z'))).toBe(
      at('2026-10-26T01:30:00Z'),
    );
  });

  it('runs schedules whose hour is * by the real hours: both repeated hours fire, the skipped one does not exist', () => {
    expect(isoTicks('0 * * * *', 'America/New_York', '2026-11-01T03:30:00Z', 4)).toEqual([
      '2026-11-01T04:00:00.000Z', // 00:00 EDT
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T06:00:00.000Z', // 01:00 EST
      '2026-11-01T07:00:00.000Z', // 02:00 EST
    ]);
    expect(isoTicks('0 * * * *', 'America/New_York', '2026-03-08T05:30:00Z', 3)).toEqual([
      '2026-03-08T06:00:00.000Z', // 01:00 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT: 02:00 does not exist
      '2026-03-08T08:00:00.000Z',
    ]);
  });

  it('never repeats an instant: every tick is after the previous one, through both DST changes', () => {
    for (const from of ['2026-03-07T00:00:00Z', '2026-10-24T00:00:00Z']) {
      for (const [cron, timeZone] of [
        ['*/20 * * * *', 'America/New_York'],
        ['0 30 1,2,3 * * *', 'Europe/Berlin'],
        ['15 2 * * *', 'America/New_York'],
      ]) {
        const ticks = nextTicks({ cron, timeZone }, at(from), 400);
        for (let i = 1; i < ticks.length; i++) expect(ticks[i]).toBeGreaterThan(ticks[i - 1]);
      }
    }
  });

  it('reads 6 fields with seconds first, and UTC by default in the admin', () => {
    expect(isoTicks('*/15 * * * * *', 'UTC', '2026-11-27T10:00:07.500Z', 3)).toEqual([
      '2026-11-27T10:00:15.000Z',
      '2026-11-27T10:00:30.000Z',
      '2026-11-27T10:00:45.000Z',
    ]);
  });
});

describe('planTicks (missed ticks)', () => {
  const everySecond = { cron: '* * * * * *', timeZone: 'UTC' };
  const T = at('2026-11-27T10:00:00Z');

  it('fires the due tick on time when its timer fires promptly', () => {
    expect(planTicks(everySecond, T, T + 20)).toEqual({ fire: T, skipped: 0, late: false, next: T + 1000 });
  });

  it('fires only the latest missed tick (late) and counts the others as skipped', () => {
    expect(planTicks(everySecond, T, T + 4500)).toEqual({ fire: T + 4000, skipped: 4, late: true, next: T + 5000 });
  });

  it('after a very long gap counts up to MAX_COUNTED_MISSED skipped ticks and still fires the latest', () => {
    const down = 3 * 86_400_000 + 500; // three days of an every-second schedule
    const plan = planTicks(everySecond, T, T + down);
    expect(plan).toEqual({ fire: T + down - 500, skipped: MAX_COUNTED_MISSED, late: true, next: T + down + 500 });
  });

  it('counts a tick fired a second or more after its time as late', () => {
    const hourly = { cron: '0 * * * *', timeZone: 'UTC' };
    expect(planTicks(hourly, T, T + 1500)).toMatchObject({ fire: T, skipped: 0, late: true });
  });

  it('is deterministic: the same inputs give the same plan', () => {
    const spec = { cron: '*/7 * * * * *', timeZone: 'Europe/Berlin' };
    expect(planTicks(spec, T, T + 60_000)).toEqual(planTicks(spec, T, T + 60_000));
  });
});

describe('cronProblem', () => {
  it('accepts 5 and 6 fields and names what is wrong otherwise', () => {
    expect(cronProblem({ cron: '0 3 * * *', timeZone: 'UTC' })).toBeUndefined();
    expect(cronProblem({ cron: '0 0 3 * * *', timeZone: 'Asia/Tokyo' })).toBeUndefined();
    expect(cronProblem({ cron: '0 3 * *', timeZone: 'UTC' })).toMatch(/has 4 fields; expected 5/);
    expect(cronProblem({ cron: '@daily', timeZone: 'UTC' })).toMatch(/has 1 fields|predefined/);
    expect(cronProblem({ cron: '0 25 * * *', timeZone: 'UTC' })).toMatch(/invalid cron expression/);
    expect(cronProblem({ cron: '0 3 * * *', timeZone: 'Nowhere/Land' })).toMatch(/unknown time zone 'Nowhere\/Land'/);
  });
});
