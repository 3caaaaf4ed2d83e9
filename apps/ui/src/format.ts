/**
 * Values of `/query` rows as the UI shows them. The JSON answer carries timestamps as milliseconds or as ISO
 * strings and 64-bit integers as numbers or strings, depending on the column; these helpers accept either.
 */
export type Value = string | number | boolean | null | undefined | unknown[] | Record<string, unknown>;
export type Row = Record<string, Value>;

/** Milliseconds since the epoch of a timestamp value, or undefined for NULL or an unreadable value. */
export function toMs(v: Value): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string' || v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  // An ISO time without an offset is UTC (the columns are Timestamp(ms, "+00:00")).
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v.replace(' ', 'T')}Z`;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A number of an integer column (u32/u64 as number or string), or undefined for NULL. */
export function toNum(v: Value): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v !== '' && !Number.isNaN(Number(v))) return Number(v);
  return undefined;
}

/** A string column's value, or undefined for NULL and the empty string. */
export function toStr(v: Value): string | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `2025-01-02 03:04:05.678` in the browser's time zone. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined) return '—';
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** A duration as `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`, `3 d 4 h`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(abs / 1000);
  const sign = ms < 0 ? '-' : '';
  if (s < 3600) return `${sign}${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${sign}${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${sign}${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** `3.2 s ago` or `in 4 min 5 s` relative to `nowMs`. */
export function relative(ms: number | undefined, nowMs: number): string {
  if (ms === undefined) return '';
  const d = ms - nowMs;
  return d <= 0 ? `${formatDuration(-d)} ago` : `in ${formatDuration(d)}`;
}

/** The value of a `datetime-local` input (local time) as epoch ms, or undefined when empty. */
export function parseLocalDateTime(value: string): number | undefined {
  if (value === '') return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** Epoch ms as a `datetime-local` input value (local time, to the second). */
export function toLocalDateTime(ms: number | undefined): string {
  if (ms === undefined) return '';
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** Pretty-printed JSON when `text` is JSON, else the text itself. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
