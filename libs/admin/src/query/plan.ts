// Checks a query and finds what it reads, before any row is loaded: which introspection tables, and which of their
// columns (DuckDB's optimizer prunes the columns a query does not use, so its plan names the ones it does). Runs
// in its own DuckDB instance that holds the tables empty, with the optimizers that reason from table statistics
// turned off: over empty tables they would plan an empty result and hide the scans.
import { type DuckDBConnection, DuckDBInstance, type DuckDBPreparedStatement, StatementType } from '@duckdb/node-api';
import type { SqlTable } from '@stead/core';
import { QueryError } from './errors.ts';
import { createTablesSql, type StoredColumns, tablesNamed } from './tables.ts';

/** The columns a query reads of each table it reads ('all' when the plan does not say). */
export type TableReads = Map<SqlTable, StoredColumns>;

/** Settings both DuckDB instances share: no files, no network, no extensions, UTC. */
export const LOCKED_DOWN_CONFIG: Record<string, string> = {
  // No spilling to disk: the memory limit is a limit. (Set before external access is off, which refuses it after.)
  temp_directory: '',
  enable_external_access: 'false',
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
  allow_community_extensions: 'false',
};

/** Settings that need an open database (the time zone comes with ICU); the lock stops queries from changing any. */
export const LOCK_SQL = "SET GLOBAL TimeZone = 'UTC'; SET GLOBAL lock_configuration = true;";

const PLANNER_CONFIG: Record<string, string> = {
  ...LOCKED_DOWN_CONFIG,
  threads: '1',
  memory_limit: '64MB',
  disabled_optimizers: 'statistics_propagation,filter_pushdown,empty_result_pullup,late_materialization',
};

interface PlanNode {
  children?: PlanNode[];
  extra_info?: Record<string, unknown>;
}

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? [v] : []);

/** The columns one scan reads: its projections and any column named in its filters; 'all' if one is not a column. */
function scanColumns(table: SqlTable, info: Record<string, unknown>): Set<string> | 'all' {
  const names = new Set(table.columns.map(([name]) => name));
  const read = new Set<string>();
  for (const p of asList(info.Projections)) {
    if (!names.has(p)) return 'all';
    read.add(p);
  }
  const filters = asList(info.Filters).join(' ');
  for (const name of names) if (new RegExp(`\\b${name}\\b`).test(filters)) read.add(name);
  return read;
}

function merge(reads: TableReads, table: SqlTable, columns: StoredColumns): void {
  const had = reads.get(table);
  if (had === 'all' || columns === 'all') reads.set(table, 'all');
  else reads.set(table, new Set([...(had ?? []), ...columns]));
}

function collectScans(node: PlanNode, reads: TableReads): void {
  const info = node.extra_info ?? {};
  if (typeof info.Table === 'string') {
    const [table] = tablesNamed([info.Table]);
    if (table !== undefined) merge(reads, table, scanColumns(table, info));
  }
  for (const child of node.children ?? []) collectScans(child, reads);
}

export class Planner {
  private readonly instance: DuckDBInstance;

  private constructor(instance: DuckDBInstance) {
    this.instance = instance;
  }

  static async open(): Promise<Planner> {
    const instance = await DuckDBInstance.create(':memory:', PLANNER_CONFIG);
    const setup = await instance.connect();
    try {
      await setup.run(createTablesSql().replaceAll('CREATE TEMP TABLE', 'CREATE TABLE'));
      await setup.run(LOCK_SQL);
    } finally {
      setup.disconnectSync();
    }
    return new Planner(instance);
  }

  /**
   * Refuses anything but one read-only statement (400) and answers what it reads. `track` gets the connection, so
   * that a timeout can interrupt it; it is closed when this returns.
   */
  async plan(sql: string, track: (connection: DuckDBConnection) => void): Promise<TableReads> {
    const connection = await this.instance.connect();
    track(connection);
    try {
      (await prepareReadOnly(connection, sql)).destroySync();
      return await readsOf(connection, sql);
    } finally {
      connection.disconnectSync();
    }
  }

  close(): void {
    this.instance.closeSync();
  }
}

/**
 * Prepares the query, refusing (400) anything but one SELECT statement (WITH ... SELECT, FROM-first, VALUES,
 * DESCRIBE and SHOW are SELECTs to DuckDB). Preparing binds but runs nothing.
 */
export async function prepareReadOnly(connection: DuckDBConnection, sql: string): Promise<DuckDBPreparedStatement> {
  const statements = await connection.extractStatements(sql);
  if (statements.count !== 1) {
    throw new QueryError(400, `expected one SQL statement, got ${statements.count}`);
  }
  const prepared = await statements.prepare(0);
  const type = prepared.statementType;
  if (type !== StatementType.SELECT) {
    prepared.destroySync();
    const kind = StatementType[type] ?? String(type);
    throw new QueryError(400, `only read-only queries (SELECT, WITH ... SELECT) may run here, not ${kind}`);
  }
  return prepared;
}

/**
 * The tables and columns the plan scans, plus every introspection table the parser saw that the plan does not
 * scan (all columns, to be safe).
 */
async function readsOf(connection: DuckDBConnection, sql: string): Promise<TableReads> {
  const reads: TableReads = new Map();
  const explained = await connection.runAndReadAll(`EXPLAIN (FORMAT JSON) ${sql}`);
  for (const row of explained.getRowObjectsJson()) {
    for (const node of JSON.parse(String(row.explain_value)) as PlanNode[]) collectScans(node, reads);
  }
  for (const table of tablesNamed(connection.getTableNames(sql, false))) {
    if (!reads.has(table)) reads.set(table, 'all');
  }
  return reads;
}
