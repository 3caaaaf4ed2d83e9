// The answer as JSON (`accept: application/json`): `{"rows": [{column: value, ...}, ...]}`, a NULL column left out
// of its row, as Restate's JSON leaves it out (the restate CLI reads rows into structs whose non-optional fields take
// a missing value as their default, but refuse an explicit null: `invocations describe` reads `completed` of
// sys_journal so, which is NULL for commands without a completion). Values: strings and
// booleans as they are; integers as JSON numbers with every digit (u64 beyond 2^53 too); floats as numbers (NaN
// and infinities as null); timestamps as RFC 3339 strings in UTC with milliseconds; dates as YYYY-MM-DD;
// durations as a number of milliseconds; binary as lowercase hex (as Restate's JSON: `restate state get` decodes
// it so); lists as arrays.
import type { ResultBatch, ResultField, ResultValue, ValueKind } from './result.ts';

/** JSON text placed as is by JSON.stringify (Node 22+; not yet in TypeScript's lib). */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

function timestampText(ms: number): string | null {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function jsonValue(value: ResultValue, kind: ValueKind): unknown {
  if (value === null) return null;
  switch (kind.kind) {
    case 'int':
      return typeof value === 'bigint' ? rawJSON(value.toString()) : value;
    case 'float':
      return Number.isFinite(value) ? value : null;
    case 'binary':
      return Buffer.from(value as Uint8Array).toString('hex');
    case 'timestamp':
      return timestampText(value as number);
    case 'date':
      return timestampText((value as number) * 86_400_000)?.slice(0, 10) ?? null;
    case 'list':
      return (value as ResultValue[]).map((item) => jsonValue(item, kind.item));
    default:
      return value;
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The JSON text of the answer, one object per row keyed by column name (a later column of the same name wins, a
 * NULL one too: it removes the earlier value).
 * Lets the event loop run between batches, so a large answer does not stall the server.
 */
export async function toJsonText(fields: readonly ResultField[], batches: readonly ResultBatch[]): Promise<string> {
  const parts: string[] = [];
  for (const batch of batches) {
    for (let r = 0; r < batch.rowCount; r++) {
      const row: Record<string, unknown> = {};
      fields.forEach((f, c) => {
        const value = jsonValue(batch.columns[c][r], f.kind);
        if (value === null) delete row[f.name];
        else row[f.name] = value;
      });
      parts.push(JSON.stringify(row));
    }
    await nextTurn();
  }
  return `{"rows":[${parts.join(',')}]}`;
}
