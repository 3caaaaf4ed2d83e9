import * as dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import {
  type DiscoverOptions as CoreDiscoverOptions,
  type DiscoveredEndpoint,
  type DiscoveredService,
  ForbiddenAddressError,
  forbiddenAddressReason,
  forbiddenHostReason,
  type HandlerSchema,
  type HandlerType,
  type RetryPolicyOverrides,
  type SchemaOptions,
  type ServiceType,
} from '@stead/core';
import { ResponseTooLargeError, request, type SimpleResponse } from './http.ts';
import { identityRefusal, type RequestSigner, UNSIGNED_REQUESTS } from './identity.ts';

/** Manifest versions we read, newest first (the `accept` header offers them all). */
const MANIFEST_VERSIONS = [4, 3, 2];
const MANIFEST_TYPE = (v: number) => `application/vnd.restate.endpointmanifest.v${v}+json`;

/** Options of one discovery request. */
export interface DiscoverOptions extends CoreDiscoverOptions {
  /** How host names are resolved (default: the system resolver, as `dns.lookup`). */
  resolve?: ResolveAll;
  /** The identity headers of the request (default: `unsigned`). */
  signer?: RequestSigner;
}

/** Default of `maxResponseBytes`: far above any real manifest, far below what could hurt the server. */
export const DEFAULT_MAX_DISCOVERY_RESPONSE_BYTES = 4 * 1024 * 1024;

/** Resolves a host name to all its addresses (`family` 0 = any, 4, 6). */
export type ResolveAll = (hostname: string, family: number) => Promise<dns.LookupAddress[]>;

const systemResolve: ResolveAll = (hostname, family) =>
  dns.promises.lookup(hostname, { all: true, family: family as 0 | 4 | 6 });

/**
 * A DNS lookup for `net.connect` that fails with `ForbiddenAddressError` when `host` resolves to a link-local or
 * metadata address (any of its addresses), so that a name cannot smuggle such an address past the uri check.
 */
export function guardedLookup(host: string, resolve: ResolveAll = systemResolve): LookupFunction {
  return (hostname, options, callback) => {
    const family = typeof options.family === 'number' ? options.family : 0;
    resolve(hostname, family).then(
      (addresses) => {
        for (const a of addresses) {
          const reason = forbiddenAddressReason(a.address);
          if (reason !== undefined) {
            callback(new ForbiddenAddressError(`'${host}' resolves to ${a.address}`, reason), '', 0);
            return;
          }
        }
        if (addresses.length === 0) {
          callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
        } else if (options.all) {
          (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
        } else callback(null, addresses[0].address, addresses[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/**
 * Discovery failed: `status` is what the admin API answers. 400: the request names something that cannot work
 * (a bad URL, a refused address, an endpoint that answers 4xx or a bad manifest). 503: the endpoint could not be
 * reached or answered 5xx, which may pass (it is starting, overloaded): registering again may succeed. Restate
 * answers 500 to both; a 500 here would say that Stead itself failed.
 */
export class DiscoveryError extends Error {
  override name = 'DiscoveryError';
  readonly status: number;
  readonly restateCode: string | undefined;
  constructor(status: number, message: string, restateCode?: string) {
    super(message);
    this.status = status;
    this.restateCode = restateCode;
  }
}

const SERVICE_TYPES: Record<string, ServiceType> = {
  SERVICE: 'SERVICE',
  VIRTUAL_OBJECT: 'VIRTUAL_OBJECT',
  WORKFLOW: 'WORKFLOW',
};
const HANDLER_TYPES: Record<string, HandlerType> = { EXCLUSIVE: 'EXCLUSIVE', SHARED: 'SHARED', WORKFLOW: 'WORKFLOW' };

/** Fetches `{uri}/discover` and validates the endpoint manifest. */
export async function discover(uri: string, opts: DiscoverOptions = {}): Promise<DiscoveredEndpoint> {
  const base = discoveryBase(uri, opts.allowLinkLocal === true);
  const url = new URL(`${base.pathname.replace(/\/$/, '')}/discover`, base);
  const res = await fetchManifest(url, base.hostname, opts);
  if (res.status !== 200) {
    const text = res.body.toString('utf8').slice(0, 300);
    throw new DiscoveryError(
      res.status >= 500 ? 503 : 400,
      `the deployment at ${url.href} answered discovery with HTTP ${res.status}${text ? `: ${text}` : ''}${identityRefusal(res.status, opts.signer ?? UNSIGNED_REQUESTS)}`,
      'META0003',
    );
  }
  const ct = String(res.headers['content-type'] ?? '');
  const m = /application\/vnd\.restate\.endpointmanifest\.v(\d+)\+json/.exec(ct);
  const manifestVersion = m ? Number(m[1]) : 0;
  if (!m || !MANIFEST_VERSIONS.includes(manifestVersion)) {
    throw new DiscoveryError(
      400,
      `the deployment at ${url.href} answered with content type '${ct}'; expected an endpoint manifest v${MANIFEST_VERSIONS.at(-1)}..v${MANIFEST_VERSIONS[0]}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(res.body.toString('utf8'));
  } catch (err) {
    throw new DiscoveryError(400, `the manifest of ${url.href} is not valid JSON: ${(err as Error).message}`);
  }
  const sdk = res.headers['x-restate-server'];
  return {
    ...parseManifest(json, url.href),
    manifestVersion,
    ...(typeof sdk === 'string' ? { sdkVersion: sdk } : {}),
  };
}

/** The endpoint's URL: http(s), and not a link-local or metadata host unless allowed. */
function discoveryBase(uri: string, allowLinkLocal: boolean): URL {
  let base: URL;
  try {
    base = new URL(uri);
  } catch {
    throw new DiscoveryError(400, `'${uri}' is not a valid URL`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new DiscoveryError(400, `'${uri}' must be an http:// or https:// URL`);
  }
  if (!allowLinkLocal) {
    const reason = forbiddenHostReason(base.hostname);
    if (reason !== undefined) throw new DiscoveryError(400, new ForbiddenAddressError(`'${uri}'`, reason).message);
  }
  return base;
}

/** GET of the manifest; a transport failure becomes a DiscoveryError (400 refused address or too large, else 503). */
async function fetchManifest(url: URL, hostname: string, opts: DiscoverOptions): Promise<SimpleResponse> {
  const allowLinkLocal = opts.allowLinkLocal === true;
  const maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_DISCOVERY_RESPONSE_BYTES;
  try {
    return await request(url, {
      method: 'GET',
      // The identity headers last: a deployment's additional headers cannot stand in for them.
      headers: {
        ...opts.headers,
        accept: MANIFEST_VERSIONS.map(MANIFEST_TYPE).join(', '),
        ...(opts.signer ?? UNSIGNED_REQUESTS).headers(url.pathname),
      },
      useHttp11: opts.useHttp11 ?? false,
      timeoutMs: opts.timeoutMs ?? 10_000,
      maxBodyBytes: maxResponseBytes,
      ...(allowLinkLocal ? {} : { lookup: guardedLookup(hostname, opts.resolve) }),
    });
  } catch (err) {
    // HTTP/2 reports a failed connect as a cancelled stream caused by the lookup's error.
    const forbidden = causeOf(err, ForbiddenAddressError);
    if (forbidden !== undefined) throw new DiscoveryError(400, forbidden.message);
    if (err instanceof ResponseTooLargeError) {
      throw new DiscoveryError(
        400,
        `the discovery answer of ${url.href} is larger than the limit of ${maxResponseBytes} bytes (--max-discovery-response-size)`,
      );
    }
    const cause = err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
    throw new DiscoveryError(503, `cannot reach the deployment at ${url.href}: ${cause}`, 'META0003');
  }
}

/** `err` or the first error of its `cause` chain that is a `cls`. */
function causeOf<T extends Error>(err: unknown, cls: new (...args: never[]) => T): T | undefined {
  // (Node's own errors may come from another realm than `Error` here: follow `cause` by shape.)
  let e: unknown = err;
  for (let depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    if (e instanceof cls) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function optNumber(o: Obj, field: string, where: string): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw bad(`${where}.${field} must be a non-negative number`);
  return v;
}

function bad(what: string): DiscoveryError {
  return new DiscoveryError(400, `invalid endpoint manifest: ${what}`);
}

/** Validates a manifest object; throws DiscoveryError(400) naming the first problem. */
export function parseManifest(json: unknown, source = 'the endpoint'): Omit<DiscoveredEndpoint, 'manifestVersion'> {
  if (!isObj(json)) throw bad(`${source} did not send a JSON object`);
  const min = json.minProtocolVersion;
  const max = json.maxProtocolVersion;
  if (
    typeof min !== 'number' ||
    typeof max !== 'number' ||
    !Number.isInteger(min) ||
    !Number.isInteger(max) ||
    min > max
  ) {
    throw bad('minProtocolVersion and maxProtocolVersion must be integers with min <= max');
  }
  const mode = json.protocolMode ?? 'BIDI_STREAM';
  if (mode !== 'BIDI_STREAM' && mode !== 'REQUEST_RESPONSE') {
    throw bad(`protocolMode must be BIDI_STREAM or REQUEST_RESPONSE, got ${JSON.stringify(mode)}`);
  }
  if (!Array.isArray(json.services)) throw bad('services must be an array');
  const names = new Set<string>();
  const services = json.services.map((s, i) => parseService(s, `services[${i}]`, names));
  return { services, minProtocolVersion: min, maxProtocolVersion: max, protocolMode: mode };
}

/** `o.name` when it is a non-empty string not in `seen` (added to it); `what` names it in the error. */
function uniqueName(o: Obj, where: string, seen: Set<string>, what: (name: string) => string): string {
  if (typeof o.name !== 'string' || o.name === '') throw bad(`${where}.name must be a non-empty string`);
  if (seen.has(o.name)) throw bad(`${what(o.name)} appears twice`);
  seen.add(o.name);
  return o.name;
}

function parseService(s: unknown, where: string, names: Set<string>): DiscoveredService {
  if (!isObj(s)) throw bad(`${where} must be an object`);
  const name = uniqueName(s, where, names, (n) => `service '${n}'`);
  const ty = typeof s.ty === 'string' ? SERVICE_TYPES[s.ty] : undefined;
  if (!ty) throw bad(`${where}.ty must be SERVICE, VIRTUAL_OBJECT or WORKFLOW`);
  if (!Array.isArray(s.handlers)) throw bad(`${where}.handlers must be an array`);
  const handlerNames = new Set<string>();
  const handlers = s.handlers.map((h, j) => parseHandler(h, `${where}.handlers[${j}]`, name, ty, handlerNames));
  if (ty === 'WORKFLOW' && handlers.filter((h) => h.ty === 'WORKFLOW').length !== 1) {
    throw bad(`workflow '${name}' must have exactly one handler of type WORKFLOW`);
  }
  return dropUndefined({ name, ty, handlers, ...schemaOptions(s, where) });
}

function parseHandler(h: unknown, hw: string, service: string, ty: ServiceType, names: Set<string>): HandlerSchema {
  if (!isObj(h)) throw bad(`${hw} must be an object`);
  const name = uniqueName(h, hw, names, (n) => `handler '${service}/${n}'`);
  let hty: HandlerType | undefined;
  if (h.ty !== undefined && h.ty !== null) {
    hty = typeof h.ty === 'string' ? HANDLER_TYPES[h.ty] : undefined;
    if (!hty) throw bad(`${hw}.ty must be EXCLUSIVE, SHARED or WORKFLOW`);
  } else if (ty === 'VIRTUAL_OBJECT') hty = 'EXCLUSIVE';
  else if (ty === 'WORKFLOW') hty = 'SHARED';
  if (ty === 'SERVICE' && hty !== undefined) throw bad(`${hw}: handlers of a plain service have no type`);
  return dropUndefined({
    name,
    ty: hty,
    input: isObj(h.input)
      ? pick(h.input, { contentType: 'string', required: 'boolean', jsonSchema: 'any' })
      : undefined,
    output: isObj(h.output)
      ? pick(h.output, { contentType: 'string', setContentTypeIfEmpty: 'boolean', jsonSchema: 'any' })
      : undefined,
    ...schemaOptions(h, hw),
    workflowCompletionRetentionMs: optNumber(h, 'workflowCompletionRetention', hw),
  });
}

/** The fields of `o` named in `types` whose value has that type (`any`: defined), in the order of `types`. */
function pick(o: Obj, types: Record<string, 'string' | 'boolean' | 'any'>): Record<string, any> {
  const out: Record<string, unknown> = {};
  for (const [field, type] of Object.entries(types)) {
    const v = o[field];
    if (type === 'any' ? v !== undefined : typeof v === type) out[field] = v;
  }
  return out;
}

/** What a manifest service and handler both may set: visibility, documentation, metadata, timeouts, retries. */
function schemaOptions(o: Obj, where: string): SchemaOptions & { public?: boolean } {
  return {
    public: o.ingressPrivate === true ? false : undefined,
    documentation: typeof o.documentation === 'string' ? o.documentation : undefined,
    metadata: isObj(o.metadata) ? (o.metadata as Record<string, string>) : undefined,
    inactivityTimeoutMs: optNumber(o, 'inactivityTimeout', where),
    abortTimeoutMs: optNumber(o, 'abortTimeout', where),
    idempotencyRetentionMs: optNumber(o, 'idempotencyRetention', where),
    journalRetentionMs: optNumber(o, 'journalRetention', where),
    retryPolicy: parseRetryPolicy(o, where),
  };
}

/** The flat `retryPolicy*` fields of a manifest service or handler (manifest v3+), if any is set. */
function parseRetryPolicy(o: Obj, where: string): RetryPolicyOverrides | undefined {
  const maxAttempts = optNumber(o, 'retryPolicyMaxAttempts', where);
  if (maxAttempts !== undefined && (!Number.isInteger(maxAttempts) || maxAttempts < 1))
    throw bad(`${where}.retryPolicyMaxAttempts must be an integer >= 1`);
  const factor = optNumber(o, 'retryPolicyExponentiationFactor', where);
  if (factor !== undefined && factor < 1) throw bad(`${where}.retryPolicyExponentiationFactor must be >= 1`);
  const on = o.retryPolicyOnMaxAttempts;
  if (on !== undefined && on !== null && on !== 'PAUSE' && on !== 'KILL')
    throw bad(`${where}.retryPolicyOnMaxAttempts must be PAUSE or KILL`);
  const policy = dropUndefined<RetryPolicyOverrides>({
    initialIntervalMs: optNumber(o, 'retryPolicyInitialInterval', where),
    factor,
    maxIntervalMs: optNumber(o, 'retryPolicyMaxInterval', where),
    maxAttempts,
    onMaxAttempts: on === null ? undefined : (on as 'PAUSE' | 'KILL' | undefined),
  });
  return Object.keys(policy).length > 0 ? policy : undefined;
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
