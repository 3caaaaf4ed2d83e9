// The one error type of the SQL engine and `/query`: a status and a message the caller can act on.
import { SchemaError } from '../registry.ts';

/** Answered as `{"message", "restate_code"}` with `status` (and `retry-after` when `retryAfterSec` is set). */
export class QueryError extends SchemaError {
  readonly retryAfterSec: number | undefined;

  constructor(status: number, message: string, retryAfterSec?: number) {
    super(status, message);
    this.name = 'QueryError';
    this.retryAfterSec = retryAfterSec;
  }
}

/**
 * The message of an error DuckDB raised, which names its class ("Binder Error: ..."), without the wrappers the
 * Node binding adds ("Error: ", "Failed to extract statements: ").
 */
export function engineMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/^(Error: |Failed to extract statements: )+/, '');
}

/** DuckDB's own failures are 500s; everything else it raises (parser, binder, catalog, conversion, ...) is the query's. */
export function engineError(err: unknown): QueryError {
  if (err instanceof QueryError) return err;
  const message = engineMessage(err);
  if (/^INTERNAL Error/i.test(message)) return new QueryError(500, message);
  if (/^Out of Memory Error/i.test(message)) {
    return new QueryError(400, `the query needs more memory than the SQL engine's limit: ${message}`);
  }
  return new QueryError(400, message);
}
