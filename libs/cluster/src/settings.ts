// Settings that several deployables share: the one-process server, and in a cluster the worker (invocations,
// engine), the ingress (HTTP), the admin (HTTP, registry, invocation defaults it shows). Each is a flag
// `--kebab-name` and a variable `STEAD_UPPER_SNAKE`; a deployable spreads the groups it needs into its spec.
import {
  corsOriginsProblem,
  type InvocationDefaults,
  logTlsReload,
  readTlsFiles,
  type TlsFiles,
  type TlsReloadReport,
  TokenAuthenticator,
} from '@stead/core';
import { followRequestSigner, RequestIdentityError, type RequestSigner, UNSIGNED_REQUESTS } from '@stead/invoker';
import type { Logger } from '@stead/observability';
import { type Settings, type SettingsSpec, StartupError, setting } from '@stead/runtime';
import { DirectorySnapshotRepository, S3SnapshotRepository, type SnapshotRepository } from '@stead/snapshots';

const onMaxAttemptsProblem = (v: string) => (v === 'pause' || v === 'kill' ? undefined : 'expected pause or kill');

/** Retries, timeouts and retentions of invocations (server defaults; a service or handler overrides them). */
export const invocationSettings = {
  retryInitialInterval: setting('duration', '50ms', 'First delay between attempts.', { min: 1 }),
  retryFactor: setting('int', '2', 'Backoff multiplier between attempts.', { min: 1, max: 10 }),
  retryMaxInterval: setting('duration', '10s', 'Longest delay between attempts.', { min: 1 }),
  retryMaxAttempts: setting(
    'int',
    '70',
    'Attempts (including the first) before --retry-on-max-attempts applies; 0 = retry forever.',
    { min: 0 },
  ),
  retryOnMaxAttempts: setting(
    'string',
    'pause',
    'What happens when the attempts run out: pause (resume through the admin API) or kill.',
    { check: onMaxAttemptsProblem },
  ),
  inactivityTimeout: setting('duration', '60s', 'Silence from an endpoint after which it is asked to suspend.', {
    min: 1,
  }),
  abortTimeout: setting(
    'duration',
    '10m',
    'Time after the suspension request before the attempt is aborted and retried.',
    { min: 1 },
  ),
  defaultJournalRetention: setting(
    'duration',
    '1d',
    'How long a completed invocation (status, result, journal) stays queryable; 0 = forget at once.',
    { min: 0 },
  ),
  defaultIdempotencyRetention: setting(
    'duration',
    '1d',
    'How long the result of an invocation with an idempotency key is kept.',
    { min: 0 },
  ),
  defaultWorkflowCompletionRetention: setting(
    'duration',
    '1d',
    'How long a completed workflow run (result, state, promises) is kept.',
    { min: 0 },
  ),
  maxServiceProtocolVersion: setting(
    'int',
    '7',
    'Highest service protocol version negotiated with deployments (an invocation keeps the version it started with); 6 = behave like Restate without its v7 flag.',
    { min: 5, max: 7 },
  ),
} satisfies SettingsSpec;

/** Limits and caches of the partition engine (server, worker). */
export const engineSettings = {
  maxStateValueSize: setting('bytes', '16MiB', 'Largest state value a handler may write (413 above).', { min: 1 }),
  maxConcurrentInvocations: setting(
    'int',
    '1000',
    'Most invocation attempts running at once; more wait in a FIFO queue and start as running ones end, suspend or fail. An attempt blocked on a call to a waiting one holds its slot until it suspends (--inactivity-timeout).',
    { min: 1 },
  ),
  maxPartitionBacklog: setting(
    'int',
    '4000',
    'Most records a partition may have appended but not yet applied; above it new ingress requests for that partition (call, send, attach, awakeable completion) are refused with 503 and Retry-After.',
    { min: 1 },
  ),
  partitionCacheSize: setting(
    'bytes',
    '16MiB',
    'Read cache of the partition stores, shared by all partitions (counted with per-entry overhead).',
    { min: 0 },
  ),
  logCacheSize: setting(
    'bytes',
    '8MiB',
    'Recent log records kept in memory for the partition processors that tail the logs, shared by all logs.',
    { min: 0 },
  ),
} satisfies SettingsSpec;

const noneOrUrl = (v: string) => {
  if (v === 'none') return undefined;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : 'expected an http:// or https:// URL';
  } catch {
    return 'expected an http:// or https:// URL, like https://s3.amazonaws.com or http://minio:9000';
  }
};
const bucketName = (v: string) =>
  v === 'none' || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v)
    ? undefined
    : "expected an S3 bucket name (3-63 lower-case letters, digits, '.' and '-') or none";

/**
 * Partition snapshots (server, worker): when they are taken, how many are kept, and the S3-compatible bucket that
 * holds them. Credentials come from these settings or from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN.
 */
export const snapshotSettings = {
  snapshotBucket: setting(
    'string',
    'none',
    "S3 bucket for partition snapshots; 'none': the one-process server keeps them under <data-dir>/snapshots, a cluster takes none (its logs are then trimmed only below what every replica has stored).",
    { check: bucketName },
  ),
  snapshotPrefix: setting('string', 'stead', 'Key prefix of the snapshots in the bucket (one cluster per prefix).', {
    check: (v) => (/^[A-Za-z0-9!_.*'()/-]+$/.test(v) && !v.startsWith('/') ? undefined : 'expected an S3 key prefix'),
  }),
  snapshotEndpoint: setting(
    'string',
    'https://s3.amazonaws.com',
    'URL of the S3-compatible service (AWS S3, MinIO, Ceph, R2, …), e.g. http://minio.storage:9000.',
    { check: noneOrUrl },
  ),
  snapshotRegion: setting('string', 'us-east-1', 'Region of the bucket.'),
  snapshotAccessKey: setting(
    'string',
    'none',
    "Access key id for the bucket; 'none': AWS_ACCESS_KEY_ID from the environment (or anonymous).",
  ),
  snapshotSecretKey: setting(
    'string',
    'none',
    "Secret key for the bucket (prefer the variable STEAD_SNAPSHOT_SECRET_KEY to a flag); 'none': AWS_SECRET_ACCESS_KEY.",
  ),
  snapshotInterval: setting(
    'duration',
    '10m',
    'Snapshot each led partition this often (when it applied anything since its last snapshot); 0 = only by --snapshot-records.',
    { min: 0 },
  ),
  snapshotRecords: setting(
    'int',
    '100000',
    'Snapshot a led partition once it applied this many records since its last snapshot; 0 = only by --snapshot-interval.',
    { min: 0 },
  ),
  snapshotRetain: setting(
    'int',
    '2',
    'Snapshots kept per partition; older ones are deleted. Logs are trimmed no further than the oldest kept one, so each can be restored (a corrupt newest one falls back to the one before).',
    { min: 1, max: 100 },
  ),
} satisfies SettingsSpec;

/** The HTTP listeners of ingress and admin. */
export const httpSettings = {
  maxBodySize: setting('bytes', '10MiB', 'Largest ingress request body (413 above).', { min: 1 }),
  httpIdleTimeout: setting(
    'duration',
    '60s',
    'An ingress or admin connection (HTTP/1.1 or HTTP/2) with no request in flight for this long is closed.',
    { min: 1 },
  ),
  maxConnections: setting(
    'int',
    '10000',
    'Most open connections per HTTP listener (ingress, admin); a connection over it is closed at once.',
    { min: 1 },
  ),
  corsAllowedOrigins: setting(
    'string',
    '*',
    "Browser origins that may call the ingress: '*' (any, never with credentials), a comma-separated list (https://app.example.com,http://localhost:3000), or 'none'.",
    { check: corsOriginsProblem },
  ),
  adminCorsAllowedOrigins: setting(
    'string',
    'none',
    "Browser origins that may call the admin API: 'none' (same origin only, as the web UI), a comma-separated list, or '*' (any, never with credentials).",
    { check: corsOriginsProblem },
  ),
  corsAllowCredentials: setting(
    'bool',
    'false',
    'Answer access-control-allow-credentials to origins in an explicit CORS list (never to *).',
  ),
  authTokensFile: setting(
    'string',
    'none',
    'Token file (JSON: {"tokens": [{"name", "hash": "sha256:<hex>", "scopes": [...]}]}) that turns on bearer-token authentication of the admin API and the ingress; reloaded when it changes. Scopes: admin:read, admin:write, ingress:invoke, ingress:attach. `stead auth token create` makes a token and its entry. \'none\' = no authentication.',
  ),
  unjournaledHeaders: setting(
    'string',
    'authorization,cookie',
    "Request headers the ingress never passes into an invocation (not journaled, not stored, not seen by handlers), comma separated, any case; 'none' = pass them all.",
    { check: headerListProblem },
  ),
  httpTlsCertFile: setting(
    'string',
    'none',
    "PEM certificate (chain) for HTTPS on the ingress and the admin API (each HTTP/1.1 and h2 by ALPN); reloaded when it changes. 'none' = plain HTTP. Needs --http-tls-key-file.",
  ),
  httpTlsKeyFile: setting(
    'string',
    'none',
    "PEM private key of --http-tls-cert-file; reloaded when it changes. 'none' = plain HTTP.",
  ),
} satisfies SettingsSpec;

function headerListProblem(v: string): string | undefined {
  if (v === 'none') return undefined;
  const bad = v.split(',').filter((h) => !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h.trim()));
  return bad.length === 0 ? undefined : `not header names: ${bad.map((h) => JSON.stringify(h)).join(', ')}`;
}

/** What the HTTP listeners (admin, ingress) need from the httpSettings: tokens, certificate, dropped headers. */
export interface HttpSecurity {
  /** Undefined: authentication off (--auth-tokens-file none). Close it at shutdown. */
  auth?: TokenAuthenticator;
  /** Undefined: plain HTTP. */
  tls?: TlsFiles;
  /** Reports certificate reloads to the process's log (undefined without TLS). */
  onTlsReload?: TlsReloadReport;
  unjournaledHeaders: string[];
  /** `https` or `http`: what URLs of these listeners start with. */
  scheme: 'http' | 'https';
}

/**
 * Reads the token file and checks the certificate files of `s`; a StartupError names the setting and every
 * problem found (a process does not start with a token file or certificate it cannot use).
 */
export function httpSecurity(
  s: Pick<
    Settings<typeof httpSettings>,
    'authTokensFile' | 'unjournaledHeaders' | 'httpTlsCertFile' | 'httpTlsKeyFile'
  >,
  log: Logger,
): HttpSecurity {
  const unjournaledHeaders =
    s.unjournaledHeaders === 'none'
      ? []
      : s.unjournaledHeaders
          .split(',')
          .map((h) => h.trim().toLowerCase())
          .filter((h) => h !== '');
  return { auth: tokens(s.authTokensFile, log), ...tlsFiles(s, log), unjournaledHeaders };
}

function tokens(file: string, log: Logger): TokenAuthenticator | undefined {
  if (file === 'none') return undefined;
  try {
    const auth = TokenAuthenticator.open(file, { log: (level, msg, fields) => log(level, msg, fields) });
    log('info', 'bearer-token authentication on', { file, tokens: auth.size });
    return auth;
  } catch (err) {
    throw new StartupError(`--auth-tokens-file ${file}: ${(err as Error).message}`);
  }
}

function tlsFiles(
  s: { httpTlsCertFile: string; httpTlsKeyFile: string },
  log: Logger,
): Pick<HttpSecurity, 'tls' | 'scheme' | 'onTlsReload'> {
  const cert = s.httpTlsCertFile;
  const key = s.httpTlsKeyFile;
  if (cert === 'none' && key === 'none') return { scheme: 'http' };
  if (cert === 'none' || key === 'none')
    throw new StartupError('--http-tls-cert-file and --http-tls-key-file go together: give both, or neither');
  const tls = { certFile: cert, keyFile: key };
  try {
    readTlsFiles(tls);
  } catch (err) {
    throw new StartupError(`--http-tls-cert-file/--http-tls-key-file: ${(err as Error).message}`);
  }
  return { tls, scheme: 'https', onTlsReload: logTlsReload(log, tls) };
}

/** Deployment registration (server, admin). */
export const registrySettings = {
  allowLinkLocalDeployments: setting(
    'bool',
    'false',
    'Allow registering deployments at link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, metadata.google.internal).',
  ),
  maxDiscoveryResponseSize: setting(
    'bytes',
    '4MiB',
    'Largest endpoint manifest read when registering a deployment (a larger one is refused with 400).',
    { min: 1 },
  ),
} satisfies SettingsSpec;

/**
 * Request identity (server; in a cluster the admin, which discovers deployments, and every worker, which invokes
 * them): the key that signs every request to a deployment.
 */
export const requestIdentitySettings = {
  requestIdentityPrivateKeyPemFile: setting(
    'string',
    'none',
    "PEM file of an Ed25519 private key (openssl genpkey -algorithm ed25519) that signs every request to a deployment (discovery, invocations), so that SDKs configured with identityKeys accept them; its public key id is logged at start. 'none': requests go unsigned.",
  ),
} satisfies SettingsSpec;

/**
 * The signer the settings name (unsigned with 'none'), its public key id logged so that operators can give it to
 * their SDKs; a key file that cannot be used refuses the start.
 */
export function requestIdentity(s: Settings<typeof requestIdentitySettings>, log: Logger): RequestSigner {
  const file = s.requestIdentityPrivateKeyPemFile;
  if (file === 'none') {
    log('info', 'requests to deployments are unsigned (no --request-identity-private-key-pem-file)');
    return UNSIGNED_REQUESTS;
  }
  let signer: RequestSigner;
  try {
    signer = followRequestSigner(file, (keyId, err) => {
      if (err)
        log('error', 'request identity key file not reloaded; still signing with the previous key', {
          error: err.message,
          requestIdentityKeyId: keyId,
        });
      else
        log('info', 'request identity key reloaded; requests are now signed with this key id', {
          requestIdentityKeyId: keyId,
          file,
        });
    });
  } catch (e) {
    if (e instanceof RequestIdentityError)
      throw new StartupError(`--request-identity-private-key-pem-file: ${e.message}`);
    throw e;
  }
  log('info', 'requests to deployments are signed; list this key id in the identityKeys of your SDK endpoints', {
    requestIdentityKeyId: signer.keyId,
    file,
  });
  return signer;
}

/** One set of defaults for the engine and the admin API, so that what the admin API shows is what runs. */
export function invocationDefaults(s: Settings<typeof invocationSettings>): InvocationDefaults {
  return {
    journalRetentionMs: s.defaultJournalRetention,
    idempotencyRetentionMs: s.defaultIdempotencyRetention,
    workflowCompletionRetentionMs: s.defaultWorkflowCompletionRetention,
    inactivityTimeoutMs: s.inactivityTimeout,
    abortTimeoutMs: s.abortTimeout,
    retry: {
      initialIntervalMs: s.retryInitialInterval,
      factor: s.retryFactor,
      maxIntervalMs: s.retryMaxInterval,
      maxAttempts: s.retryMaxAttempts === 0 ? undefined : s.retryMaxAttempts,
      onMaxAttempts: s.retryOnMaxAttempts === 'kill' ? 'KILL' : 'PAUSE',
    },
  };
}

/**
 * The snapshot repository the settings name: the bucket when one is set; else the directory `defaultDir` (the
 * one-process server's `<data-dir>/snapshots`), or none (a cluster worker without a bucket takes no snapshots).
 */
export function snapshotRepository(
  s: Settings<typeof snapshotSettings>,
  defaultDir?: string,
): SnapshotRepository | undefined {
  if (s.snapshotBucket !== 'none')
    return new S3SnapshotRepository({
      endpoint: s.snapshotEndpoint,
      bucket: s.snapshotBucket,
      prefix: s.snapshotPrefix,
      region: s.snapshotRegion,
      ...(s.snapshotAccessKey === 'none' ? {} : { accessKey: s.snapshotAccessKey }),
      ...(s.snapshotSecretKey === 'none' ? {} : { secretKey: s.snapshotSecretKey }),
    });
  return defaultDir === undefined ? undefined : new DirectorySnapshotRepository(defaultDir);
}
