// A query's answer, read from DuckDB into plain values by column, with each column's kind: what the Arrow and JSON
// writers render. Introspection columns come back as the kinds of their Restate Arrow types (VARCHAR → utf8 →
// LargeUtf8, UBIGINT → u64 → UInt64, TIMESTAMPTZ → Timestamp(ms, "+00:00"), ...); computed columns map to the
// nearest kind (COUNT(*) is BIGINT → Int64, AVG is DOUBLE → Float64), and types with no Arrow counterpart here
// (UUID, TIME, STRUCT, MAP, ...) to their DuckDB text.
import {
  type DuckDBDataChunk,
  type DuckDBListType,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
} from '@duckdb/node-api';

export type ValueKind =
  | { kind: 'utf8' }
  | { kind: 'int'; bits: 8 | 16 | 32 | 64; signed: boolean }
  | { kind: 'float'; bits: 32 | 64 }
  | { kind: 'bool' }
  | { kind: 'binary' }
  /** ms since the epoch; `tz`: an instant (TIMESTAMPTZ), shown as UTC. */
  | { kind: 'timestamp'; tz: boolean }
  /** days since the epoch */
  | { kind: 'date' }
  /** ms */
  | { kind: 'duration' }
  | { kind: 'null' }
  | { kind: 'list'; item: ValueKind };

/**
 * A value of a kind: utf8 string · int number (up to 32 bits) or bigint (64) · float number · bool boolean ·
 * binary Uint8Array · timestamp/date/duration number · list array · null.
 */
export type ResultValue = string | number | bigint | boolean | Uint8Array | ResultValue[] | null;

export interface ResultField {
  name: string;
  kind: ValueKind;
}

/** Some rows of the answer (one DuckDB chunk's, at most 2048), by column. */
export interface ResultBatch {
  rowCount: number;
  columns: ResultValue[][];
}

const INTS: Partial<Record<DuckDBTypeId, ValueKind>> = {
  [DuckDBTypeId.TINYINT]: { kind: 'int', bits: 8, signed: true },
  [DuckDBTypeId.SMALLINT]: { kind: 'int', bits: 16, signed: true },
  [DuckDBTypeId.INTEGER]: { kind: 'int', bits: 32, signed: true },
  [DuckDBTypeId.BIGINT]: { kind: 'int', bits: 64, signed: true },
  [DuckDBTypeId.HUGEINT]: { kind: 'int', bits: 64, signed: true },
  [DuckDBTypeId.UTINYINT]: { kind: 'int', bits: 8, signed: false },
  [DuckDBTypeId.USMALLINT]: { kind: 'int', bits: 16, signed: false },
  [DuckDBTypeId.UINTEGER]: { kind: 'int', bits: 32, signed: false },
  [DuckDBTypeId.UBIGINT]: { kind: 'int', bits: 64, signed: false },
  [DuckDBTypeId.UHUGEINT]: { kind: 'int', bits: 64, signed: false },
};

const SIMPLE: Partial<Record<DuckDBTypeId, ValueKind>> = {
  ...INTS,
  [DuckDBTypeId.VARCHAR]: { kind: 'utf8' },
  [DuckDBTypeId.BOOLEAN]: { kind: 'bool' },
  [DuckDBTypeId.BLOB]: { kind: 'binary' },
  [DuckDBTypeId.FLOAT]: { kind: 'float', bits: 32 },
  [DuckDBTypeId.DOUBLE]: { kind: 'float', bits: 64 },
  [DuckDBTypeId.DECIMAL]: { kind: 'float', bits: 64 },
  [DuckDBTypeId.TIMESTAMP_TZ]: { kind: 'timestamp', tz: true },
  [DuckDBTypeId.TIMESTAMP]: { kind: 'timestamp', tz: false },
  [DuckDBTypeId.TIMESTAMP_S]: { kind: 'timestamp', tz: false },
  [DuckDBTypeId.TIMESTAMP_MS]: { kind: 'timestamp', tz: false },
  [DuckDBTypeId.TIMESTAMP_NS]: { kind: 'timestamp', tz: false },
  [DuckDBTypeId.DATE]: { kind: 'date' },
  [DuckDBTypeId.INTERVAL]: { kind: 'duration' },
  [DuckDBTypeId.SQLNULL]: { kind: 'null' },
};

export function kindOf(type: DuckDBType): ValueKind {
  if (type.typeId === DuckDBTypeId.LIST) return { kind: 'list', item: kindOf((type as DuckDBListType).valueType) };
  return SIMPLE[type.typeId] ?? { kind: 'utf8' };
}

const MS_PER_DAY = 86_400_000;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** 128-bit integers leave as 64-bit ones (Arrow Int64/UInt64): a value out of that range is an error, not a wrap. */
function toInt(value: bigint | number, kind: Extract<ValueKind, { kind: 'int' }>): bigint | number {
  if (kind.bits < 64) return Number(value);
  const v = BigInt(value);
  const [min, max] = kind.signed ? [INT64_MIN, -INT64_MIN - 1n] : [0n, UINT64_MAX];
  if (v < min || v > max) {
    throw new RangeError(`value ${v} does not fit in a 64-bit integer; cast it (e.g. to DOUBLE or VARCHAR)`);
  }
  return v;
}

/** ms since the epoch of a DuckDB timestamp of any precision. */
function timestampMs(value: any): number {
  if (typeof value.micros === 'bigint') return Number(value.micros / 1000n);
  if (typeof value.millis === 'bigint') return Number(value.millis);
  if (typeof value.seconds === 'bigint') return Number(value.seconds) * 1000;
  return Number((value.nanos as bigint) / 1_000_000n);
}

/** An INTERVAL as a duration in ms; months count 30 days (DuckDB's own normalisation when it compares intervals). */
function durationMs(value: { months: number; days: number; micros: bigint }): number {
  return (value.months * 30 + value.days) * MS_PER_DAY + Number(value.micros / 1000n);
}

export function toResultValue(value: DuckDBValue, kind: ValueKind): ResultValue {
  if (value === null) return null;
  const v = value as any;
  switch (kind.kind) {
    case 'utf8':
      return typeof value === 'string' ? value : String(value);
    case 'int':
      return toInt(v, kind);
    case 'float':
      return typeof value === 'number' ? value : v.toDouble();
    case 'bool':
      return value as boolean;
    case 'binary':
      return v.bytes as Uint8Array;
    case 'timestamp':
      return timestampMs(v);
    case 'date':
      return v.days as number;
    case 'duration':
      return durationMs(v);
    case 'null':
      return null;
    case 'list':
      return (v.items as DuckDBValue[]).map((item) => toResultValue(item, kind.item));
  }
}

/** The first `maxRows` rows of a chunk as a batch of the answer. */
export function toBatch(fields: readonly ResultField[], chunk: DuckDBDataChunk, maxRows: number): ResultBatch {
  const rowCount = Math.min(chunk.rowCount, maxRows);
  const columns = fields.map((field, i) => {
    const values = chunk.getColumnValues(i);
    const out: ResultValue[] = new Array(rowCount);
    for (let r = 0; r < rowCount; r++) out[r] = toResultValue(values[r], field.kind);
    return out;
  });
  return { rowCount, columns };
}
