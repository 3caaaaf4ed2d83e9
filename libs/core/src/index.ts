export { ForbiddenAddressError, forbiddenAddressReason, forbiddenHostReason } from './address-policy.ts';
export {
  CORS_ANY,
  CORS_NONE,
  type CorsPolicy,
  corsHeaders,
  corsOriginsProblem,
  corsPolicy,
  parseCorsOrigins,
} from './cors.ts';
export {
  derivedInvocationId,
  idempotentInvocationId,
  queriedInvocationId,
  workflowInvocationId,
} from './derived-ids.ts';
export {
  type DurationResult,
  formatDuration,
  formatTimestamp,
  type ParseDurationOptions,
  parseDuration,
} from './duration.ts';
export { fanIn, type StreamStart } from './fan-in.ts';
export { DEFAULT_FILE_POLL_INTERVAL_MS, type FileWatch, watchFiles } from './file-watch.ts';
export { partitionKeyOf, partitionOf } from './hash.ts';
export {
  AUTH_SCOPES,
  type AuthDecision,
  type Authenticator,
  type AuthScope,
  authorize,
  hashToken,
  newToken,
  parseScopes,
  parseTokenFile,
  type RouteScope,
  TokenAuthenticator,
  type TokenAuthenticatorOptions,
  type TokenEntry,
  TokenFileError,
  tokenFileEntry,
} from './http-auth.ts';
export { type BodySource, BodyTooLargeError, readBody } from './http-body.ts';
export {
  closeIdleHttp1Connections,
  closeIdleHttp2Session,
  DEFAULT_HTTP_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
} from './http-idle.ts';
export {
  type AnyRequest,
  type AnyResponse,
  type ConnectionLimits,
  clientGone,
  type DualListener,
  listenDual,
  type RequestListener,
  responseClosed,
} from './http-listener.ts';
export { decodePathSegment, HttpRouter, type HttpRouterOptions, type RouteMatch, splitPath } from './http-router.ts';
export {
  logTlsReload,
  readTlsFiles,
  reloadTlsOnChange,
  type TlsFiles,
  type TlsMaterial,
  type TlsReloadReport,
} from './http-tls.ts';
export {
  base62Fixed,
  invocationPartitionKey,
  newInvocationId,
  parseAwakeableId,
  parseInvocationId,
  signalId,
} from './ids.ts';
export {
  INTROSPECTION_TABLES,
  type IntrospectionRow,
  type IntrospectionSource,
  type IntrospectionValue,
  introspectionTable,
  type ScanOptions,
  type SqlColumnType,
  type SqlTable,
  scanInTurn,
} from './introspection.ts';
export {
  type ControlOperation,
  INVOCATION_NOT_FOUND,
  INVOCATION_NOT_READY,
  type IngressBackend,
  type IngressRequest,
  InputError,
  type InvocationBackend,
  type InvocationDescription,
  type InvocationOutcome,
  type InvocationQuery,
  isEngineMiss,
  MAX_EXECUTION_TIME_MS,
  NotLeaderError,
  OverloadedError,
  type RestartOptions,
  type SendReceipt,
  type StateReplacement,
} from './invocation.ts';
export {
  type InvocationDefaults,
  type InvocationOptions,
  invocationRetention,
  RESTATE_INVOCATION_DEFAULTS,
  resolveInvocationOptions,
  serviceOptions,
} from './invocation-options.ts';
export {
  type CronSpec,
  cronProblem,
  LATE_AFTER_MS,
  MAX_COUNTED_MISSED,
  nextTick,
  nextTicks,
  planTicks,
  type TickPlan,
} from './schedule-ticks.ts';
export {
  OVERLAP_POLICIES,
  type OverlapPolicy,
  SCHEDULE_ID_HEADER,
  SCHEDULE_TICK_HEADER,
  type ScheduleDefinition,
  type ScheduleOperation,
  type ScheduleTarget,
  scheduleIdempotencyKey,
  scheduleIdOfKey,
  scheduleInvocationId,
  schedulePartitionKey,
} from './schedules.ts';
export type {
  DeploymentSchema,
  DiscoveredEndpoint,
  DiscoveredService,
  DiscoverOptions,
  HandlerSchema,
  HandlerType,
  RetryPolicyOverrides,
  SchemaOptions,
  SchemaView,
  ServiceSchema,
  ServiceType,
} from './schema.ts';
export { stateVersion } from './state-version.ts';
