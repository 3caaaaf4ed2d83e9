// The introspection tables as DuckDB tables: their column types and DDL, and which of them a query reads.
import { INTROSPECTION_TABLES, type SqlColumnType, type SqlTable } from '@stead/core';

/**
 * DuckDB's type for each introspection column type. Timestamps are TIMESTAMPTZ (DuckDB has no ICU here, so it
 * reads and prints them as UTC) so that comparisons with `now()` work; they leave as Arrow Timestamp(ms, "+00:00").
 */
export const DUCKDB_TYPE: Record<SqlColumnType, string> = {
  utf8: 'VARCHAR',
  u64: 'UBIGINT',
  u32: 'UINTEGER',
  bool: 'BOOLEAN',
  binary: 'BLOB',
  timestamp_ms: 'TIMESTAMPTZ',
  duration_ms: 'INTERVAL',
  list_u32: 'UINTEGER[]',
  list_utf8: 'VARCHAR[]',
};

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Which columns of a table hold loaded values: all, or only those a query reads. */
export type StoredColumns = ReadonlySet<string> | 'all';

/**
 * The columns stored of `table` when a query reads `read`: those, or the first column when it reads none (a
 * table needs one stored column; `count(*)` still needs the rows).
 */
export function storedColumns(table: SqlTable, read: StoredColumns): StoredColumns {
  return read !== 'all' && read.size === 0 ? new Set([table.columns[0][0]]) : read;
}

function columnSql(name: string, type: SqlColumnType, stored: boolean): string {
  const sqlType = DUCKDB_TYPE[type];
  // A column the query does not read is a virtual NULL: it costs no storage, and `SELECT *` and
  // information_schema still see the whole table.
  return stored
    ? `${quote(name)} ${sqlType}`
    : `${quote(name)} ${sqlType} GENERATED ALWAYS AS (CAST(NULL AS ${sqlType})) VIRTUAL`;
}

/** `CREATE TEMP TABLE` for one table: temp tables live only in the connection that made them. */
export function createTableSql(table: SqlTable, stored: StoredColumns = 'all'): string {
  const columns = table.columns.map(([name, type]) => columnSql(name, type, stored === 'all' || stored.has(name)));
  return `CREATE TEMP TABLE ${quote(table.name)} (${columns.join(', ')});`;
}

/** The DDL of every introspection table (all exist, so information_schema lists all), storing `stored` columns. */
export function createTablesSql(stored: ReadonlyMap<SqlTable, StoredColumns> = new Map()): string {
  return INTROSPECTION_TABLES.map((t) => createTableSql(t, stored.get(t))).join('\n');
}

const BY_NAME = new Map(INTROSPECTION_TABLES.map((t) => [t.name, t]));

/**
 * The introspection tables among `names` (what DuckDB's parser found the query reading), so that only those are
 * filled. Names may be qualified (`temp.main.sys_invocation`) or differ in case, as DuckDB resolves them.
 */
export function tablesNamed(names: readonly string[]): SqlTable[] {
  const found = new Set<SqlTable>();
  for (const name of names) {
    const table = BY_NAME.get(unquote(name.split('.').at(-1) ?? name).toLowerCase());
    if (table !== undefined) found.add(table);
  }
  return [...found];
}

function unquote(name: string): string {
  return name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name;
}
