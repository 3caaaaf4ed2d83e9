import type { RouteScope } from '@stead/core';

/**
 * What each admin route requires when authentication is on: the first row whose method and pattern match wins
 * (`*` matches any method or any path). Reads (GET, HEAD, and `POST /query`, which only reads) need admin:read,
 * everything else admin:write (so `GET /schedules[/{id}]` reads, and creating, pausing, resuming or deleting a cron
 * schedule writes); health and version stay open (probes, and clients checking what they talk to).
 * A path that matches no route still needs a valid token (of any scope) before it gets its 404.
 */
export const ADMIN_ROUTE_SCOPES: readonly { method: string; pattern: string; scope: RouteScope }[] = [
  { method: 'GET', pattern: '/health', scope: 'open' },
  { method: 'GET', pattern: '/version', scope: 'open' },
  { method: 'POST', pattern: '/query', scope: 'admin:read' },
  { method: 'GET', pattern: '*', scope: 'admin:read' },
  { method: '*', pattern: '*', scope: 'admin:write' },
];

/** The scope of `method path` (path without the `/v2` prefix); HEAD is a GET. */
export function adminRouteScope(method: string, path: string): RouteScope {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  const p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  for (const row of ADMIN_ROUTE_SCOPES) {
    if ((row.method === '*' || row.method === m) && (row.pattern === '*' || row.pattern === p)) return row.scope;
  }
  return 'admin:write'; // unreachable: the last row matches everything
}
