/**
 * The gRPC ingress (stead.ingress.v1.Ingress, see proto/stead/ingress/v1/ingress.proto) over the same engine
 * backend, schema, tokens and certificate as the HTTP ingress, with the standard health and reflection services.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import {
  type Authenticator,
  type FileWatch,
  formatTimestamp,
  type IngressRequest,
  type InvocationBackend,
  type InvocationOutcome,
  type InvocationQuery,
  isEngineMiss,
  MAX_EXECUTION_TIME_MS,
  type RouteScope,
  readTlsFiles,
  reloadTlsOnChange,
  type SchemaView,
  type TlsFiles,
  type TlsMaterial,
  type TlsReloadReport,
} from '@stead/core';
import { createLogger } from '@stead/observability';
import { health as healthPb, ingress as pb } from '@stead/proto';
import { inputProblem } from './content-type.ts';
import { grpcError, ingressFailure, invocationFailure, type RestateFailure, thrownFailure } from './grpc-errors.ts';
import { watchInvocation } from './grpc-watch.ts';
import { GRPC_INGRESS_METHOD_SCOPES } from './scopes.ts';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_UNJOURNALED_HEADERS, lookupHandler } from './server.ts';

export const DEFAULT_GRPC_INGRESS_PORT = 8090;

export interface GrpcIngressOptions {
  /** Default 8090; 0 picks a free port. */
  port?: number;
  /** Default: all interfaces. */
  host?: string;
  backend: InvocationBackend;
  schema: SchemaView;
  /** Reads the schema again (a cluster's): an unknown service re-reads it once before NOT_FOUND. */
  refreshSchema?: () => Promise<void>;
  /** Largest payload accepted (default 32 MiB, as the HTTP ingress); a larger message is RESOURCE_EXHAUSTED. */
  maxBodyBytes?: number;
  /** Bearer tokens in `authorization` metadata (scopes: GRPC_INGRESS_METHOD_SCOPES); without it all is open. */
  auth?: Authenticator;
  /** TLS with this certificate (reloaded when the files change); default plaintext (h2c). */
  tls?: TlsFiles;
  onTlsReload?: TlsReloadReport;
  /** Request headers (of the `headers` fields) never passed into an invocation; default authorization, cookie. */
  unjournaledHeaders?: readonly string[];
  onError?: (err: unknown) => void;
  now?: () => number;
  /** Watch: the longest pause between two reads of an invocation's status (default 1 s). */
  watchMaxPollMs?: number;
}

export interface GrpcIngress {
  port: number;
  close(): Promise<void>;
}

const INGRESS_SERVICE = 'stead.ingress.v1.Ingress';

/** What the method handlers of one server share. */
interface Ctx {
  o: GrpcIngressOptions;
  limit: number;
  unjournaled: ReadonlySet<string>;
  onError: (err: unknown) => void;
  now: () => number;
  refresh?: () => Promise<void>;
}

/** A failure answered to the caller (an error of the request or of the invocation), thrown inside handlers. */
class Refusal extends Error {
  readonly failure: RestateFailure;
  constructor(failure: RestateFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

function refuse(code: number, message: string): never {
  throw new Refusal(ingressFailure(code, message));
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/** The answer for whatever a handler threw: a Refusal or a backend's status error as is, anything else INTERNAL. */
function failureOf(ctx: Ctx, err: unknown): RestateFailure {
  if (err instanceof Refusal) return err.failure;
  const known = thrownFailure(err);
  if (known !== undefined && known.code !== 500) return known;
  ctx.onError(err);
  return ingressFailure(500, err instanceof Error ? err.message : String(err));
}

/** Checks the call's token against the method's scope (refused with UNAUTHENTICATED / PERMISSION_DENIED). */
function authorize(ctx: Ctx, call: AnyCall, method: keyof typeof GRPC_INGRESS_METHOD_SCOPES): void {
  if (ctx.o.auth === undefined) return;
  const header = call.metadata.get('authorization')[0];
  const scope: RouteScope = GRPC_INGRESS_METHOD_SCOPES[method];
  const decision = ctx.o.auth.authorize(typeof header === 'string' ? header : undefined, scope);
  if (!decision.ok) refuse(decision.status, decision.message);
}

/** An AbortSignal that fires when the call is cancelled or its deadline passes (the invocation goes on). */
function callSignal(call: AnyCall): AbortSignal {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort(new Error('the client cancelled the call or its deadline passed')));
  return ac.signal;
}

/**
 * A request whose bytes do not decode: grpc-js would answer INTERNAL for a deserializer that throws, so the
 * service's deserializers return this instead, and the method answers INVALID_ARGUMENT naming the problem.
 */
interface Undecodable {
  undecodable: string;
}

/** The service definition with deserializers that do not throw (see Undecodable). */
function lenientService<S extends grpc.ServiceDefinition>(service: S): S {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          return { undecodable: `${method.path}: ${err instanceof Error ? err.message : String(err)}` };
        }
      },
    };
  }
  return out as unknown as S;
}

function checkDecoded(request: unknown): void {
  const u = request as Partial<Undecodable> | null;
  if (typeof u?.undecodable === 'string') refuse(400, `the request message does not decode (${u.undecodable})`);
}

/** A unary method: authorize, run, answer (errors mapped once, here). */
function unary<Req, Res>(
  ctx: Ctx,
  method: keyof typeof GRPC_INGRESS_METHOD_SCOPES,
  run: (req: Req, signal: AbortSignal) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const signal = callSignal(call as AnyCall);
    (async () => {
      authorize(ctx, call as AnyCall, method);
      checkDecoded(call.request);
      return run(call.request, signal);
    })().then(
      (res) => callback(null, res),
      (err) => {
        if (signal.aborted) return; // the client is gone: nobody to answer
        callback(grpcError(failureOf(ctx, err)));
      },
    );
  };
}

function required(value: string | undefined, field: string): string {
  if (value === undefined || value === '') refuse(400, `missing field '${field}'`);
  return value;
}

/** The engine's query for an InvocationRef (INVALID_ARGUMENT when it names nothing). */
export function queryOf(ref: pb.InvocationRef | undefined): InvocationQuery {
  const r = ref?.ref;
  if (r === undefined)
    refuse(400, "missing field 'invocation': set one of invocation_id, workflow (name, key) or idempotent");
  switch (r.$case) {
    case 'invocationId':
      return { invocationId: required(r.value, 'invocation.invocation_id') };
    case 'workflow':
      return {
        workflow: { name: required(r.value.name, 'workflow.name'), key: required(r.value.key, 'workflow.key') },
      };
    case 'idempotent': {
      const i = r.value;
      return {
        idempotent: {
          service: required(i.service, 'idempotent.service'),
          handler: required(i.handler, 'idempotent.handler'),
          idempotencyKey: required(i.idempotencyKey, 'idempotent.idempotency_key'),
          ...(i.key === undefined ? {} : { key: i.key }),
        },
      };
    }
  }
}

/** The handler a target names, re-reading a cluster's schema once for an unknown service. */
async function resolveHandler(ctx: Ctx, service: string, handler: string) {
  required(service, 'target.service');
  required(handler, 'target.handler');
  let found = lookupHandler(ctx.o.schema, service, handler);
  if ('problem' in found && found.status === 404 && ctx.refresh) {
    await ctx.refresh().catch(() => {});
    found = lookupHandler(ctx.o.schema, service, handler);
  }
  if ('problem' in found) refuse(found.status, found.problem);
  return found;
}

/** Checks a payload against the handler's declared input and the size limit. */
function checkPayload(ctx: Ctx, handler: Parameters<typeof inputProblem>[0], payload: Uint8Array, ct: string): void {
  if (payload.length > ctx.limit) refuse(413, `payload of ${payload.length} bytes exceeds the limit of ${ctx.limit}`);
  const problem = inputProblem(handler, ct === '' ? undefined : ct, payload.length);
  if (problem !== undefined) refuse(400, `input validation error: ${problem}`);
}

function headersOf(ctx: Ctx, given: Record<string, string>, ct: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(given)) {
    const n = name.toLowerCase();
    if (!ctx.unjournaled.has(n) && n !== 'idempotency-key') out.push([n, value]);
  }
  if (ct !== '') out.push(['content-type', ct]);
  return out;
}

function delayOf(ctx: Ctx, delayMs: bigint | undefined): number | undefined {
  if (delayMs === undefined) return undefined;
  const latest = MAX_EXECUTION_TIME_MS - ctx.now();
  if (delayMs > BigInt(latest))
    refuse(
      400,
      `bad delay_ms ${delayMs}: it puts the execution time past ${new Date(MAX_EXECUTION_TIME_MS).toISOString()}, the latest supported`,
    );
  return Number(delayMs);
}

/** A keyed handler needs a key, a plain service's refuses one. */
function keyOf(serviceTy: string, key: string | undefined, service: string): string | undefined {
  if (serviceTy === 'SERVICE') {
    if (key !== undefined) refuse(400, `'${service}' is a service: it takes no key (target.key must be unset)`);
    return undefined;
  }
  if (key === undefined) refuse(400, `'${service}' is a virtual object or workflow: target.key is required`);
  return key;
}

interface Invocation {
  target?: pb.Target;
  payload: Uint8Array;
  contentType: string;
  headers: Record<string, string>;
  idempotencyKey?: string;
}

async function ingressRequest(ctx: Ctx, inv: Invocation) {
  const t = inv.target;
  if (t === undefined) refuse(400, "missing field 'target' (service, handler and, for objects and workflows, key)");
  const { service, handler } = await resolveHandler(ctx, t.service, t.handler);
  const key = keyOf(service.ty, t.key, service.name);
  checkPayload(ctx, handler, inv.payload, inv.contentType);
  const request: IngressRequest = {
    target: { service: service.name, handler: handler.name, key },
    body: inv.payload,
    headers: headersOf(ctx, inv.headers, inv.contentType),
  };
  if (inv.idempotencyKey !== undefined && inv.idempotencyKey !== '') request.idempotencyKey = inv.idempotencyKey;
  return { request, handler };
}

/** The Output of a finished invocation, or the failure it ended with (thrown). */
function outputOf(res: { invocationId: string; outcome: InvocationOutcome }, declared: string | undefined): pb.Output {
  const o = res.outcome;
  if (!o.ok) {
    // A missing or unfinished invocation is the ingress's answer (NOT_FOUND, FAILED_PRECONDITION), not the
    // invocation's failure.
    if (isEngineMiss(o)) throw new Refusal(ingressFailure(o.code, o.message, res.invocationId));
    throw new Refusal(invocationFailure(o, res.invocationId));
  }
  const contentType = o.contentType ?? (o.value.length > 0 ? (declared ?? 'application/json') : '');
  return { invocationId: res.invocationId, payload: asBuffer(o.value), contentType };
}

/** The bytes as a Buffer, without a copy. */
function asBuffer(v: Uint8Array): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function sendResponse(
  receipt: { invocationId: string; status: string; executionTime?: string },
  sentAtMs: number,
  delayMs?: number,
): pb.SendResponse {
  const executionTime =
    receipt.executionTime ?? (delayMs === undefined ? undefined : formatTimestamp(sentAtMs + delayMs));
  return {
    invocationId: receipt.invocationId,
    status:
      receipt.status === 'PreviouslyAccepted'
        ? pb.SendStatus.SEND_STATUS_PREVIOUSLY_ACCEPTED
        : pb.SendStatus.SEND_STATUS_ACCEPTED,
    ...(executionTime === undefined ? {} : { executionTime }),
  };
}

/** The declared output content type of the handler a query names (unknown for a bare id). */
function declaredOutput(ctx: Ctx, q: InvocationQuery): string | undefined {
  if ('invocationId' in q) return undefined;
  const [service, handler] =
    'workflow' in q
      ? [q.workflow.name, ctx.o.schema.service(q.workflow.name)?.handlers.find((h) => h.ty === 'WORKFLOW')?.name]
      : [q.idempotent.service, q.idempotent.handler];
  return ctx.o.schema.service(service)?.handlers.find((h) => h.name === handler)?.output?.contentType;
}

async function attach(ctx: Ctx, q: InvocationQuery, mode: 'attach' | 'output', signal: AbortSignal) {
  const res = await ctx.o.backend.attach(q, mode, signal);
  return outputOf(res, declaredOutput(ctx, q));
}

/** The workflow's run handler (the one of type WORKFLOW). */
async function workflowRun(ctx: Ctx, name: string) {
  required(name, 'name');
  let service = ctx.o.schema.service(name);
  if (service === undefined && ctx.refresh) {
    await ctx.refresh().catch(() => {});
    service = ctx.o.schema.service(name);
  }
  if (service === undefined) return resolveHandler(ctx, name, 'run'); // answers the usual 404
  if (service.ty !== 'WORKFLOW') refuse(400, `'${name}' is not a workflow`);
  const run = service.handlers.find((h) => h.ty === 'WORKFLOW');
  if (run === undefined) refuse(400, `the workflow '${name}' has no handler of type WORKFLOW`);
  return resolveHandler(ctx, name, run.name);
}

/** Sends `request`, started `delayMs` from now when given (checked against the latest supported time). */
async function sendDelayed(
  ctx: Ctx,
  request: IngressRequest,
  delayField: bigint | undefined,
): Promise<pb.SendResponse> {
  const delayMs = delayOf(ctx, delayField);
  if (delayMs !== undefined) request.delayMs = delayMs;
  const sentAt = ctx.now();
  return sendResponse(await ctx.o.backend.send(request), sentAt, delayMs);
}

/** The query of a workflow request: the run of workflow `name` for `key`. */
function workflowQuery(req: pb.WorkflowRequest): InvocationQuery {
  return { workflow: { name: required(req.name, 'name'), key: required(req.key, 'key') } };
}

function ingressImpl(ctx: Ctx): pb.IngressServer {
  const b = ctx.o.backend;
  return {
    call: unary(ctx, 'Call', async (req: pb.CallRequest, signal) => {
      const { request, handler } = await ingressRequest(ctx, req);
      const res = await b.call(request, signal);
      return outputOf(res, handler.output?.contentType);
    }),
    send: unary(ctx, 'Send', async (req: pb.SendRequest) => {
      const { request } = await ingressRequest(ctx, req);
      return sendDelayed(ctx, request, req.delayMs);
    }),
    attach: unary(ctx, 'Attach', (req: pb.AttachRequest, signal) =>
      attach(ctx, queryOf(req.invocation), 'attach', signal),
    ),
    getOutput: unary(ctx, 'GetOutput', (req: pb.GetOutputRequest, signal) =>
      attach(ctx, queryOf(req.invocation), 'output', signal),
    ),
    submitWorkflow: unary(ctx, 'SubmitWorkflow', async (req: pb.SubmitWorkflowRequest) => {
      const { service, handler } = await workflowRun(ctx, req.name);
      const { request } = await ingressRequest(ctx, {
        target: { service: service.name, handler: handler.name, key: required(req.key, 'key') },
        payload: req.payload,
        contentType: req.contentType,
        headers: req.headers,
      });
      return sendDelayed(ctx, request, req.delayMs);
    }),
    attachWorkflow: unary(ctx, 'AttachWorkflow', (req: pb.WorkflowRequest, signal) =>
      attach(ctx, workflowQuery(req), 'attach', signal),
    ),
    getWorkflowOutput: unary(ctx, 'GetWorkflowOutput', (req: pb.WorkflowRequest, signal) =>
      attach(ctx, workflowQuery(req), 'output', signal),
    ),
    resolveAwakeable: unary(ctx, 'ResolveAwakeable', async (req: pb.ResolveAwakeableRequest) => {
      await b.completeAwakeable(required(req.awakeableId, 'awakeable_id'), { value: req.payload });
      return {};
    }),
    rejectAwakeable: unary(ctx, 'RejectAwakeable', async (req: pb.RejectAwakeableRequest) => {
      await b.completeAwakeable(required(req.awakeableId, 'awakeable_id'), {
        failure: { code: 500, message: req.reason || 'rejected' },
      });
      return {};
    }),
    watch: (call) => {
      const signal = callSignal(call as AnyCall);
      (async () => {
        authorize(ctx, call as AnyCall, 'Watch');
        checkDecoded(call.request);
        const query = queryOf(call.request.invocation);
        await watchInvocation({
          backend: b,
          query,
          signal,
          maxPollMs: ctx.o.watchMaxPollMs,
          emit: (e) => call.write(e),
          toOutput: (res) => outputOf(res, declaredOutput(ctx, query)),
        });
        call.end();
      })().catch((err) => {
        if (signal.aborted) return;
        // grpc-js ends a server stream with the status of an 'error' event (destroy would skip the status).
        call.emit('error', grpcError(failureOf(ctx, err)));
      });
    },
  };
}

/** grpc.health.v1: SERVING for "" and the ingress service while the server runs, SERVICE_UNKNOWN otherwise. */
function healthImpl(serving: () => boolean): healthPb.HealthServer {
  const statusOf = (service: string) => {
    const S = healthPb.HealthCheckResponse_ServingStatus;
    if (service !== '' && service !== INGRESS_SERVICE) return S.SERVICE_UNKNOWN;
    return serving() ? S.SERVING : S.NOT_SERVING;
  };
  return {
    check: (call, cb) => {
      const status = statusOf(call.request.service);
      if (status === healthPb.HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN)
        return cb({ code: grpc.status.NOT_FOUND, details: `unknown service '${call.request.service}'` });
      cb(null, { status });
    },
    // The status never changes while the server runs: the current one, then the stream stays open until the
    // client leaves or the server stops (which ends it).
    watch: (call) => {
      call.write({ status: statusOf(call.request.service) });
    },
  };
}

const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url));

/** The descriptors served by reflection: the ingress and health services, from proto/ (shipped in the image). */
function reflectionService(): ReflectionService {
  const def = protoLoader.loadSync(['stead/ingress/v1/ingress.proto', 'grpc/health/v1/health.proto'], {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
  });
  return new ReflectionService(def as ConstructorParameters<typeof ReflectionService>[0]);
}

/** Server TLS credentials (no client certificate) whose certificate follows the files. */
class ReloadingTls extends grpc.ServerCredentials {
  constructor(m: TlsMaterial) {
    super({}, { cert: m.cert, key: m.key });
  }
  setSecureContext(m: TlsMaterial): void {
    this.updateSecureContextOptions({ cert: m.cert, key: m.key });
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** Starts the gRPC ingress; resolves once it listens. */
export async function startGrpcIngress(opts: GrpcIngressOptions): Promise<GrpcIngress> {
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const ctx: Ctx = {
    o: opts,
    limit,
    unjournaled: new Set((opts.unjournaledHeaders ?? DEFAULT_UNJOURNALED_HEADERS).map((h) => h.toLowerCase())),
    onError:
      opts.onError ?? ((err) => createLogger('ingress')('error', 'unexpected gRPC ingress error', { error: err })),
    now: opts.now ?? Date.now,
    refresh: opts.refreshSchema,
  };
  // Room for the rest of the message around the largest payload; a larger message is RESOURCE_EXHAUSTED.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': limit + 64 * 1024 });
  server.addService(lenientService(pb.IngressService), ingressImpl(ctx));
  let serving = true;
  server.addService(
    healthPb.HealthService,
    healthImpl(() => serving),
  );
  reflectionService().addToServer(server);

  let credentials = grpc.ServerCredentials.createInsecure();
  let watch: FileWatch | undefined;
  if (opts.tls !== undefined) {
    const tls = new ReloadingTls(readTlsFiles(opts.tls));
    watch = reloadTlsOnChange(tls, opts.tls, opts.onTlsReload ?? (() => {}));
    credentials = tls;
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host ?? '0.0.0.0'}:${opts.port ?? DEFAULT_GRPC_INGRESS_PORT}`, credentials, (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    close: async () => {
      serving = false;
      watch?.close();
      await new Promise<void>((resolve) => {
        // Calls in flight (attach, watch) may wait for long: cut them after a short drain.
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1_000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
}
