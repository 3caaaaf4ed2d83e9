// Fills one connection's temp table from an IntrospectionSource through DuckDB's appender, a data chunk at a time.
import { type DuckDBAppender, type DuckDBConnection, DuckDBDataChunk, type DuckDBType } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import type { IntrospectionRow, IntrospectionSource, SqlTable } from '@stead/core';
import type { StoredColumns } from './tables.ts';
import { writeVector } from './vectors.ts';

/** Rows per data chunk: DuckDB's vector size, the most a chunk holds. */
const CHUNK_ROWS = duckdb.vector_size();
/** Rows appended between turns of the event loop (appending is synchronous; the server must keep answering). */
const ROWS_PER_TURN = 8192;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface LoadOptions {
  /** The table's stored columns (the others are virtual NULLs: see createTableSql). */
  columns: StoredColumns;
  /** Most rows loaded; a table with more is cut there (`truncated`). */
  maxRows: number;
  signal: AbortSignal;
}

export interface LoadResult {
  rows: number;
  /** The source had more than `maxRows` rows. */
  truncated: boolean;
}

/** The appender of one table and the columns it fills, in the appender's order. */
interface TableAppender {
  appender: DuckDBAppender;
  columns: SqlTable['columns'];
  types: DuckDBType[];
}

function appendChunk(into: TableAppender, rows: IntrospectionRow[], start: number, count: number): void {
  const chunk = DuckDBDataChunk.create(into.types, count);
  const values = new Array(count);
  into.columns.forEach(([name, type], col) => {
    for (let i = 0; i < count; i++) values[i] = rows[start + i][name];
    writeVector(duckdb.data_chunk_get_vector(chunk.chunk, col), type, values);
  });
  into.appender.appendDataChunk(chunk);
}

/**
 * Loads `table`'s rows from `source` into the temp table of the same name. Asks the source for one row more than
 * the limit, so that a table cut at the limit is told apart from one exactly that long.
 */
export async function loadTable(
  connection: DuckDBConnection,
  table: SqlTable,
  source: IntrospectionSource,
  opts: LoadOptions,
): Promise<LoadResult> {
  const appender = await connection.createAppender(table.name, 'main', 'temp');
  const columns = table.columns.filter(([name]) => opts.columns === 'all' || opts.columns.has(name));
  const into: TableAppender = { appender, columns, types: columns.map((_, i) => appender.columnType(i)) };
  let rows = 0;
  let rowsThisTurn = 0;
  let truncated = false;
  try {
    const scan = {
      limit: opts.maxRows + 1,
      signal: opts.signal,
      columns: opts.columns === 'all' ? undefined : opts.columns,
    };
    for await (const batch of source.scan(table.name, scan)) {
      opts.signal.throwIfAborted();
      const take = Math.min(batch.length, opts.maxRows - rows);
      for (let start = 0; start < take; start += CHUNK_ROWS) {
        appendChunk(into, batch, start, Math.min(CHUNK_ROWS, take - start));
      }
      rows += take;
      rowsThisTurn += take;
      if (rowsThisTurn >= ROWS_PER_TURN) {
        rowsThisTurn = 0;
        await nextTurn();
      }
      if (take < batch.length) {
        truncated = true;
        break;
      }
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  return { rows, truncated };
}
