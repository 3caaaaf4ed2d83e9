import { type AuthScope, HttpRouter, type RouteScope } from '@stead/core';

/**
 * What each ingress route requires when authentication is on, route by route. Calls, sends and workflow
 * submissions (`/{service}/{handler}`, `/{object}/{key}/{handler}`, each optionally `/send`) need
 * INVOCATION_SCOPE; every `/restate/...` route must be listed here (the server refuses to mount one that is not).
 * A path that matches nothing still needs a valid token (of any scope) before it gets its 404.
 */
export const INGRESS_ROUTE_SCOPES: readonly { method: string; pattern: string; scope: RouteScope }[] = [
  { method: 'GET', pattern: '/restate/health', scope: 'open' },
  ...(['attach', 'output'] as const).flatMap((mode) =>
    [
      '/restate/invocation/:id',
      '/restate/workflow/:name/:key',
      '/restate/invocation/:service/:handler/:idem',
      '/restate/invocation/:service/:key/:handler/:idem',
    ].map((target) => ({ method: 'GET', pattern: `${target}/${mode}`, scope: 'ingress:attach' as const })),
  ),
  { method: 'POST', pattern: '/restate/awakeables/:id/resolve', scope: 'ingress:invoke' },
  { method: 'POST', pattern: '/restate/awakeables/:id/reject', scope: 'ingress:invoke' },
];

/** Calls, sends and workflow submissions. */
export const INVOCATION_SCOPE: AuthScope = 'ingress:invoke';

const table = new HttpRouter<RouteScope>({ allowEmptyParams: true });
for (const r of INGRESS_ROUTE_SCOPES) table.add(r.method, r.pattern, r.scope);

export function isRestatePath(path: string): boolean {
  return path === '/restate' || path.startsWith('/restate/');
}

/**
 * The scope `method path` requires: the table's for a `/restate/...` route, INVOCATION_SCOPE for an invocation,
 * `any` (a valid token) for a `/restate/...` path the table does not know (answered 404 or 405 after that).
 */
export function ingressRouteScope(method: string, path: string): RouteScope | 'any' {
  if (!isRestatePath(path)) return INVOCATION_SCOPE;
  const m = table.match(method.toUpperCase(), path);
  return m.kind === 'found' ? m.handler : 'any';
}

/** Whether the table lists the route (the server mounts no `/restate/...` route without a scope). */
export function hasScopeEntry(method: string, pattern: string): boolean {
  return INGRESS_ROUTE_SCOPES.some((r) => r.method === method.toUpperCase() && r.pattern === pattern);
}
