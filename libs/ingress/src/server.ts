import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AnyRequest,
  type AnyResponse,
  type Authenticator,
  BodyTooLargeError,
  CORS_ANY,
  type CorsPolicy,
  corsHeaders,
  decodePathSegment,
  formatTimestamp,
  type HandlerSchema,
  HttpRouter,
  type IngressBackend,
  type IngressRequest,
  type InvocationOutcome,
  listenDual,
  logTlsReload,
  MAX_EXECUTION_TIME_MS,
  parseDuration,
  readBody,
  responseClosed,
  type SchemaView,
  type SendReceipt,
  type ServiceSchema,
  splitPath,
  type TlsFiles,
  type TlsReloadReport,
} from '@stead/core';
import { createLogger, secondsSince } from '@stead/observability';
import { inputProblem } from './content-type.ts';
import type { IngressMetrics } from './metrics.ts';
import { hasScopeEntry, ingressRouteScope, isRestatePath } from './scopes.ts';

/** Restate's default ingress request size limit (`ingress.request-size-limit`). */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface IngressReply {
  status: number;
  headers?: Record<string, string>;
  /** Serialized as JSON (content-type application/json). */
  json?: unknown;
  body?: Uint8Array | string;
}

export interface IngressRouteContext {
  method: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Request headers (lower-case names), hop-by-hop ones removed. */
  headers: [string, string][];
  /** The request body (413 answered for you when it exceeds the limit). */
  body(): Promise<Uint8Array>;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** Extra routes under `/restate/...` (attach, output, awakeables, ...). Patterns use `:name` segments. */
export interface IngressRoute {
  method: string;
  pattern: string;
  handler: (ctx: IngressRouteContext) => Promise<IngressReply> | IngressReply;
}

export interface IngressServerOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default: all interfaces. */
  host?: string;
  backend: IngressBackend;
  schema: SchemaView;
  /** Largest request body accepted (default 32 MiB, as Restate); larger ones get 413. */
  maxBodyBytes?: number;
  /** Routes under `/restate/`. */
  routes?: IngressRoute[];
  /** Connections (HTTP/1.1) and sessions (HTTP/2) idle this long are closed (default 60 s). */
  idleTimeoutMs?: number;
  /** Most open connections (default 10000); one over it is closed at once. */
  maxConnections?: number;
  /** Which browser origins may read answers (default: any origin, without credentials). */
  cors?: CorsPolicy;
  now?: () => number;
  /** Where unexpected errors are reported (default: an error line of the JSON logger). */
  onError?: (err: unknown) => void;
  /**
   * Reads the schema again from where it is kept. Given when the schema is another process's (a cluster's
   * metadata store): a request for a service this ingress does not know yet (registered a moment ago) re-reads
   * it once before answering 404.
   */
  refreshSchema?: () => Promise<void>;
  /** Told of every request answered (status, duration); see registerIngressMetrics. */
  metrics?: IngressMetrics;
  /**
   * Bearer-token check (a TokenAuthenticator); without it every route is open. Routes need the scopes of
   * INGRESS_ROUTE_SCOPES.
   */
  auth?: Authenticator;
  /**
   * Request headers never passed into an invocation (so never journaled, stored or shown to handlers); names
   * in any case. Default: authorization, cookie.
   */
  unjournaledHeaders?: readonly string[];
  /** HTTPS (HTTP/1.1 and h2 by ALPN) with this certificate, reloaded when the files change; default plain HTTP. */
  tls?: TlsFiles;
  /** Told after each reload of the certificate files (default: a line of the JSON logger). */
  onTlsReload?: TlsReloadReport;
}

export const DEFAULT_UNJOURNALED_HEADERS: readonly string[] = ['authorization', 'cookie'];

export interface IngressServer {
  port: number;
  /** Adds a `/restate/...` route at run time. */
  addRoute(route: IngressRoute): void;
  close(): Promise<void>;
}

const BAD_PATH = 'bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler';

/** Not passed to handlers: hop-by-hop headers, the host, the body framing and what ingress consumes itself. */
const DROPPED_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'http2-settings',
  'idempotency-key',
]);

export function ingressError(status: number, message: string): IngressReply {
  return {
    status,
    headers: { 'x-restate-error-source': 'ingress' },
    json: { code: status, message, source: 'ingress' },
  };
}

/**
 * The answer for an error that names its HTTP status (InputError, OverloadedError, ...), or undefined for any
 * other. An error with `retryAfterSeconds` (an overloaded server) gets a Retry-After header.
 */
export function statusErrorReply(err: unknown): IngressReply | undefined {
  const e = err as { status?: unknown; message?: unknown; retryAfterSeconds?: unknown } | undefined;
  const status = e?.status;
  if (typeof status !== 'number' || !(status >= 400 && status <= 599)) return undefined;
  const reply = ingressError(status, typeof e?.message === 'string' ? e.message : String(err));
  const retryAfter = e?.retryAfterSeconds;
  if (typeof retryAfter === 'number' && Number.isFinite(retryAfter) && retryAfter >= 0)
    reply.headers = { ...reply.headers, 'retry-after': String(Math.ceil(retryAfter)) };
  return reply;
}

/** HTTP status for a terminal error code: the code itself when it is a usable status, else 500 (as Restate). */
export function statusForErrorCode(code: number): number {
  return Number.isInteger(code) && code >= 200 && code <= 999 ? code : 500;
}

function normalizeExecutionTime(value: string): string {
  if (/\.\d{9}Z$/.test(value)) return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : formatTimestamp(ms);
}

function passHeaders(req: AnyRequest, pathname: string, unjournaled: ReadonlySet<string>): [string, string][] {
  const out: [string, string][] = [['x-restate-ingress-path', pathname]];
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(':') || DROPPED_HEADERS.has(name) || unjournaled.has(name)) continue;
    out.push([name, Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value]);
  }
  return out;
}

interface Target {
  service: ServiceSchema;
  handler: HandlerSchema;
  key: string | undefined;
  send: boolean;
}

const PREFIXED_BAD_PATH =
  'bad path, expected /restate/call/:service/:handler, /restate/send/:service/:handler (with /:key before the handler for objects and workflows), POST /restate/attach, /restate/output or /restate/lookup';

/**
 * How a request names its handler: `/{Service}/{handler}[/send]` (a send when it ends in `/send`), or Restate
 * 1.7's `/restate/call/{Service}/{handler}` and `/restate/send/{Service}/{handler}` (`{Object}/{key}/{handler}`
 * for keyed ones), where the prefix says which it is and nothing may follow the handler.
 */
type PathForm = 'plain' | 'call' | 'send';

/** The form of a `/restate/call/...` or `/restate/send/...` path, undefined for any other. */
function prefixedForm(pathname: string): PathForm | undefined {
  if (pathname === '/restate/call' || pathname.startsWith('/restate/call/')) return 'call';
  if (pathname === '/restate/send' || pathname.startsWith('/restate/send/')) return 'send';
  return undefined;
}

/** Resolves a call or send path (see PathForm) like Restate's ingress. */
function resolveTarget(schema: SchemaView, pathname: string, form: PathForm): Target | IngressReply {
  const raw = form === 'plain' ? splitPath(pathname) : splitPath(pathname).slice(2);
  const badPath = form === 'plain' ? BAD_PATH : PREFIXED_BAD_PATH;
  if (raw.length < 2) return ingressError(400, form === 'plain' ? `bad path: ${pathname}` : badPath);
  const parts = raw.map(decodePathSegment);
  const service = schema.service(parts[0]);
  if (service === undefined) return ingressError(404, serviceNotFound(parts[0]));
  const keyed = service.ty !== 'SERVICE';
  const base = keyed ? 3 : 2;
  let send = form === 'send';
  if (form === 'plain' && parts.length === base + 1 && parts[base] === 'send') send = true;
  else if (parts.length !== base) return ingressError(400, badPath);
  const found = lookupHandler(schema, parts[0], parts[base - 1]);
  if ('problem' in found) return ingressError(found.status, found.problem);
  return { ...found, key: keyed ? parts[1] : undefined, send };
}

function serviceNotFound(name: string): string {
  return `service '${name}' not found, make sure to register the service before calling it.`;
}

/**
 * The public handler `serviceName/handlerName` of the schema, or why it cannot be invoked from outside (404
 * unknown, 400 not public); shared by the HTTP and gRPC ingresses so that both answer the same.
 */
export function lookupHandler(
  schema: SchemaView,
  serviceName: string,
  handlerName: string,
): { service: ServiceSchema; handler: HandlerSchema } | { status: number; problem: string } {
  const service = schema.service(serviceName);
  if (service === undefined) return { status: 404, problem: serviceNotFound(serviceName) };
  const handler = service.handlers.find((h) => h.name === handlerName);
  if (handler === undefined) {
    return {
      status: 404,
      problem: `the service '${service.name}' exists, but the handler '${handlerName}' was not found, check that the handler exists in the latest registered service version.`,
    };
  }
  if (!service.public || handler.public === false) return { status: 400, problem: 'the invoked service is not public' };
  return { service, handler };
}

/** What the request handlers of one server share. */
interface Ingress {
  backend: IngressBackend;
  schema: SchemaView;
  limit: number;
  cors: CorsPolicy;
  now: () => number;
  onError: (err: unknown) => void;
  /** The `/restate/...` routes. Empty `:param` segments reach the handlers, which name the bad id. */
  routes: HttpRouter<IngressRoute['handler']>;
  /** Re-reads the schema (one read at a time, shared by the requests that wait for it). */
  refreshSchema?: () => Promise<void>;
  metrics: IngressMetrics | undefined;
  auth: Authenticator | undefined;
  /** Lower-case names of the headers never passed into an invocation. */
  unjournaled: ReadonlySet<string>;
}

/** `fn` with calls made while one runs joining it. */
function shared(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= fn().finally(() => {
      running = undefined;
    });
    return running;
  };
}

/** The target of a request; an unknown service makes the schema be read again once (see refreshSchema). */
async function resolveFresh(ing: Ingress, pathname: string, form: PathForm): Promise<Target | IngressReply> {
  const target = resolveTarget(ing.schema, pathname, form);
  if (!('status' in target) || target.status !== 404 || !ing.refreshSchema) return target;
  try {
    await ing.refreshSchema();
  } catch {
    return target;
  }
  return resolveTarget(ing.schema, pathname, form);
}

/** One request being answered. */
interface Exchange {
  req: AnyRequest;
  res: AnyResponse;
  method: string;
  url: URL;
  /** Headers passed on to handlers. */
  headers: [string, string][];
  body(): Promise<Buffer>;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

function corsFor(cors: CorsPolicy, req: AnyRequest): Record<string, string> {
  const h = req.headers;
  const preflight = req.method === 'OPTIONS' && typeof h['access-control-request-method'] === 'string';
  return corsHeaders(cors, {
    origin: typeof h.origin === 'string' ? h.origin : undefined,
    requestMethod: preflight ? (h['access-control-request-method'] as string) : undefined,
    requestHeaders:
      typeof h['access-control-request-headers'] === 'string' ? h['access-control-request-headers'] : undefined,
  });
}

function write(ing: Ingress, req: AnyRequest, res: AnyResponse, reply: IngressReply): void {
  if (responseClosed(res)) return;
  const headers: Record<string, string> = { ...(reply.headers ?? {}), ...corsFor(ing.cors, req) };
  let payload: Buffer | undefined;
  if (reply.json !== undefined) {
    payload = Buffer.from(JSON.stringify(reply.json));
    headers['content-type'] = 'application/json';
  } else if (reply.body !== undefined) {
    payload = typeof reply.body === 'string' ? Buffer.from(reply.body) : Buffer.from(reply.body);
  }
  const bodyless = reply.status === 204 || reply.status === 304 || req.method === 'HEAD';
  if (bodyless) payload = undefined;
  else headers['content-length'] = String(payload?.length ?? 0);
  try {
    (res as ServerResponse).writeHead(reply.status, headers);
    (res as ServerResponse).end(payload);
  } catch (err) {
    ing.onError(err);
    res.destroy();
  }
}

function tooLarge(ing: Ingress, req: AnyRequest, res: AnyResponse): void {
  const h1 = req.httpVersionMajor < 2;
  write(ing, req, res, {
    status: 413,
    headers: h1
      ? { connection: 'close', 'content-type': 'text/plain; charset=utf-8' }
      : { 'content-type': 'text/plain; charset=utf-8' },
    body: 'length limit exceeded',
  });
  if (h1) {
    // Stop draining a sender that keeps going after the 413.
    const socket = (req as IncomingMessage).socket;
    setTimeout(() => socket.destroy(), 2_000).unref();
  }
}

function declaredTooLarge(ing: Ingress, req: AnyRequest): boolean {
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared > ing.limit;
}

/** The answer for a backend that threw: its own status when it names one, else 500 (reported). */
function backendFailure(ing: Ingress, err: unknown): IngressReply {
  const reply = statusErrorReply(err);
  if (reply !== undefined && reply.status !== 500) return reply;
  ing.onError(err);
  const message = typeof (err as Error)?.message === 'string' ? (err as Error).message : String(err);
  return reply ?? ingressError(500, message);
}

/**
 * Answers one request and reports it to the metrics (when the client did not go away first): its status and
 * the time from its arrival to its answer.
 */
async function handle(ing: Ingress, req: AnyRequest, res: AnyResponse): Promise<void> {
  const startedMs = ing.metrics === undefined ? 0 : performance.now();
  try {
    const x = exchange(ing, req, res); // undefined: answered already (a preflight, a bad URL)
    if (x !== undefined && admitted(ing, req, res, x.method, x.url.pathname)) await route(ing, x);
  } catch (err) {
    ing.onError(err);
    write(ing, req, res, ingressError(500, 'internal error'));
  }
  if (ing.metrics !== undefined && res.headersSent) ing.metrics.answered(res.statusCode, secondsSince(startedMs));
}

/**
 * Whether the request's token grants what its route requires (ingressRouteScope); when not, it is answered
 * 401/403 here, before its body is read or anything is started.
 */
function admitted(ing: Ingress, req: AnyRequest, res: AnyResponse, method: string, path: string): boolean {
  if (ing.auth === undefined) return true;
  const decision = ing.auth.authorize(req.headers.authorization, ingressRouteScope(method, path));
  if (decision.ok) return true;
  const reply = ingressError(decision.status, decision.message);
  write(ing, req, res, { ...reply, headers: { ...reply.headers, ...decision.headers } });
  return false;
}

/** The path of the request target ('/' when it does not parse: the request handler answers 400 then). */
function pathOf(req: AnyRequest): string {
  try {
    return new URL(req.url ?? '/', 'http://ingress').pathname;
  } catch {
    return '/';
  }
}

/** `/restate/...` routes, or a call or send of a handler (`/restate/call|send/...` too). */
function route(ing: Ingress, x: Exchange): Promise<void> {
  const path = x.url.pathname;
  if (!isRestatePath(path)) return handleInvocation(ing, x, 'plain');
  const form = prefixedForm(path);
  return form === undefined ? handleRestateRoute(ing, x) : handleInvocation(ing, x, form);
}

/** The request as the handlers see it, or undefined when it is answered at once (a CORS preflight, a bad URL). */
function exchange(ing: Ingress, req: AnyRequest, res: AnyResponse): Exchange | undefined {
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  req.on('error', () => ac.abort());
  res.on('error', () => ac.abort());

  const method = (req.method ?? 'GET').toUpperCase();
  // A CORS preflight: the headers come from the policy (write adds them).
  if (method === 'OPTIONS') {
    write(ing, req, res, { status: 200 });
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://ingress');
  } catch {
    write(ing, req, res, ingressError(400, `bad path: ${req.url}`));
    return undefined;
  }
  return {
    req,
    res,
    method,
    url,
    headers: passHeaders(req, url.pathname, ing.unjournaled),
    body: () => readBody(req, ing.limit),
    signal: ac.signal,
  };
}

/**
 * Restate 1.7's `/restate/scope/{scope}/...` forms run the invocation in a named scope of its virtual-queue
 * scheduler; without that feature restate-server answers 400, and so does Stead, saying so.
 */
const NO_SCOPES =
  'scoped invocations (/restate/scope/{scope}/...) are not supported: Stead has no virtual-queue scopes; use /restate/call/... or /restate/send/...';

function isScopedPath(pathname: string): boolean {
  return pathname === '/restate/scope' || pathname.startsWith('/restate/scope/');
}

/** `/restate/...`: health, attach, output, awakeables and the routes added by the server. */
async function handleRestateRoute(ing: Ingress, x: Exchange): Promise<void> {
  const { req, res } = x;
  const m = ing.routes.match(x.method, x.url.pathname);
  if (m.kind === 'not-found' && isScopedPath(x.url.pathname)) return write(ing, req, res, ingressError(400, NO_SCOPES));
  if (m.kind === 'not-found') return write(ing, req, res, ingressError(404, 'not found'));
  if (m.kind === 'method-not-allowed') return write(ing, req, res, ingressError(405, 'method not allowed'));
  if (declaredTooLarge(ing, req)) return tooLarge(ing, req, res);
  try {
    const reply = await m.handler({
      method: x.method,
      params: m.params,
      query: x.url.searchParams,
      headers: x.headers,
      body: x.body,
      signal: x.signal,
    });
    write(ing, req, res, reply);
  } catch (err) {
    if (err instanceof BodyTooLargeError) return tooLarge(ing, req, res);
    if (x.signal.aborted) return;
    write(ing, req, res, backendFailure(ing, err));
  }
}

/**
 * `/{Service}/{handler}` and `/{Object}/{key}/{handler}`, optionally `/send`, or the same under `/restate/call/` or
 * `/restate/send/`: a call or a send.
 */
async function handleInvocation(ing: Ingress, x: Exchange, form: PathForm): Promise<void> {
  const { req, res } = x;
  if (x.method !== 'GET' && x.method !== 'POST') return write(ing, req, res, ingressError(405, 'method not allowed'));
  if (declaredTooLarge(ing, req)) return tooLarge(ing, req, res);
  const target = await resolveFresh(ing, x.url.pathname, form);
  if ('status' in target) return write(ing, req, res, target);
  const delayMs = parseDelay(ing, x.url.searchParams.get('delay'), target.send);
  if (typeof delayMs === 'object') return write(ing, req, res, delayMs);

  let payload: Buffer;
  try {
    payload = await x.body();
  } catch (err) {
    if (err instanceof BodyTooLargeError) return tooLarge(ing, req, res);
    return; // the client went away while sending
  }
  const ct = req.headers['content-type'];
  const problem = inputProblem(target.handler, typeof ct === 'string' ? ct : undefined, payload.length);
  if (problem !== undefined) return write(ing, req, res, ingressError(400, `input validation error: ${problem}`));

  const idem = req.headers['idempotency-key'];
  const request: IngressRequest = {
    target: { service: target.service.name, handler: target.handler.name, key: target.key },
    body: payload,
    headers: x.headers,
  };
  if (typeof idem === 'string' && idem !== '') request.idempotencyKey = idem;
  if (delayMs !== undefined) request.delayMs = delayMs;
  if (target.send) return sendInvocation(ing, x, request);
  return callInvocation(ing, x, target.handler, request);
}

/** The `?delay=` of a send in ms (undefined without one), or the 400 answer for a bad one. */
function parseDelay(ing: Ingress, delay: string | null, send: boolean): number | undefined | IngressReply {
  if (delay === null) return undefined;
  if (!send) {
    return ingressError(400, 'cannot use the delay query parameter with calls. The delay is supported only with sends');
  }
  const parsed = parseDuration(delay);
  if ('error' in parsed) {
    return ingressError(400, `bad delay query parameter, must be a ISO8601 duration: ${parsed.error}`);
  }
  const latest = MAX_EXECUTION_TIME_MS - ing.now();
  if (!Number.isFinite(parsed.ms) || parsed.ms > latest) {
    return ingressError(
      400,
      `bad delay query parameter: '${delay}' puts the execution time past ${new Date(MAX_EXECUTION_TIME_MS).toISOString()}, the latest supported; the longest delay accepted now is ${Math.floor(latest / 86_400_000)} days`,
    );
  }
  return parsed.ms;
}

/** `.../send`: 202 with the invocation id once the invocation is accepted. */
async function sendInvocation(ing: Ingress, x: Exchange, request: IngressRequest): Promise<void> {
  let receipt: SendReceipt;
  const sentAt = ing.now();
  try {
    receipt = await ing.backend.send(request);
  } catch (err) {
    return write(ing, x.req, x.res, backendFailure(ing, err));
  }
  const answer: Record<string, unknown> = { invocationId: receipt.invocationId };
  if (receipt.executionTime !== undefined) answer.executionTime = normalizeExecutionTime(receipt.executionTime);
  else if (request.delayMs !== undefined) answer.executionTime = formatTimestamp(sentAt + request.delayMs);
  answer.status = receipt.status;
  write(ing, x.req, x.res, { status: 202, headers: { 'x-restate-id': receipt.invocationId }, json: answer });
}

/** A call: waits for the outcome (until the client goes away). */
async function callInvocation(
  ing: Ingress,
  x: Exchange,
  handler: HandlerSchema,
  request: IngressRequest,
): Promise<void> {
  let result: { invocationId: string; outcome: InvocationOutcome };
  try {
    result = await ing.backend.call(request, x.signal);
  } catch (err) {
    if (x.signal.aborted) return;
    return write(ing, x.req, x.res, backendFailure(ing, err));
  }
  write(ing, x.req, x.res, outcomeReply(handler, result.invocationId, result.outcome));
}

export async function startIngressServer(opts: IngressServerOptions): Promise<IngressServer> {
  const routes = new HttpRouter<IngressRoute['handler']>({ allowEmptyParams: true });
  routes.get('/restate/health', () => ({ status: 200 }));
  const addRoute = (route: IngressRoute) => {
    if (!hasScopeEntry(route.method, route.pattern))
      throw new Error(`ingress route ${route.method} ${route.pattern} has no entry in INGRESS_ROUTE_SCOPES`);
    routes.add(route.method, route.pattern, route.handler);
  };
  for (const route of opts.routes ?? []) addRoute(route);
  const ing: Ingress = {
    backend: opts.backend,
    schema: opts.schema,
    limit: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    cors: opts.cors ?? CORS_ANY,
    now: opts.now ?? Date.now,
    onError: opts.onError ?? ((err: unknown) => createLogger('ingress')('error', 'unexpected error', { error: err })),
    routes,
    refreshSchema: opts.refreshSchema && shared(opts.refreshSchema),
    metrics: opts.metrics,
    auth: opts.auth,
    unjournaled: new Set((opts.unjournaledHeaders ?? DEFAULT_UNJOURNALED_HEADERS).map((h) => h.toLowerCase())),
  };

  const onRequest = (req: AnyRequest, res: AnyResponse): void => {
    handle(ing, req, res).catch((err) => ing.onError(err));
  };
  const onCheckContinue = (req: AnyRequest, res: AnyResponse): void => {
    if (!admitted(ing, req, res, (req.method ?? 'GET').toUpperCase(), pathOf(req))) return; // no 100 Continue
    if (declaredTooLarge(ing, req)) {
      tooLarge(ing, req, res); // answered before the body is read, at once
      ing.metrics?.answered(413, 0);
      return;
    }
    (res as ServerResponse).writeContinue();
    onRequest(req, res);
  };

  const listener = await listenDual(opts.port ?? 8080, opts.host, onRequest, onCheckContinue, {
    idleTimeoutMs: opts.idleTimeoutMs,
    maxConnections: opts.maxConnections,
    tls: opts.tls,
    onTlsReload: opts.tls && (opts.onTlsReload ?? logTlsReload(createLogger('ingress'), opts.tls)),
  });
  return {
    port: listener.port,
    addRoute,
    close: () => listener.close(),
  };
}

/** The HTTP answer for a finished invocation, as Restate's ingress gives it. */
export function outcomeReply(handler: HandlerSchema, invocationId: string, outcome: InvocationOutcome): IngressReply {
  if (outcome.ok) {
    const headers: Record<string, string> = { 'x-restate-id': invocationId };
    const declared = handler.output === undefined ? 'application/json' : handler.output.contentType;
    const contentType =
      outcome.contentType ??
      (outcome.value.length > 0 || handler.output?.setContentTypeIfEmpty === true ? declared : undefined);
    if (contentType !== undefined) headers['content-type'] = contentType;
    return { status: 200, headers, body: outcome.value };
  }
  const json: Record<string, unknown> = { code: outcome.code, message: outcome.message };
  if (outcome.metadata !== undefined && Object.keys(outcome.metadata).length > 0) json.metadata = outcome.metadata;
  json.source = 'invocation';
  return {
    status: statusForErrorCode(outcome.code),
    headers: { 'x-restate-id': invocationId, 'x-restate-error-source': 'invocation' },
    json,
  };
}
