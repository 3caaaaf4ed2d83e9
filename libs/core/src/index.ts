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
export { partitionKeyOf, partitionOf } from './hash.ts';
export {
  closeIdleHttp1Connections,
  closeIdleHttp2Session,
  DEFAULT_HTTP_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
} from './http-idle.ts';
export { newInvocationId, parseAwakeableId, parseInvocationId, signalId } from './ids.ts';
export {
  type ControlOperation,
  type IngressBackend,
  type IngressRequest,
  InputError,
  type InvocationBackend,
  type InvocationDescription,
  type InvocationOutcome,
  type InvocationQuery,
  MAX_EXECUTION_TIME_MS,
  OverloadedError,
  type SendReceipt,
} from './invocation.ts';
export {
  type InvocationDefaults,
  type InvocationOptions,
  invocationRetention,
  RESTATE_INVOCATION_DEFAULTS,
  resolveInvocationOptions,
  serviceOptions,
} from './invocation-options.ts';
export type {
  DeploymentSchema,
  HandlerSchema,
  HandlerType,
  RetryPolicyOverrides,
  SchemaView,
  ServiceSchema,
  ServiceType,
} from './schema.ts';
