// `POST /query` (also under /v2../v4): SQL over the introspection tables, answered as an Arrow IPC stream (what
// the restate CLI asks for with `accept: */*` or the Arrow media type) or as JSON (`accept: application/json`).
import type { IntrospectionSource } from '@stead/core';
import { type AdminReply, type AdminRequest, type AdminRouter, errorReply } from '../router.ts';
import { ARROW_STREAM_CONTENT_TYPE, toArrowStream } from './arrow.ts';
import { type QueryAnswer, QueryEngine, type QueryLimits } from './engine.ts';
import { QueryError } from './errors.ts';
import { toJsonText } from './json.ts';
import { EMPTY_SOURCE } from './sources.ts';

export interface QueryRouteOptions extends Partial<QueryLimits> {
  /** Where table rows come from (default: none, every table empty). */
  source?: IntrospectionSource;
}

/** Answer headers: which tables were cut at the row limit, and whether the answer was. */
export const TRUNCATED_TABLES_HEADER = 'x-stead-truncated-tables';
export const TRUNCATED_RESULT_HEADER = 'x-stead-truncated-result';

type Format = 'arrow' | 'json';

/** The media types of `accept` in order; no header (or an empty one) accepts anything. */
function acceptedTypes(accept: string | undefined): string[] {
  const types = (accept ?? '')
    .split(',')
    .map((part) => part.split(';')[0].trim().toLowerCase())
    .filter((t) => t !== '');
  return types.length > 0 ? types : ['*/*'];
}

/** Arrow unless the client asks for JSON and not for Arrow; 406 when it accepts neither. */
export function negotiate(accept: string | undefined): Format {
  const types = acceptedTypes(accept);
  if (types.includes(ARROW_STREAM_CONTENT_TYPE)) return 'arrow';
  if (types.includes('application/json')) return 'json';
  if (types.includes('*/*') || types.includes('application/*')) return 'arrow';
  throw new QueryError(406, `cannot answer with ${accept}; accept ${ARROW_STREAM_CONTENT_TYPE} or application/json`);
}

function queryText(body: unknown): string {
  const query = (body as { query?: unknown } | null)?.query;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof query !== 'string') {
    throw new QueryError(400, 'expected a JSON object with a string field `query`, e.g. {"query": "SELECT 1"}');
  }
  if (query.trim() === '') throw new QueryError(400, 'the query is empty');
  return query;
}

function answerHeaders(answer: QueryAnswer, limits: QueryLimits): Record<string, string> {
  const t = answer.timings;
  const headers: Record<string, string> = {
    'server-timing': `plan;dur=${t.planMs.toFixed(1)}, load;dur=${t.loadMs.toFixed(1)}, run;dur=${t.runMs.toFixed(1)}`,
  };
  if (answer.truncatedTables.length > 0) {
    headers[TRUNCATED_TABLES_HEADER] = `${answer.truncatedTables.join(',')}; limit=${limits.maxRowsPerTable}`;
  }
  if (answer.resultTruncated) headers[TRUNCATED_RESULT_HEADER] = `limit=${limits.maxResultRows}`;
  return headers;
}

async function render(answer: QueryAnswer, format: Format, limits: QueryLimits): Promise<AdminReply> {
  const headers = answerHeaders(answer, limits);
  if (format === 'json') {
    const text = await toJsonText(answer.fields, answer.batches);
    return { status: 200, text, headers: { ...headers, 'content-type': 'application/json' } };
  }
  const body = await toArrowStream(answer.fields, answer.batches);
  return { status: 200, body, headers: { ...headers, 'content-type': ARROW_STREAM_CONTENT_TYPE } };
}

async function handleQuery(engine: QueryEngine, req: AdminRequest): Promise<AdminReply> {
  try {
    const format = negotiate(req.headers.accept);
    const sql = queryText(await req.json());
    return await engine.query(sql, (answer) => render(answer, format, engine.limits));
  } catch (err) {
    if (!(err instanceof QueryError)) throw err;
    const reply = errorReply(err.status, err.message);
    if (err.retryAfterSec !== undefined) reply.headers = { 'retry-after': String(err.retryAfterSec) };
    return reply;
  }
}

/**
 * Mounts `POST /query` on the admin router. Returns the engine, whose `close()` frees DuckDB (the admin server
 * does not know of it).
 */
export function mountQueryRoutes(router: AdminRouter, options: QueryRouteOptions = {}): QueryEngine {
  const { source = EMPTY_SOURCE, ...limits } = options;
  const engine = new QueryEngine(source, limits);
  router.post('/query', (req) => handleQuery(engine, req));
  return engine;
}
