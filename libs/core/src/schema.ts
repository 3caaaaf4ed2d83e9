/** Registered services and deployments, as the admin API keeps them and the engine reads them. */
export type ServiceType = 'SERVICE' | 'VIRTUAL_OBJECT' | 'WORKFLOW';
export type HandlerType = 'EXCLUSIVE' | 'SHARED' | 'WORKFLOW';

export interface HandlerSchema {
  name: string;
  /** undefined for plain services. */
  ty?: HandlerType;
  /**
   * Content type the handler accepts, if it declared one; `required` false means an empty body is fine.
   * undefined = the manifest had no `input` (any content type, i.e. `*∕*`); present without `contentType` =
   * the handler takes no input (body and content-type must be empty). `contentType` may hold wildcards.
   */
  input?: { contentType?: string; required?: boolean; jsonSchema?: unknown };
  output?: { contentType?: string; jsonSchema?: unknown; setContentTypeIfEmpty?: boolean };
  /** false when the manifest marks the handler `ingressPrivate` (callable only from other services). */
  public?: boolean;
  documentation?: string;
  metadata?: Record<string, string>;
  /** Per-handler options from the manifest (ms), when present. */
  inactivityTimeoutMs?: number;
  abortTimeoutMs?: number;
  idempotencyRetentionMs?: number;
  journalRetentionMs?: number;
  workflowCompletionRetentionMs?: number;
  retryPolicy?: RetryPolicyOverrides;
}

/** Retry policy fields a manifest (or the admin API) may set; unset fields fall back to the next level. */
export interface RetryPolicyOverrides {
  initialIntervalMs?: number;
  factor?: number;
  maxIntervalMs?: number;
  /** Attempts including the first; unset at every level = the server default. */
  maxAttempts?: number;
  onMaxAttempts?: 'PAUSE' | 'KILL';
}

export interface ServiceSchema {
  name: string;
  ty: ServiceType;
  handlers: HandlerSchema[];
  revision: number;
  deploymentId: string;
  public: boolean;
  documentation?: string;
  metadata?: Record<string, string>;
  inactivityTimeoutMs?: number;
  abortTimeoutMs?: number;
  idempotencyRetentionMs?: number;
  journalRetentionMs?: number;
  retryPolicy?: RetryPolicyOverrides;
}

export interface DeploymentSchema {
  /** Restate format: `dp_` + base62. */
  id: string;
  uri: string;
  protocolType: 'BidiStream' | 'RequestResponse';
  /** Protocol version range the endpoint accepts (from its manifest). */
  minProtocolVersion: number;
  maxProtocolVersion: number;
  /** Endpoint manifest version it answered with (2..4). */
  manifestVersion: number;
  additionalHeaders: Record<string, string>;
  useHttp11: boolean;
  sdkVersion?: string;
  createdAt: string;
  services: { name: string; revision: number }[];
}

/** Read side of the schema registry, used by ingress and the engine. */
export interface SchemaView {
  service(name: string): ServiceSchema | undefined;
  deployment(id: string): DeploymentSchema | undefined;
}
