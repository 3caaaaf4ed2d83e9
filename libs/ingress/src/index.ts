/**
 * @stead/ingress: Restate's ingress HTTP API (calls, sends, `/restate/...` routes) on one port serving HTTP/1.1
 * and h2c. Durations (`?delay=`) are parsed by @stead/core's `parseDuration`.
 */
export { contentTypeMatches, inputProblem } from './content-type.ts';
export { invocationRoutes } from './invocation-routes.ts';
export { type IngressMetrics, registerIngressMetrics } from './metrics.ts';
export {
  DEFAULT_MAX_BODY_BYTES,
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
