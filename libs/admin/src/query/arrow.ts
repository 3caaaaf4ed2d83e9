// The answer as an Arrow IPC stream (`application/vnd.apache.arrow.stream`), what the restate CLI reads: one schema
// message, record batches, end of stream. Field types are Restate's for its table columns (LargeUtf8, UInt64,
// UInt32, Boolean, LargeBinary, Timestamp(ms, "+00:00"), Duration(ms), List(UInt32), List(LargeUtf8)), since the
// CLI decodes columns by name and exact type.
import {
  Bool,
  type Data,
  type DataType,
  DateDay,
  DurationMillisecond,
  Field,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  LargeBinary,
  LargeUtf8,
  List,
  makeData,
  Null,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  TimestampMillisecond,
  Uint8,
  Uint16,
  Uint32,
  Uint64,
  vectorFromArray,
} from 'apache-arrow';
import type { ResultBatch, ResultField, ResultValue, ValueKind } from './result.ts';

export const ARROW_STREAM_CONTENT_TYPE = 'application/vnd.apache.arrow.stream';

/** Restate's time zone of its timestamp columns. */
const UTC_OFFSET = '+00:00';

function intType(bits: 8 | 16 | 32 | 64, signed: boolean): DataType {
  if (signed) return bits === 8 ? new Int8() : bits === 16 ? new Int16() : bits === 32 ? new Int32() : new Int64();
  return bits === 8 ? new Uint8() : bits === 16 ? new Uint16() : bits === 32 ? new Uint32() : new Uint64();
}

export function arrowType(kind: ValueKind): DataType {
  switch (kind.kind) {
    case 'utf8':
      return new LargeUtf8();
    case 'int':
      return intType(kind.bits, kind.signed);
    case 'float':
      return kind.bits === 32 ? new Float32() : new Float64();
    case 'bool':
      return new Bool();
    case 'binary':
      return new LargeBinary();
    case 'timestamp':
      return new TimestampMillisecond(kind.tz ? UTC_OFFSET : null);
    case 'date':
      return new DateDay();
    case 'duration':
      return new DurationMillisecond();
    case 'null':
      return new Null();
    case 'list':
      // As arrow-rs names a list's item field.
      return new List(new Field('item', arrowType(kind.item), true));
  }
}

/** Validity bitmap (Arrow's: LSB first) of `values`, and how many are null. */
function nullBitmap(values: readonly ResultValue[]): { bitmap: Uint8Array; nullCount: number } {
  const bitmap = new Uint8Array(Math.ceil(values.length / 8));
  let nullCount = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null) nullCount++;
    else bitmap[i >> 3] |= 1 << (i & 7);
  }
  return { bitmap, nullCount };
}

/**
 * LargeUtf8 / LargeBinary data written directly: the builders of apache-arrow encode string by string, ~20x slower
 * than one pass that sizes, then copies, every value.
 */
function variableWidthData(type: LargeUtf8 | LargeBinary, values: readonly ResultValue[]): Data {
  const sizes = values.map((v) =>
    v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : (v as Uint8Array).length,
  );
  const data = Buffer.allocUnsafe(sizes.reduce((a, b) => a + b, 0));
  const valueOffsets = new BigInt64Array(values.length + 1);
  let pos = 0;
  values.forEach((v, i) => {
    valueOffsets[i] = BigInt(pos);
    if (typeof v === 'string') data.write(v, pos);
    else if (v instanceof Uint8Array) data.set(v, pos);
    pos += sizes[i];
  });
  valueOffsets[values.length] = BigInt(pos);
  const { bitmap, nullCount } = nullBitmap(values);
  const props = { length: values.length, nullCount, nullBitmap: bitmap, valueOffsets, data };
  return type instanceof LargeUtf8 ? makeData({ type, ...props }) : makeData({ type, ...props });
}

/** What apache-arrow's builders take: durations as bigint (64-bit), dates as epoch ms (they store days). */
function builderInput(kind: ValueKind, values: readonly ResultValue[]): readonly unknown[] {
  if (kind.kind === 'duration') return values.map((v) => (v === null ? null : BigInt(v as number)));
  if (kind.kind === 'date') return values.map((v) => (v === null ? null : (v as number) * 86_400_000));
  if (kind.kind === 'list') return values.map((v) => (v === null ? null : builderInput(kind.item, v as ResultValue[])));
  return values;
}

function columnData(type: DataType, kind: ValueKind, values: readonly ResultValue[]): Data {
  if (type instanceof LargeUtf8 || type instanceof LargeBinary) return variableWidthData(type, values);
  return vectorFromArray(builderInput(kind, values) as unknown[], type).data[0];
}

function recordBatch(schema: Schema, fields: readonly ResultField[], batch: ResultBatch): RecordBatch {
  const children = fields.map((f, i) => columnData(schema.fields[i].type, f.kind, batch.columns[i]));
  const data = makeData({ type: new Struct(schema.fields), length: batch.rowCount, nullCount: 0, children });
  return new RecordBatch(schema, data);
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The answer as an Arrow IPC stream: the schema, a record batch per result batch (one, empty, when there are
 * none), end of stream. Lets the event loop run between batches, so a large answer does not stall the server.
 */
export async function toArrowStream(
  fields: readonly ResultField[],
  batches: readonly ResultBatch[],
): Promise<Uint8Array> {
  const schema = new Schema(fields.map((f) => new Field(f.name, arrowType(f.kind), true)));
  const writer = new RecordBatchStreamWriter();
  const all = batches.length > 0 ? batches : [{ rowCount: 0, columns: fields.map(() => []) }];
  for (const batch of all) {
    writer.write(recordBatch(schema, fields, batch));
    await nextTurn();
  }
  writer.finish();
  return writer.toUint8Array(true);
}
