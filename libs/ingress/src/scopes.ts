import { type AuthScope, HttpRouter, type RouteScope } from '@stead/core';

const INVOCATION_SCOPE_NAME = 'ingress:invoke' as const;

/** Calls, sends and workflow submissions. */
export const INVOCATION_SCOPE: AuthScope = INVOCATION_SCOPE_NAME;

/**
 * What each ingress route requires when authentication is on, route by route. Calls, sends and workflow
 * submissions (`/{service}/{handler}`, `/{object}/{key}/{handler}`, each optionally `/send`, and the same under
 * `/restate/call/` and `/restate/send/`) need INVOCATION_SCOPE; every `/restate/...` route must be listed here (the
 * server refuses to mount one that is not).
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
  ...(['attach', 'output'] as const).map((mode) => ({
    method: 'GET',
    pattern: `/restate/${mode}/:id`,
    scope: 'ingress:attach' as const,
  })),
  // The invocation named in the request body (Restate 1.7).
  ...(['attach', 'output', 'lookup'] as const).map((op) => ({
    method: 'POST',
    pattern: `/restate/${op}`,
    scope: 'ingress:attach' as const,
  })),
  // Calls and sends under `/restate/` (Restate 1.7): the server answers them itself, like `/{service}/{handler}`.
  ...(['call', 'send'] as const).flatMap((mode) =>
    ['/:service/:handler', '/:service/:key/:handler'].flatMap((rest) =>
      ['GET', 'POST'].map((method) => ({
        method,
        pattern: `/restate/${mode}${rest}`,
        scope: INVOCATION_SCOPE_NAME,
      })),
    ),
  ),
  // `/restate/a/...`: the short form the SDK clients use.
  ...['/restate/awakeables', '/restate/a'].flatMap((prefix) =>
    ['resolve', 'reject'].map((op) => ({
      method: 'POST',
      pattern: `${prefix}/:id/${op}`,
      scope: INVOCATION_SCOPE_NAME,
    })),
  ),
];

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

/**
 * What each gRPC ingress method (stead.ingress.v1.Ingress) requires when authentication is on: the scope of the
 * HTTP route doing the same. Health and reflection are open.
 */
export const GRPC_INGRESS_METHOD_SCOPES = {
  Call: INVOCATION_SCOPE_NAME,
  Send: INVOCATION_SCOPE_NAME,
  SubmitWorkflow: INVOCATION_SCOPE_NAME,
  ResolveAwakeable: INVOCATION_SCOPE_NAME,
  RejectAwakeable: INVOCATION_SCOPE_NAME,
  Attach: 'ingress:attach',
  GetOutput: 'ingress:attach',
  AttachWorkflow: 'ingress:attach',
  GetWorkflowOutput: 'ingress:attach',
  Watch: 'ingress:attach',
} as const satisfies Record<string, RouteScope>;
