export { contentTypeMatches, inputProblem } from './content-type.ts';
export { type DurationResult, parseDuration } from './duration.ts';
export { invocationRoutes } from './invocation-routes.ts';
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
