/**
 * @stead/admin/query: SQL introspection, `POST /query` (and its versioned paths) answered by DuckDB over an
 * IntrospectionSource, in JSON or as an Arrow IPC stream. A separate entry from `@stead/admin`, so that only the
 * processes that serve it (admin, the one-process server) load DuckDB and Apache Arrow.
 */
export { DEFAULT_QUERY_LIMITS, type QueryAnswer, QueryEngine, type QueryLimits } from './engine.ts';
export { QueryError } from './errors.ts';
export {
  mountQueryRoutes,
  negotiate as negotiateQueryFormat,
  type QueryRouteOptions,
  TRUNCATED_RESULT_HEADER,
  TRUNCATED_TABLES_HEADER,
} from './routes.ts';
export { combineSources, EMPTY_SOURCE, registryIntrospection } from './sources.ts';
