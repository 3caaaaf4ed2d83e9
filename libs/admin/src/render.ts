import {
  type DeploymentSchema,
  formatDuration,
  formatTimestamp,
  type HandlerSchema,
  type HandlerType,
  type InvocationDefaults,
  RESTATE_INVOCATION_DEFAULTS,
  type ServiceSchema,
  type ServiceType,
  serviceOptions,
} from '@stead/core';

/** Server-wide defaults shown for services that do not override them (the engine's, Restate's by default). */
export type ServiceDefaults = InvocationDefaults;

export const DEFAULT_SERVICE_DEFAULTS: ServiceDefaults = RESTATE_INVOCATION_DEFAULTS;

const SERVICE_TYPE: Record<ServiceType, string> = {
  SERVICE: 'Service',
  VIRTUAL_OBJECT: 'VirtualObject',
  WORKFLOW: 'Workflow',
};
const HANDLER_TYPE: Record<HandlerType, string> = { EXCLUSIVE: 'Exclusive', SHARED: 'Shared', WORKFLOW: 'Workflow' };

function inputDescription(h: HandlerSchema): string {
  if (h.input === undefined) return '*/*';
  if (h.input.contentType === undefined) return 'none';
  return h.input.contentType;
}

function outputDescription(h: HandlerSchema): string {
  if (h.output === undefined) return 'application/json';
  if (h.output.contentType === undefined) return 'none';
  return h.output.setContentTypeIfEmpty ? `optional ${h.output.contentType}` : h.output.contentType;
}

/** Restate's HandlerMetadata. */
export function renderHandler(h: HandlerSchema, service: ServiceSchema): Record<string, unknown> {
  const out: Record<string, unknown> = { name: h.name };
  if (h.ty !== undefined && service.ty !== 'SERVICE') out.ty = HANDLER_TYPE[h.ty];
  out.public = service.public && h.public !== false;
  out.input_description = inputDescription(h);
  out.output_description = outputDescription(h);
  if (h.input?.jsonSchema !== undefined) out.input_json_schema = h.input.jsonSchema;
  if (h.output?.jsonSchema !== undefined) out.output_json_schema = h.output.jsonSchema;
  if (h.documentation !== undefined) out.documentation = h.documentation;
  if (h.metadata !== undefined) out.metadata = h.metadata;
  // Handler-level overrides (Restate's HandlerMetadata: null when the service-level value applies).
  if (h.inactivityTimeoutMs !== undefined) out.inactivity_timeout = formatDuration(h.inactivityTimeoutMs);
  if (h.abortTimeoutMs !== undefined) out.abort_timeout = formatDuration(h.abortTimeoutMs);
  if (h.idempotencyRetentionMs !== undefined) out.idempotency_retention = formatDuration(h.idempotencyRetentionMs);
  if (h.journalRetentionMs !== undefined) out.journal_retention = formatDuration(h.journalRetentionMs);
  // As Restate prints it: the overrides that are set, and `max_attempts` (null when not overridden).
  const r = h.retryPolicy;
  const retry: Record<string, unknown> = {};
  if (r?.initialIntervalMs !== undefined) retry.initial_interval = formatDuration(r.initialIntervalMs);
  if (r?.factor !== undefined) retry.exponentiation_factor = r.factor;
  retry.max_attempts = r?.maxAttempts ?? null;
  if (r?.maxIntervalMs !== undefined) retry.max_interval = formatDuration(r.maxIntervalMs);
  if (r?.onMaxAttempts !== undefined) retry.on_max_attempts = ON_MAX_ATTEMPTS[r.onMaxAttempts];
  out.retry_policy = retry;
  return out;
}

const ON_MAX_ATTEMPTS = { PAUSE: 'Pause', KILL: 'Kill' } as const;

/** Restate's ServiceMetadata. */
export function renderService(
  s: ServiceSchema,
  d: ServiceDefaults = DEFAULT_SERVICE_DEFAULTS,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: s.name,
    ty: SERVICE_TYPE[s.ty],
    handlers: s.handlers.map((h) => renderHandler(h, s)),
    deployment_id: s.deploymentId,
    revision: s.revision,
    public: s.public,
  };
  if (s.documentation !== undefined) out.documentation = s.documentation;
  if (s.metadata !== undefined) out.metadata = s.metadata;
  // Service-level values actually used (service > server default); a handler may override them.
  const o = serviceOptions(s, d);
  out.idempotency_retention = formatDuration(o.idempotencyRetentionMs);
  if (s.ty === 'WORKFLOW') out.workflow_completion_retention = formatDuration(o.workflowCompletionRetentionMs);
  out.journal_retention = formatDuration(o.journalRetentionMs);
  out.inactivity_timeout = formatDuration(o.inactivityTimeoutMs);
  out.abort_timeout = formatDuration(o.abortTimeoutMs);
  out.enable_lazy_state = false;
  out.retry_policy = {
    initial_interval: formatDuration(o.retry.initialIntervalMs),
    exponentiation_factor: o.retry.factor,
    max_attempts: o.retry.maxAttempts ?? null,
    max_interval: o.retry.maxIntervalMs === undefined ? null : formatDuration(o.retry.maxIntervalMs),
    on_max_attempts: ON_MAX_ATTEMPTS[o.retry.onMaxAttempts],
  };
  return out;
}

/** What the admin API shows instead of an additional header's value. */
export const REDACTED = '***';

/**
 * Additional headers as the admin API shows them: names only, every value redacted. They typically carry API
 * keys and tokens for the deployment; the server still sends them, but never echoes them.
 */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(headers).map((name) => [name, REDACTED]));
}

function deploymentHead(dep: DeploymentSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: dep.id,
    uri: dep.uri,
    protocol_type: dep.protocolType,
    http_version: dep.useHttp11 ? 'HTTP/1.1' : 'HTTP/2.0',
  };
  if (Object.keys(dep.additionalHeaders).length > 0) out.additional_headers = redactHeaders(dep.additionalHeaders);
  out.created_at = formatTimestamp(Date.parse(dep.createdAt));
  out.min_protocol_version = dep.minProtocolVersion;
  out.max_protocol_version = dep.maxProtocolVersion;
  if (dep.sdkVersion !== undefined) out.sdk_version = dep.sdkVersion;
  return out;
}

/** Restate's DeploymentResponse (list item): services as name/revision pairs. */
export function renderDeployment(dep: DeploymentSchema): Record<string, unknown> {
  return { ...deploymentHead(dep), services: dep.services.map((s) => ({ name: s.name, revision: s.revision })) };
}

/** Restate's DetailedDeploymentResponse: services in full, at the revisions this deployment exposes. */
export function renderDetailedDeployment(
  dep: DeploymentSchema,
  services: ServiceSchema[],
  d?: ServiceDefaults,
): Record<string, unknown> {
  return { ...deploymentHead(dep), services: services.map((s) => renderService(s, d)) };
}

/** Restate's RegisterDeploymentResponse. */
export function renderRegisterResponse(
  dep: DeploymentSchema,
  services: ServiceSchema[],
  d?: ServiceDefaults,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: dep.id,
    services: services.map((s) => renderService(s, d)),
    min_protocol_version: dep.minProtocolVersion,
    max_protocol_version: dep.maxProtocolVersion,
  };
  if (dep.sdkVersion !== undefined) out.sdk_version = dep.sdkVersion;
  return out;
}
