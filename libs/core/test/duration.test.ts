import { formatDuration, formatTimestamp, parseDuration } from '../src/index.ts';

describe('parseDuration options', () => {
  test('a bare integer is milliseconds only with bareNumberMs (settings), never for ?delay=', () => {
    expect(parseDuration('250', { bareNumberMs: true })).toEqual({ ms: 250 });
    expect(parseDuration(' 0 ', { bareNumberMs: true })).toEqual({ ms: 0 });
    expect(parseDuration('250')).toEqual({ error: "missing a unit after '250' (for example 10s, 500ms, 1m)" });
    expect(parseDuration('1.5', { bareNumberMs: true })).toEqual({
      error: "missing a unit after '1.5' (for example 10s, 500ms, 1m)",
    });
  });

  test('the syntaxes settings take stay accepted: 250ms, 10s, 1m30s, 2h, 1.5s', () => {
    for (const [text, ms] of [
      ['250ms', 250],
      ['10s', 10_000],
      ['1m30s', 90_000],
      ['2h', 7_200_000],
      ['1.5s', 1_500],
      ['1d', 86_400_000],
    ] as const) {
      expect(parseDuration(text, { bareNumberMs: true })).toEqual({ ms });
    }
  });

  test('errors name the problem', () => {
    expect(parseDuration('5 apples')).toEqual({ error: "unknown duration unit 'apples'" });
    expect(parseDuration('P1Y')).toEqual({ error: 'durations with calendar units (years, months) are not supported' });
    expect(parseDuration('-1s')).toEqual({ error: 'negative durations are not allowed' });
    expect(parseDuration('  ')).toEqual({ error: 'an empty string is not a valid duration' });
  });
});

describe('formatDuration and formatTimestamp (as Restate prints them)', () => {
  test.each([
    [0, '0s'],
    [-5, '0s'],
    [500, '500ms'],
    [1_500, '1s 500ms'],
    [5_400_000, '1h 30m'],
    [86_400_000, '1d'],
    [90_061_001, '1d 1h 1m 1s 1ms'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test('formatDuration output parses back to the same duration', () => {
    for (const ms of [1, 999, 61_000, 5_400_000, 90_061_001]) expect(parseDuration(formatDuration(ms))).toEqual({ ms });
  });

  test('timestamps are RFC 3339 UTC with nine fractional digits', () => {
    expect(formatTimestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000000Z');
  });
});
