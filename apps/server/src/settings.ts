import { corsOriginsProblem, type SettingsSpec } from '@stead/core';

/** Settings of the all-in-one server. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const serverSettings = {
  dataDir: { kind: 'string', default: './stead-data', help: 'Where logs, partition stores and the schema live.' },
  bindAddress: {
    kind: 'string',
    default: '0.0.0.0',
    help: 'Address the ingress, admin and metrics listeners bind to (the node port has its own setting).',
  },
  nodeBindAddress: {
    kind: 'string',
    default: '127.0.0.1',
    help:
      'Address the node port binds to. Loopback by default: its gRPC API accepts metadata writes and membership ' +
      'changes without authentication, so expose it (e.g. 0.0.0.0) only on a trusted network.',
  },
  ingressPort: { kind: 'int', default: '8080', min: 0, max: 65535, help: 'HTTP ingress port.' },
  adminPort: { kind: 'int', default: '9070', min: 0, max: 65535, help: 'Admin REST API port.' },
  nodePort: {
    kind: 'int',
    default: '5122',
    min: 0,
    max: 65535,
    help: 'gRPC port: the embedded metadata store, node-to-node traffic.',
  },
  metricsPort: { kind: 'int', default: '5123', min: 0, max: 65535, help: 'Port of /metrics, /health, /ready.' },
  partitions: { kind: 'int', default: '8', min: 1, max: 4096, help: 'Number of partitions (fixed at first start).' },
  maxBodySize: { kind: 'bytes', default: '10MiB', min: 1, help: 'Largest ingress request body (413 above).' },
  maxStateValueSize: {
    kind: 'bytes',
    default: '16MiB',
    min: 1,
    help: 'Largest state value a handler may write (413 above).',
  },
  retryInitialInterval: { kind: 'duration', default: '50ms', min: 1, help: 'First delay between attempts.' },
  retryFactor: { kind: 'int', default: '2', min: 1, max: 10, help: 'Backoff multiplier between attempts.' },
  retryMaxInterval: { kind: 'duration', default: '10s', min: 1, help: 'Longest delay between attempts.' },
  retryMaxAttempts: {
    kind: 'int',
    default: '70',
    min: 0,
    help: 'Attempts (including the first) before --retry-on-max-attempts applies; 0 = retry forever.',
  },
  retryOnMaxAttempts: {
    kind: 'string',
    default: 'pause',
    help: 'What happens when the attempts run out: pause (resume through the admin API) or kill.',
  },
  inactivityTimeout: {
    kind: 'duration',
    default: '60s',
    min: 1,
    help: 'Silence from an endpoint after which it is asked to suspend.',
  },
  abortTimeout: {
    kind: 'duration',
    default: '10m',
    min: 1,
    help: 'Time after the suspension request before the attempt is aborted and retried.',
  },
  defaultJournalRetention: {
    kind: 'duration',
    default: '1d',
    min: 0,
    help: 'How long a completed invocation (status, result, journal) stays queryable; 0 = forget at once.',
  },
  defaultIdempotencyRetention: {
    kind: 'duration',
    default: '1d',
    min: 0,
    help: 'How long the result of an invocation with an idempotency key is kept.',
  },
  defaultWorkflowCompletionRetention: {
    kind: 'duration',
    default: '1d',
    min: 0,
    help: 'How long a completed workflow run (result, state, promises) is kept.',
  },
  httpIdleTimeout: {
    kind: 'duration',
    default: '60s',
    min: 1,
    help: 'An ingress or admin connection (HTTP/1.1 or HTTP/2) with no request in flight for this long is closed.',
  },
  maxConnections: {
    kind: 'int',
    default: '10000',
    min: 1,
    help: 'Most open connections per HTTP listener (ingress, admin); a connection over it is closed at once.',
  },
  corsAllowedOrigins: {
    kind: 'string',
    default: '*',
    check: corsOriginsProblem,
    help: "Browser origins that may call the ingress: '*' (any, never with credentials), a comma-separated list (https://app.example.com,http://localhost:3000), or 'none'.",
  },
  adminCorsAllowedOrigins: {
    kind: 'string',
    default: 'none',
    check: corsOriginsProblem,
    help: "Browser origins that may call the admin API: 'none' (same origin only, as the web UI), a comma-separated list, or '*' (any, never with credentials).",
  },
  corsAllowCredentials: {
    kind: 'bool',
    default: 'false',
    help: 'Answer access-control-allow-credentials to origins in an explicit CORS list (never to *).',
  },
  allowLinkLocalDeployments: {
    kind: 'bool',
    default: 'false',
    help: 'Allow registering deployments at link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, metadata.google.internal).',
  },
  maxDiscoveryResponseSize: {
    kind: 'bytes',
    default: '4MiB',
    min: 1,
    help: 'Largest endpoint manifest read when registering a deployment (a larger one is refused with 400).',
  },
  maxConcurrentInvocations: {
    kind: 'int',
    default: '1000',
    min: 1,
    help:
      'Most invocation attempts running at once; more wait in a FIFO queue and start as running ones end, suspend ' +
      'or fail. An attempt blocked on a call to a waiting one holds its slot until it suspends (--inactivity-timeout).',
  },
  maxPartitionBacklog: {
    kind: 'int',
    default: '4000',
    min: 1,
    help:
      'Most records a partition may have appended but not yet applied; above it new ingress requests for that ' +
      'partition (call, send, attach, awakeable completion) are refused with 503 and Retry-After.',
  },
  partitionCacheSize: {
    kind: 'bytes',
    default: '32MiB',
    min: 0,
    help: 'Read cache of the partition stores, shared by all partitions (counted with per-entry overhead).',
  },
  logCacheSize: {
    kind: 'bytes',
    default: '8MiB',
    min: 0,
    help: 'Recent log records kept in memory for the partition processors that tail the logs, shared by all logs.',
  },
  shutdownTimeout: { kind: 'duration', default: '20s', min: 1, help: 'Grace period for a clean shutdown.' },
} satisfies SettingsSpec;
