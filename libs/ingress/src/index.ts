/**
 * @stead/ingress: Restate's ingress HTTP API (calls, sends, `/restate/...` routes) on one port serving HTTP/1.1
 * and h2c (or HTTPS with both by ALPN), with optional bearer-token scopes (scopes.ts); and the gRPC ingress
 * (grpc-server.ts, stead.ingress.v1.Ingress on its own port) over the same backend. Durations (`?delay=`) are parsed by @stead/core's `parseDuration`.
 */
export { contentTypeMatches, inputProblem } from './content-type.ts';
export {
  type ErrorSource,
  grpcCodeOf,
  grpcError,
  type RestateFailure,
} from './grpc-errors.ts';
export {
  DEFAULT_GRPC_INGRESS_PORT,
  type GrpcIngress,
  type GrpcIngressOptions,
  startGrpcIngress,
} from './grpc-server.ts';
export { invocationRoutes } from './invocation-routes.ts';
export { type IngressMetrics, registerIngressMetrics } from './metrics.ts';
export { GRPC_INGRESS_METHOD_SCOPES, INGRESS_ROUTE_SCOPES, INVOCATION_SCOPE, ingressRouteScope } from './scopes.ts';
export {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_UNJOURNALED_HEADERS,
  type IngressReply,
  type IngressRoute,
  type IngressRouteContext,
  type IngressServer,
  type IngressServerOptions,
  ingressError,
  outcomeReply,
  startIngressServer,
  statusForErrorCode,
} from './server.ts';
