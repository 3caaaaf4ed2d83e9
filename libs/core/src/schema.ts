/** Registered services and deployments, as the admin API keeps them and the engine reads them. */
export type ServiceType = 'SERVICE' | 'VIRTUAL_OBJECT' | 'WORKFLOW';
export type HandlerType = 'EXCLUSIVE' | 'SHARED' | 'WORKFLOW';

/** What a manifest (or the admin API) may set on a service and on each handler; options in ms, when present. */
export interface SchemaOptions {
  documentation?: string;
  metadata?: Record<string, string>;
  inactivityTimeoutMs?: number;
  abortTimeoutMs?: number;
  idempotencyRetentionMs?: number;
  journalRetentionMs?: number;
  retryPolicy?: RetryPolicyOverrides;
}

export interface HandlerSchema extends SchemaOptions {
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
  workflowCompletionRetentionMs?: number;
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

export interface ServiceSchema extends SchemaOptions {
  name: string;
  ty: ServiceType;
  handlers: HandlerSchema[];
  revision: number;
  deploymentId: string;
  public: boolean;
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

/** A service as an endpoint manifest describes it: no revision or deployment yet. */
export type DiscoveredService = Omit<ServiceSchema, 'revision' | 'deploymentId' | 'public'> & { public?: boolean };

/** What discovery reads from an endpoint's manifest (`discover` in @stead/invoker, used by the admin API). */
export interface DiscoveredEndpoint {
  services: DiscoveredService[];
  minProtocolVersion: number;
  maxProtocolVersion: number;
  protocolMode: 'BIDI_STREAM' | 'REQUEST_RESPONSE';
  manifestVersion: number;
  sdkVersion?: string;
}

/** Options of one discovery request. */
export interface DiscoverOptions {
  headers?: Record<string, string>;
  useHttp11?: boolean;
  timeoutMs?: number;
  /** Allow link-local and cloud metadata addresses (refused by default, also after DNS resolution). */
  allowLinkLocal?: boolean;
  /** Largest manifest read (default 4 MiB in @stead/invoker); a larger answer is refused with 400. */
  maxResponseBytes?: number;
}
