// Writes introspection values straight into a DuckDB data chunk's vectors (the appender's fast path). The
// per-value wrappers of @duckdb/node-api cost ~0.15 µs a value, mostly for NULLs (a BigInt validity update each):
// over 100,000 rows of sys_invocation's 52 columns that is ~1 s. Here fixed-width columns are one typed-array copy,
// NULLs one bitmask copy, and only strings and blobs cross into native code one value at a time.
import duckdb from '@duckdb/node-bindings';
import type { IntrospectionValue, SqlColumnType } from '@stead/core';

type Vector = duckdb.Vector;
type Values = ArrayLike<IntrospectionValue>;

const TWO_32 = 4294967296;

/** One bit per row, set when the value is not NULL, in DuckDB's layout (64-bit little-endian words). */
function validityMask(values: Values): { mask: Uint8Array; nulls: number } {
  const mask = new Uint8Array(Math.ceil(values.length / 64) * 8);
  let nulls = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null || values[i] === undefined) nulls++;
    else mask[i >> 3] |= 1 << (i & 7);
  }
  return { mask, nulls };
}

/** A fresh chunk's vectors are all valid; only a column with NULLs needs its mask written. */
function writeValidity(vector: Vector, values: Values): number {
  const { mask, nulls } = validityMask(values);
  if (nulls > 0) {
    duckdb.vector_ensure_validity_writable(vector);
    duckdb.copy_data_to_vector_validity(vector, 0, mask.buffer as ArrayBuffer, 0, mask.byteLength);
  }
  return nulls;
}

/** Stores a 64-bit integer at word `i` of `words` (two u32 halves): exact for safe integers, else via BigInt. */
function setInt64(words: Uint32Array, i: number, v: number | bigint): void {
  if (typeof v === 'number' && Number.isSafeInteger(v)) {
    const hi = Math.floor(v / TWO_32);
    words[2 * i] = v - hi * TWO_32;
    words[2 * i + 1] = hi;
    return;
  }
  const b = BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(Math.trunc(v)));
  words[2 * i] = Number(b & 0xffffffffn);
  words[2 * i + 1] = Number(b >> 32n);
}

function copyTo(vector: Vector, bytes: ArrayBufferView): void {
  duckdb.copy_data_to_vector(vector, 0, bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
}

function writeInt64s(vector: Vector, values: Values, scale: number): void {
  const words = new Uint32Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number') setInt64(words, i, v * scale);
    else if (typeof v === 'bigint') setInt64(words, i, v * BigInt(scale));
  }
  copyTo(vector, words);
}

function writeUint32s(vector: Vector, values: Values): void {
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number' || typeof v === 'bigint') out[i] = Number(v);
  }
  copyTo(vector, out);
}

function writeBooleans(vector: Vector, values: Values): void {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] ? 1 : 0;
  copyTo(vector, out);
}

/** DuckDB's INTERVAL is {int32 months, int32 days, int64 micros}; a duration is all micros. */
function writeIntervals(vector: Vector, values: Values): void {
  const words = new Uint32Array(values.length * 4);
  const micros = new Uint32Array(2);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' && typeof v !== 'bigint') continue;
    setInt64(micros, 0, typeof v === 'number' ? v * 1000 : v * 1000n);
    words[4 * i + 2] = micros[0];
    words[4 * i + 3] = micros[1];
  }
  copyTo(vector, words);
}

function writeStrings(vector: Vector, values: Values): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'string') duckdb.vector_assign_string_element(vector, i, v);
    else if (v !== null && v !== undefined) duckdb.vector_assign_string_element(vector, i, String(v));
  }
}

function writeBlobs(vector: Vector, values: Values): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v instanceof Uint8Array) duckdb.vector_assign_string_element_len(vector, i, v);
  }
}

/** A LIST vector: per row {u64 offset, u64 length} into one child vector holding every row's items in order. */
function writeLists(vector: Vector, values: Values, itemType: SqlColumnType): void {
  const entries = new Uint32Array(values.length * 4);
  const items: IntrospectionValue[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Array.isArray(v)) continue;
    setInt64(entries, 2 * i, items.length);
    setInt64(entries, 2 * i + 1, v.length);
    for (const item of v) items.push(item);
  }
  copyTo(vector, entries);
  duckdb.list_vector_reserve(vector, items.length);
  writeVector(duckdb.list_vector_get_child(vector), itemType, items);
  duckdb.list_vector_set_size(vector, items.length);
}

const WRITERS: Record<SqlColumnType, (vector: Vector, values: Values) => void> = {
  utf8: writeStrings,
  u64: (vector, values) => writeInt64s(vector, values, 1),
  u32: writeUint32s,
  bool: writeBooleans,
  binary: writeBlobs,
  timestamp_ms: (vector, values) => writeInt64s(vector, values, 1000),
  duration_ms: writeIntervals,
  list_u32: (vector, values) => writeLists(vector, values, 'u32'),
  list_utf8: (vector, values) => writeLists(vector, values, 'utf8'),
};

/** Fills `vector` (of the DuckDB type DUCKDB_TYPE[type], at least `values.length` rows) with `values`. */
export function writeVector(vector: Vector, type: SqlColumnType, values: Values): void {
  if (writeValidity(vector, values) < values.length) WRITERS[type](vector, values);
}
