/**
 * The one duration parser and formatter: ingress `?delay=`, admin `PATCH /services` options and settings.
 *
 * Parses a duration the way Restate accepts it: ISO 8601 (`PT10S`, `P1D`, `PT1H30M`) or the "friendly"
 * (humantime) form (`10s`, `500ms`, `1m`, `1h 30m`, `1.5s`, `2 minutes`, `1d`, `1w`). Returns milliseconds,
 * or `{error}` with the reason.
 */
export type DurationResult = { ms: number } | { error: string };

const MS = {
  week: 604_800_000,
  day: 86_400_000,
  hour: 3_600_000,
  minute: 60_000,
  second: 1_000,
  milli: 1,
  micro: 0.001,
  nano: 0.000001,
} as const;

const UNITS: Record<string, number | 'calendar'> = {};
const addUnits = (size: number | 'calendar', ...names: string[]) => {
  for (const n of names) UNITS[n] = size;
};
addUnits('calendar', 'y', 'yr', 'yrs', 'year', 'years', 'mo', 'mos', 'month', 'months');
addUnits(MS.week, 'w', 'wk', 'wks', 'week', 'weeks');
addUnits(MS.day, 'd', 'day', 'days');
addUnits(MS.hour, 'h', 'hr', 'hrs', 'hour', 'hours');
addUnits(MS.minute, 'm', 'min', 'mins', 'minute', 'minutes');
addUnits(MS.second, 's', 'sec', 'secs', 'second', 'seconds');
addUnits(MS.milli, 'ms', 'msec', 'msecs', 'millisecond', 'milliseconds');
addUnits(MS.micro, 'us', 'µs', 'μs', 'usec', 'usecs', 'microsecond', 'microseconds');
addUnits(MS.nano, 'ns', 'nsec', 'nsecs', 'nanosecond', 'nanoseconds');

const ISO =
  /^([+-])?P(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/i;

function num(s: string | undefined): number {
  return s === undefined ? 0 : Number(s.replace(',', '.'));
}

function parseIso(text: string): DurationResult {
  const m = ISO.exec(text);
  const hasTime = /T/i.test(text);
  if (m === null || text.length <= (m[1] ? 2 : 1) || (hasTime && /T$/i.test(text))) {
    return { error: `'${text}' is not a valid ISO 8601 duration` };
  }
  const [, sign, y, mo, w, d, h, mi, s] = m;
  if (y !== undefined || mo !== undefined) {
    return { error: 'durations with calendar units (years, months) are not supported' };
  }
  const ms = num(w) * MS.week + num(d) * MS.day + num(h) * MS.hour + num(mi) * MS.minute + num(s) * MS.second;
  if (sign === '-' && ms > 0) return { error: 'negative durations are not allowed' };
  return { ms: Math.round(ms) };
}

function parseFriendly(text: string): DurationResult {
  let rest = text.trim();
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest[0] === '-';
    rest = rest.slice(1).trimStart();
  }
  if (/\s+ago$/i.test(rest)) {
    negative = !negative;
    rest = rest.replace(/\s+ago$/i, '');
  }
  const part = /^(\d+(?:\.\d+)?)\s*([a-zA-Zµμ]+)\s*,?\s*/;
  let total = 0;
  let parts = 0;
  while (rest.length > 0) {
    const m = part.exec(rest);
    if (m === null) {
      if (/^\d+(?:\.\d+)?$/.test(rest)) return { error: `missing a unit after '${rest}' (for example 10s, 500ms, 1m)` };
      return { error: `cannot parse '${rest}' as a duration (for example 10s, 500ms, 1m or PT10S)` };
    }
    const unit = UNITS[m[2].toLowerCase()] ?? UNITS[m[2]];
    if (unit === undefined) return { error: `unknown duration unit '${m[2]}'` };
    if (unit === 'calendar') return { error: 'durations with calendar units (years, months) are not supported' };
    total += Number(m[1]) * unit;
    parts++;
    rest = rest.slice(m[0].length);
  }
  if (parts === 0) return { error: 'empty duration' };
  if (negative && total > 0) return { error: 'negative durations are not allowed' };
  return { ms: Math.round(total) };
}

export interface ParseDurationOptions {
  /** Accept a bare integer as milliseconds (settings do; Restate's `?delay=` does not). */
  bareNumberMs?: boolean;
}

export function parseDuration(input: string, opts: ParseDurationOptions = {}): DurationResult {
  const text = input.trim();
  if (text === '') return { error: 'an empty string is not a valid duration' };
  if (opts.bareNumberMs === true && /^\d+$/.test(text)) return { ms: Number(text) };
  if (/^[+-]?P/i.test(text)) return parseIso(text);
  return parseFriendly(text);
}

/** Formats milliseconds the way Restate prints durations (jiff "friendly", compact): `1d`, `1h 30m`, `1s 500ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  const units: [number, string][] = [
    [MS.day, 'd'],
    [MS.hour, 'h'],
    [MS.minute, 'm'],
    [MS.second, 's'],
    [MS.milli, 'ms'],
  ];
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [size, unit] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join(' ');
}

/** Restate's timestamp format: RFC 3339 UTC with nine fractional digits. */
export function formatTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-01-01T00:00:00.123Z
  return `${iso.slice(0, -1)}000000Z`;
}
