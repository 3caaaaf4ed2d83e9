import type { ServerResponse } from 'node:http';
import {
  type AnyRequest,
  type AnyResponse,
  type Authenticator,
  BodyTooLargeError,
  CORS_NONE,
  type CorsPolicy,
  clientGone,
  corsHeaders,
  listenDual,
  logTlsReload,
  type RouteScope,
  readBody,
  responseClosed,
  type TlsFiles,
  type TlsReloadReport,
} from '@stead/core';
import { createLogger } from '@stead/observability';
import { deploymentIdProblem } from './ids.ts';
import { parseModifyServiceRequest } from './modify-service.ts';
import { ADMIN_OPENAPI } from './openapi.ts';
import { SchemaError, type SchemaRegistry, type UpdateDeploymentInput } from './registry.ts';
import {
  DEFAULT_SERVICE_DEFAULTS,
  renderDeployment,
  renderDetailedDeployment,
  renderHandler,
  renderRegisterResponse,
  renderService,
  type ServiceDefaults,
} from './render.ts';
import { type AdminReply, type AdminRequest, AdminRouter, errorReply } from './router.ts';
import { adminRouteScope } from './scopes.ts';
import { serviceOpenApi } from './service-openapi.ts';
import { isUiPath, serveUi } from './ui.ts';
import { mountUnsupportedRoutes } from './unsupported.ts';

export interface AdminServerOptions {
  /** Default 9070; 0 picks a free port. */
  port?: number;
  /** Default: all interfaces. */
  host?: string;
  registry: SchemaRegistry;
  /** Advertised in `GET /version` (the web UI calls the ingress there). */
  ingressEndpoint?: string;
  /** Server version reported by `GET /version`. */
  version?: string;
  /** Largest request body accepted (default 1 MiB); larger ones get 413. */
  maxBodyBytes?: number;
  serviceDefaults?: ServiceDefaults;
  /**
   * How many unfinished invocations are pinned to a deployment. When given, `DELETE /deployments/{id}` without
   * `force` removes a deployment nothing is pinned to and refuses (409) one with pinned invocations; without it,
   * only forced removal is offered (501 otherwise, as Restate).
   */
  pinnedInvocations?: (deploymentId: string) => Promise<number>;
  /** Mount more routes (invocations, query, ...) on the same router. */
  extend?: (router: AdminRouter) => void;
  /** Where unexpected errors are reported (default: an error line of the JSON logger). */
  onError?: (err: unknown) => void;
  /** Connections with no request in flight this long are closed (default 60 s). */
  idleTimeoutMs?: number;
  /** Most open connections (default 10000); one over it is closed at once. */
  maxConnections?: number;
  /** Which browser origins may call the API (default: none; the web UI under /ui is same-origin). */
  cors?: CorsPolicy;
  /** The built web UI (apps/ui/dist, `UI_DIST_DIR` of @stead/ui), served under `/ui`; without it `/ui` is a 404. */
  uiDir?: string;
  /**
   * Bearer-token check (a TokenAuthenticator); without it every route is open. Routes need the scopes of
   * ADMIN_ROUTE_SCOPES; the web UI's files under /ui stay open (the UI sends the token it is given).
   */
  auth?: Authenticator;
  /**
   * HTTPS with this certificate (HTTP/1.1 and h2 by ALPN), reloaded when the files change; default plaintext
   * HTTP/1.1 and h2c (prior knowledge) on the same port.
   */
  tls?: TlsFiles;
  /** Told after each reload of the certificate files (default: a line of the JSON logger). */
  onTlsReload?: TlsReloadReport;
}

export interface AdminServer {
  port: number;
  router: AdminRouter;
  close(): Promise<void>;
}

/** Admin API versions whose shapes we serve (the ones Restate 1.7 serves). */
export const MIN_ADMIN_API_VERSION = 2;
export const MAX_ADMIN_API_VERSION = 4;
const DEFAULT_MAX_BODY = 1024 * 1024;

function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const mime = value.split(';')[0].trim().toLowerCase();
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

function unprocessable(why: string): SchemaError {
  return new SchemaError(422, `Failed to deserialize the JSON body into the target type: ${why}`);
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `additional_headers`: a map of valid header names to single-line values (names lower-cased). */
function parseHeaders(raw: unknown): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw unprocessable('additional_headers: expected a map of header names to values');
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!HEADER_NAME.test(name)) throw unprocessable(`additional_headers: invalid header name '${name}'`);
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) {
      throw unprocessable(`additional_headers: invalid value for header '${name}'`);
    }
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

interface ParsedRegisterRequest {
  uri: string;
  additionalHeaders: Record<string, string>;
  useHttp11: boolean;
  force: boolean;
  breaking: boolean;
  dryRun: boolean;
}

function parseRegisterRequest(body: unknown): ParsedRegisterRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw unprocessable('expected a JSON object');
  }
  const b = body as Record<string, unknown>;
  if (b.uri === undefined || b.uri === null) {
    if (b.arn !== undefined) throw new SchemaError(400, 'Lambda deployments (arn) are not supported by this server');
    throw unprocessable('missing field `uri`');
  }
  if (typeof b.uri !== 'string') throw unprocessable('uri: expected a string');
  const bool = (name: string): boolean => {
    const v = b[name];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw unprocessable(`${name}: expected a boolean`);
    return v;
  };
  const rawHeaders = b.additional_headers;
  return {
    uri: b.uri,
    additionalHeaders: rawHeaders === undefined || rawHeaders === null ? {} : parseHeaders(rawHeaders),
    useHttp11: bool('use_http_11'),
    force: bool('force'),
    breaking: bool('breaking'),
    dryRun: bool('dry_run'),
  };
}

/** `PATCH /deployments/{id}`'s body: every field optional; an ARN (Lambda) is refused, as is a bad type. */
function parseUpdateRequest(body: unknown): UpdateDeploymentInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw unprocessable('expected a JSON object');
  const b = body as Record<string, unknown>;
  if (b.arn !== undefined && b.arn !== null)
    throw new SchemaError(400, 'Lambda deployments (arn) are not supported by this server');
  const out: UpdateDeploymentInput = {};
  if (b.uri !== undefined && b.uri !== null) {
    if (typeof b.uri !== 'string') throw unprocessable('uri: expected a string');
    out.uri = b.uri;
  }
  if (b.additional_headers !== undefined && b.additional_headers !== null)
    out.additionalHeaders = parseHeaders(b.additional_headers);
  for (const [field, key] of [
    ['use_http_11', 'useHttp11'],
    ['overwrite', 'overwrite'],
    ['dry_run', 'dryRun'],
  ] as const) {
    const v = b[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'boolean') throw unprocessable(`${field}: expected a boolean`);
    out[key] = v;
  }
  return out;
}

function checkDeploymentId(id: string): void {
  const problem = deploymentIdProblem(id);
  if (problem !== undefined) {
    throw new SchemaError(400, `Invalid URL: Cannot parse \`deployment\` with value \`${id}\`: ${problem}`);
  }
}

interface SchemaRouteOptions {
  defaults?: ServiceDefaults;
  ingressEndpoint?: string;
  version?: string;
  pinnedInvocations?: (deploymentId: string) => Promise<number>;
}

/** The routes of the admin API that the schema registry answers. */
export function mountSchemaRoutes(router: AdminRouter, registry: SchemaRegistry, opts: SchemaRouteOptions = {}): void {
  const defaults = opts.defaults ?? DEFAULT_SERVICE_DEFAULTS;
  mountServerRoutes(router, opts, registry);
  mountDeploymentRoutes(router, registry, defaults, opts.pinnedInvocations);
  mountServiceRoutes(router, registry, defaults, opts.ingressEndpoint);
  mountUnsupportedRoutes(router);
}

/** `/health`, `/version`, `/openapi`. */
function mountServerRoutes(router: AdminRouter, opts: SchemaRouteOptions, registry: SchemaRegistry): void {
  router.get('/health', () => ({ status: 200 }));
  router.get('/version', () => {
    const info: Record<string, unknown> = {
      version: opts.version ?? '0.1.0',
      min_admin_api_version: MIN_ADMIN_API_VERSION,
      max_admin_api_version: MAX_ADMIN_API_VERSION,
    };
    if (opts.ingressEndpoint !== undefined) info.ingress_endpoint = opts.ingressEndpoint;
    // As restate-server 1.7 reports whether it negotiates service protocol v7.
    info.features = { protocol_v7: registry.maxProtocolVersion >= 7 };
    return { status: 200, json: info };
  });
  router.get('/openapi', () => ({ status: 200, json: ADMIN_OPENAPI }));
}

/** `/deployments`: register, list, describe, remove. */
function mountDeploymentRoutes(
  router: AdminRouter,
  registry: SchemaRegistry,
  defaults: ServiceDefaults,
  pinnedInvocations: SchemaRouteOptions['pinnedInvocations'],
): void {
  router.post('/deployments', async (req) => {
    const input = parseRegisterRequest(await req.json());
    const result = await registry.register(input);
    return {
      status: result.created ? 201 : 200,
      headers: { location: `deployments/${result.deployment.id}` },
      json: renderRegisterResponse(result.deployment, result.services, defaults),
    };
  });
  router.get('/deployments', () => ({
    status: 200,
    json: { deployments: registry.deployments().map(renderDeployment) },
  }));
  router.get('/deployments/:deployment', (req) => {
    const id = req.params.deployment;
    checkDeploymentId(id);
    const dep = registry.deployment(id);
    if (dep === undefined) return errorReply(404, `The requested deployment '${id}' does not exist`);
    return { status: 200, json: renderDetailedDeployment(dep, registry.deploymentServices(id) ?? [], defaults) };
  });
  router.patch('/deployments/:deployment', async (req) => {
    const id = req.params.deployment;
    checkDeploymentId(id);
    const result = await registry.updateDeployment(id, parseUpdateRequest(await req.json()));
    if (result === undefined) return errorReply(404, `The requested deployment '${id}' does not exist`);
    return { status: 200, json: renderDetailedDeployment(result.deployment, result.services, defaults) };
  });
  router.delete('/deployments/:deployment', (req) => removeDeployment(req, registry, pinnedInvocations));
}

/**
 * `DELETE /deployments/{id}[?force=true]`: forced removal always; graceful removal only when the server can
 * count pinned invocations (501 otherwise, as Restate), refused (409) while any is pinned.
 */
async function removeDeployment(
  req: AdminRequest,
  registry: SchemaRegistry,
  pinnedInvocations: SchemaRouteOptions['pinnedInvocations'],
): Promise<AdminReply> {
  const id = req.params.deployment;
  checkDeploymentId(id);
  const force = req.query.get('force');
  if (force !== null && force !== 'true' && force !== 'false') {
    return errorReply(400, 'Failed to deserialize query string: force: provided string was not `true` or `false`');
  }
  if (force !== 'true') {
    if (!pinnedInvocations)
      return errorReply(
        501,
        'Graceful deployment deletion is not supported yet; use force=true (this can break in-flight invocations)',
      );
    if (registry.deployment(id) === undefined)
      return errorReply(404, `The requested deployment '${id}' does not exist`);
    const pinned = await pinnedInvocations(id);
    if (pinned > 0)
      return errorReply(
        409,
        `deployment '${id}' still has ${pinned} unfinished invocation(s) pinned to it; wait for them to finish, or remove it with force=true (those invocations then cannot go on, and retry until killed)`,
      );
  }
  const removed = await registry.removeDeployment(id);
  if (!removed) return errorReply(404, `not found in the schema registry: deployment with id '${id}'`);
  return { status: 202 };
}

function serviceNotFound(name: string): AdminReply {
  return errorReply(404, `The requested service '${name}' does not exist`);
}

/** `/services` and their handlers: list, describe, modify. */
function mountServiceRoutes(
  router: AdminRouter,
  registry: SchemaRegistry,
  defaults: ServiceDefaults,
  ingressEndpoint: string | undefined,
): void {
  router.get('/services', () => ({
    status: 200,
    json: { services: registry.services().map((s) => renderService(s, defaults)) },
  }));
  router.get('/services/:service', (req) => {
    const svc = registry.service(req.params.service);
    if (svc === undefined) return serviceNotFound(req.params.service);
    return { status: 200, json: renderService(svc, defaults) };
  });
  router.patch('/services/:service', async (req) => {
    const changes = parseModifyServiceRequest(await req.json());
    const svc = await registry.modifyService(req.params.service, changes);
    if (svc === undefined) return serviceNotFound(req.params.service);
    return { status: 200, json: renderService(svc, defaults) };
  });
  router.get('/services/:service/openapi', (req) => {
    const svc = registry.service(req.params.service);
    if (svc === undefined) return serviceNotFound(req.params.service);
    return { status: 200, json: serviceOpenApi(svc, ingressEndpoint) };
  });
  router.get('/services/:service/handlers', (req) => {
    const svc = registry.service(req.params.service);
    if (svc === undefined) return serviceNotFound(req.params.service);
    return { status: 200, json: { handlers: svc.handlers.map((h) => renderHandler(h, svc)) } };
  });
  router.get('/services/:service/handlers/:handler', (req) => {
    const { service, handler } = req.params;
    const svc = registry.service(service);
    if (svc === undefined) return serviceNotFound(service);
    const h = svc.handlers.find((x) => x.name === handler);
    if (h === undefined) {
      return errorReply(404, `The requested handler '${handler}' on service '${service}' does not exist`);
    }
    return { status: 200, json: renderHandler(h, svc) };
  });
}

/** Strips an admin API version prefix (`/v2/services` → `/services`). */
function stripVersionPrefix(path: string): string {
  const m = /^\/v(\d+)(\/.*)$/.exec(path);
  if (m === null) return path;
  const v = Number(m[1]);
  return v >= MIN_ADMIN_API_VERSION && v <= MAX_ADMIN_API_VERSION ? m[2] : path;
}

function send(res: AnyResponse, reply: AdminReply): void {
  if (responseClosed(res)) return;
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  let payload: string | Uint8Array | undefined;
  if (reply.json !== undefined) {
    payload = JSON.stringify(reply.json);
    headers['content-type'] = 'application/json';
  } else if (reply.text !== undefined) {
    payload = reply.text;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (reply.body !== undefined) {
    payload = reply.body;
    headers['content-type'] ??= 'application/octet-stream';
  }
  headers['content-length'] = String(payload === undefined ? 0 : Buffer.byteLength(payload));
  // The two compat responses have the same writeHead/end; their union's overloads do not type-check.
  (res as ServerResponse).writeHead(reply.status, headers);
  (res as ServerResponse).end(payload);
}

/** What the request handling of one admin server shares. */
interface Admin {
  router: AdminRouter;
  limit: number;
  cors: CorsPolicy;
  onError: (err: unknown) => void;
  uiDir?: string;
  auth: Authenticator | undefined;
}

/** Sets the CORS headers of the policy; true when the request was a preflight, answered here. */
function answerCors(admin: Admin, method: string, req: AnyRequest, res: AnyResponse): boolean {
  const requestMethod = req.headers['access-control-request-method'];
  const preflight = method === 'OPTIONS' && typeof requestMethod === 'string';
  const corsReply = corsHeaders(admin.cors, {
    origin: req.headers.origin,
    requestMethod: preflight ? requestMethod : undefined,
    requestHeaders: req.headers['access-control-request-headers'],
  });
  for (const [name, value] of Object.entries(corsReply)) res.setHeader(name, value);
  if (!preflight || admin.cors.kind === 'none') return false;
  send(res, { status: 204 });
  return true;
}

function tooLarge(admin: Admin, req: AnyRequest, res: AnyResponse): void {
  // HTTP/1.1: the unread body makes the connection unusable. h2 forbids the header: the stream alone ends.
  if (req.httpVersionMajor < 2) res.setHeader('connection', 'close');
  send(res, errorReply(413, `request body larger than the limit of ${admin.limit} bytes`));
}

/** The request as handlers see it: `target` (method, path, params, query) plus headers and a body read once. */
function adminRequest(
  admin: Admin,
  req: AnyRequest,
  target: Pick<AdminRequest, 'method' | 'path' | 'params' | 'query'>,
): AdminRequest {
  let bodyPromise: Promise<Buffer> | undefined;
  const body = () => {
    bodyPromise ??= readBody(req, admin.limit);
    return bodyPromise;
  };
  const json = async () => {
    if (!isJsonContentType(req.headers['content-type'])) {
      throw new SchemaError(415, 'Expected request with `Content-Type: application/json`');
    }
    const buf = await body();
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (err) {
      throw new SchemaError(400, `Failed to parse the request body as JSON: ${(err as Error).message}`);
    }
  };
  return { ...target, headers: req.headers, raw: req, body, json };
}

/**
 * Whether the request's token grants `required`; when not, it is answered 401/403 here, before its body is read
 * or its handler runs.
 */
function admitted(admin: Admin, req: AnyRequest, res: AnyResponse, required: RouteScope | 'any'): boolean {
  if (admin.auth === undefined) return true;
  const decision = admin.auth.authorize(req.headers.authorization, required);
  if (decision.ok) return true;
  send(res, { ...errorReply(decision.status, decision.message), headers: decision.headers });
  return false;
}

/** The scope a request needs, as `handle` decides it (for the `Expect: 100-continue` check). */
function requiredScope(admin: Admin, req: AnyRequest): RouteScope | 'any' {
  const method = (req.method ?? 'GET').toUpperCase();
  let path: string;
  try {
    path = stripVersionPrefix(new URL(req.url ?? '/', 'http://admin').pathname);
  } catch {
    return 'any';
  }
  return admin.router.match(method, path).kind === 'found' ? adminRouteScope(method, path) : 'any';
}

async function handle(admin: Admin, req: AnyRequest, res: AnyResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  if (answerCors(admin, method, req, res)) return;
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://admin');
  } catch {
    send(res, errorReply(400, 'bad request target'));
    return;
  }
  if (admin.uiDir !== undefined && isUiPath(url.pathname)) {
    await serveUi(admin.uiDir, method, url.pathname, res);
    return;
  }
  const path = stripVersionPrefix(url.pathname);
  const match = admin.router.match(method, path);
  // Unknown paths and methods need a valid token too: the API's shape is not shown to anonymous callers.
  if (!admitted(admin, req, res, match.kind === 'found' ? adminRouteScope(method, path) : 'any')) return;
  if (match.kind === 'not-found') {
    send(res, errorReply(404, `no such path: ${url.pathname}`));
    return;
  }
  if (match.kind === 'method-not-allowed') {
    send(res, { ...errorReply(405, `method ${method} not allowed`), headers: { allow: match.allow.join(',') } });
    return;
  }
  try {
    send(
      res,
      await match.handler(adminRequest(admin, req, { method, path, params: match.params, query: url.searchParams })),
    );
  } catch (err) {
    if (err instanceof BodyTooLargeError) tooLarge(admin, req, res);
    else if (err instanceof SchemaError) send(res, errorReply(err.status, err.message, err.restateCode));
    else {
      if (!clientGone(req)) admin.onError(err);
      send(res, errorReply(500, `internal error: ${(err as Error)?.message ?? String(err)}`));
    }
  }
}

/** The request handler of the listener: a failure the handler did not answer is reported and gets a 500. */
function requestHandler(admin: Admin): (req: AnyRequest, res: AnyResponse) => void {
  return (req, res) => {
    handle(admin, req, res).catch((err) => {
      admin.onError(err);
      try {
        send(res, errorReply(500, 'internal error'));
      } catch {
        res.destroy();
      }
    });
  };
}

/**
 * `Expect: 100-continue` (HTTP/1.1, and h2 where the client sends the header too): 401/403 or 413 are answered
 * before the client sends the body; otherwise the client is told to go on and the request is handled.
 */
function continueHandler(
  admin: Admin,
  onRequest: (req: AnyRequest, res: AnyResponse) => void,
): (req: AnyRequest, res: AnyResponse) => void {
  return (req, res) => {
    if (!admitted(admin, req, res, requiredScope(admin, req))) return;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > admin.limit) {
      tooLarge(admin, req, res);
      return;
    }
    (res as ServerResponse).writeContinue();
    onRequest(req, res);
  };
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const router = new AdminRouter();
  mountSchemaRoutes(router, opts.registry, {
    defaults: opts.serviceDefaults,
    ingressEndpoint: opts.ingressEndpoint,
    version: opts.version,
    pinnedInvocations: opts.pinnedInvocations,
  });
  opts.extend?.(router);
  const admin: Admin = {
    router,
    limit: opts.maxBodyBytes ?? DEFAULT_MAX_BODY,
    cors: opts.cors ?? CORS_NONE,
    onError: opts.onError ?? ((err: unknown) => createLogger('admin')('error', 'unexpected error', { error: err })),
    uiDir: opts.uiDir,
    auth: opts.auth,
  };
  const onRequest = requestHandler(admin);
  // The ingress's listener: HTTP/1.1 and h2 on one port, plaintext (h2c) or TLS (ALPN).
  const listener = await listenDual(opts.port ?? 9070, opts.host, onRequest, continueHandler(admin, onRequest), {
    idleTimeoutMs: opts.idleTimeoutMs,
    maxConnections: opts.maxConnections,
    tls: opts.tls,
    onTlsReload: opts.tls && (opts.onTlsReload ?? logTlsReload(createLogger('admin'), opts.tls)),
  });
  return { port: listener.port, router, close: () => listener.close() };
}
