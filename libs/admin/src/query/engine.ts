// The SQL engine of `POST /query`: plans a query (what it reads), loads just that from the IntrospectionSource into
// a fresh DuckDB connection's temp tables, runs it, and reads the answer, all under the limits below.
import { availableParallelism } from 'node:os';
import { type DuckDBConnection, DuckDBInstance, type DuckDBResult } from '@duckdb/node-api';
import type { IntrospectionSource } from '@stead/core';
import { toDuckDbDialect } from './dialect.ts';
import { engineError, QueryError } from './errors.ts';
import { QueryGate } from './gate.ts';
import { loadTable } from './load.ts';
import { LOCK_SQL, LOCKED_DOWN_CONFIG, Planner, prepareReadOnly, type TableReads } from './plan.ts';
import { kindOf, type ResultBatch, type ResultField, toBatch } from './result.ts';
import { createTablesSql, storedColumns } from './tables.ts';

export interface QueryLimits {
  /** Most rows loaded from the source per table; a query over a longer table sees the first ones (and is told). */
  maxRowsPerTable: number;
  /** Most rows answered; the rest are dropped (and the answer says so). */
  maxResultRows: number;
  /** Whole-query time limit (waiting for a slot, loading, running); past it the query is stopped. */
  timeoutMs: number;
  /** DuckDB's memory limit, shared by all queries; a query needing more fails (nothing spills to disk). */
  memoryLimitBytes: number;
  /** DuckDB worker threads, shared by all queries. */
  threads: number;
  /** Queries running at once. */
  maxConcurrentQueries: number;
  /** Queries waiting for a slot; more get 503 with retry-after. */
  maxQueuedQueries: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxRowsPerTable: 1_000_000,
  maxResultRows: 100_000,
  timeoutMs: 10_000,
  memoryLimitBytes: 256 * 1024 * 1024,
  threads: Math.min(2, availableParallelism()),
  maxConcurrentQueries: 2,
  maxQueuedQueries: 16,
};

export interface QueryAnswer {
  fields: ResultField[];
  batches: ResultBatch[];
  rowCount: number;
  /** Tables cut at `maxRowsPerTable`. */
  truncatedTables: string[];
  /** More than `maxResultRows` rows matched. */
  resultTruncated: boolean;
  /** Where the time went, in ms: checking and planning, loading rows, running and reading the answer. */
  timings: { planMs: number; loadMs: number; runMs: number };
}

/** One query's deadline: aborts its signal and interrupts the DuckDB connections it is using. */
class Deadline {
  readonly controller = new AbortController();
  private readonly connections = new Set<DuckDBConnection>();
  private readonly timer: NodeJS.Timeout;
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    this.timer = setTimeout(() => this.expire(), timeoutMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  track = (connection: DuckDBConnection): void => {
    this.connections.add(connection);
  };

  private expire(): void {
    this.controller.abort(new QueryError(400, `the query took longer than its limit of ${this.timeoutMs} ms`));
    for (const c of this.connections) c.interrupt();
  }

  /** The error to answer: the timeout's once it has expired (whatever the interrupted step threw). */
  explain(err: unknown): QueryError {
    if (err instanceof QueryError && err.status === 503) return err;
    if (this.signal.aborted) return this.signal.reason as QueryError;
    return engineError(err);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

const elapsed = (since: number) => performance.now() - since;

export class QueryEngine {
  readonly limits: QueryLimits;
  private readonly gate: QueryGate;
  private planner: Promise<Planner> | undefined;
  private executor: Promise<DuckDBInstance> | undefined;
  private readonly source: IntrospectionSource;

  constructor(source: IntrospectionSource, limits: Partial<QueryLimits> = {}) {
    this.source = source;
    const given = Object.entries(limits).filter(([, v]) => v !== undefined);
    this.limits = { ...DEFAULT_QUERY_LIMITS, ...Object.fromEntries(given) };
    this.gate = new QueryGate(this.limits.maxConcurrentQueries, this.limits.maxQueuedQueries);
  }

  /**
   * Runs one read-only query and hands its answer to `render` (still holding the query's slot, so that rendering
   * large answers counts against maxConcurrentQueries too). Throws QueryError (400 for the query's faults, 503
   * when busy).
   */
  async query<T>(sql: string, render: (answer: QueryAnswer) => Promise<T> | T): Promise<T> {
    const deadline = new Deadline(this.limits.timeoutMs);
    let leave: (() => void) | undefined;
    let answer: QueryAnswer;
    try {
      leave = await this.gate.enter(deadline.signal);
      answer = await this.run(sql, deadline);
    } catch (err) {
      leave?.();
      throw deadline.explain(err);
    } finally {
      deadline.clear();
    }
    try {
      return await render(answer);
    } finally {
      leave();
    }
  }

  /** The answer itself (for callers in process, e.g. tests and benchmarks). */
  answer(sql: string): Promise<QueryAnswer> {
    return this.query(sql, (answer) => answer);
  }

  private async run(query: string, deadline: Deadline): Promise<QueryAnswer> {
    let since = performance.now();
    const sql = toDuckDbDialect(query);
    const reads = await (await this.openPlanner()).plan(sql, deadline.track);
    const planMs = elapsed(since);
    const connection = await (await this.openExecutor()).connect();
    deadline.track(connection);
    try {
      since = performance.now();
      const stored: TableReads = new Map([...reads].map(([table, read]) => [table, storedColumns(table, read)]));
      await connection.run(createTablesSql(stored));
      const truncatedTables = await this.load(connection, stored, deadline.signal);
      const loadMs = elapsed(since);
      since = performance.now();
      const answer = await this.read(connection, sql);
      // An interrupted DuckDB stream may just end early: an answer read past the deadline is not the answer.
      deadline.signal.throwIfAborted();
      return { ...answer, truncatedTables, timings: { planMs, loadMs, runMs: elapsed(since) } };
    } finally {
      // Drops the temp tables with it.
      connection.disconnectSync();
    }
  }

  /** Fills the stored columns of the tables the query reads; answers the tables cut at the row limit. */
  private async load(connection: DuckDBConnection, stored: TableReads, signal: AbortSignal): Promise<string[]> {
    const truncated: string[] = [];
    for (const [table, columns] of stored) {
      const opts = { columns, maxRows: this.limits.maxRowsPerTable, signal };
      const loaded = await loadTable(connection, table, this.source, opts).catch((err: unknown) => {
        throw sourceError(table.name, err, signal);
      });
      if (loaded.truncated) truncated.push(table.name);
    }
    return truncated;
  }

  /** Runs the query, reading at most maxResultRows rows (one more tells whether there were more). */
  private async read(connection: DuckDBConnection, sql: string) {
    const prepared = await prepareReadOnly(connection, sql);
    let result: DuckDBResult;
    try {
      result = await prepared.stream();
    } finally {
      prepared.destroySync();
    }
    const fields = result.columnNames().map((name, i) => ({ name, kind: kindOf(result.columnType(i)) }));
    const batches: ResultBatch[] = [];
    const max = this.limits.maxResultRows;
    let rowCount = 0;
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      const batch = toBatch(fields, chunk, max - rowCount);
      batches.push(batch);
      rowCount += batch.rowCount;
      if (batch.rowCount < chunk.rowCount) return { fields, batches, rowCount, resultTruncated: true };
    }
    return { fields, batches, rowCount, resultTruncated: false };
  }

  private openPlanner(): Promise<Planner> {
    this.planner ??= Planner.open();
    return this.planner;
  }

  private openExecutor(): Promise<DuckDBInstance> {
    this.executor ??= openExecutor(this.limits);
    return this.executor;
  }

  /** Closes DuckDB (queries still running fail). */
  async close(): Promise<void> {
    const [planner, executor] = [this.planner, this.executor];
    this.planner = this.executor = undefined;
    (await planner)?.close();
    (await executor)?.closeSync();
  }
}

async function openExecutor(limits: QueryLimits): Promise<DuckDBInstance> {
  const instance = await DuckDBInstance.create(':memory:', {
    ...LOCKED_DOWN_CONFIG,
    threads: String(limits.threads),
    memory_limit: `${Math.floor(limits.memoryLimitBytes / 1024)}KiB`,
  });
  const setup = await instance.connect();
  try {
    await setup.run(LOCK_SQL);
  } finally {
    setup.disconnectSync();
  }
  return instance;
}

/** A source's failure: its own status when it has one (a partition unreachable: 503), else 500. */
function sourceError(table: string, err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted || err instanceof QueryError) return err;
  const status = (err as { status?: unknown })?.status;
  const message = `reading table ${table} failed: ${(err as Error)?.message ?? String(err)}`;
  return new QueryError(typeof status === 'number' && status >= 400 ? status : 500, message);
}
