/**
 * A thin convenience wrapper over the generated gRPC ingress client: connect with an address, TLS and a bearer
 * token; call handlers with JSON (or raw bytes); attach, read outputs, run workflows, complete awakeables and
 * watch an invocation as an async iterator. Failures are SteadClientError (gRPC status + Restate's error).
 */
import * as grpc from '@grpc/grpc-js';
import { ingress as pb } from '@stead/proto';
import { SteadClientError } from './errors.ts';

export interface ConnectOptions {
  /** host:port of the gRPC ingress (default port 8090). */
  address: string;
  /**
   * TLS: true (the system's CAs), or the PEM CA certificate(s) to trust; absent: plaintext (h2c).
   */
  tls?: boolean | { ca: string | Buffer };
  /** Bearer token, sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** Default deadline of unary calls in ms (none by default: a call waits as long as its invocation runs). */
  timeoutMs?: number;
}

/** Which invocation: its id, a workflow run, or an idempotent request. */
export type InvocationRef =
  | { invocationId: string }
  | { workflow: { name: string; key: string } }
  | { idempotent: { service: string; key?: string; handler: string; idempotencyKey: string } };

export interface Target {
  service: string;
  handler: string;
  key?: string;
}

export interface CallOptions {
  idempotencyKey?: string;
  headers?: Record<string, string>;
  /** This call's deadline in ms (the invocation goes on after it). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface SendOptions extends Omit<CallOptions, 'signal'> {
  delayMs?: number;
}

/** An invocation's result in bytes. */
export interface RawOutput {
  invocationId: string;
  payload: Buffer;
  contentType: string;
}

export function refOf(r: InvocationRef): pb.InvocationRef {
  if ('invocationId' in r) return { ref: { $case: 'invocationId', value: r.invocationId } };
  if ('workflow' in r) return { ref: { $case: 'workflow', value: r.workflow } };
  return { ref: { $case: 'idempotent', value: r.idempotent } };
}

function credentialsOf(tls: ConnectOptions['tls']): grpc.ChannelCredentials {
  if (tls === undefined || tls === false) return grpc.credentials.createInsecure();
  if (tls === true) return grpc.credentials.createSsl();
  return grpc.credentials.createSsl(Buffer.from(tls.ca));
}

/** Adds the bearer token to every call (call credentials need TLS; a token on h2c is the caller's choice). */
function tokenInterceptor(token: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/** The generated client (every method typed as in ingress.proto), connected as `opts` says. */
export function connectRaw(opts: ConnectOptions): pb.IngressClient {
  return new pb.IngressClient(opts.address, credentialsOf(opts.tls), {
    interceptors: opts.token === undefined ? [] : [tokenInterceptor(opts.token)],
  });
}

const JSON_TYPE = 'application/json';

function json(value: unknown): Buffer {
  return value === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(value));
}

function parse<T>(o: RawOutput): T {
  return (o.payload.length === 0 ? undefined : JSON.parse(o.payload.toString('utf8'))) as T;
}

export class SteadClient {
  /** The generated client, for what the helpers do not cover. */
  readonly raw: pb.IngressClient;
  private readonly timeoutMs: number | undefined;

  constructor(opts: ConnectOptions) {
    this.raw = connectRaw(opts);
    this.timeoutMs = opts.timeoutMs;
  }

  private unary<Req, Res>(
    method: (
      req: Req,
      md: grpc.Metadata,
      opts: Partial<grpc.CallOptions>,
      cb: (e: grpc.ServiceError | null, r: Res) => void,
    ) => grpc.ClientUnaryCall,
    req: Req,
    o: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<Res> {
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const callOpts = timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs };
    return new Promise((resolve, reject) => {
      const call = method.call(this.raw, req, new grpc.Metadata(), callOpts, (e, r) =>
        e ? reject(new SteadClientError(e)) : resolve(r),
      );
      o.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  /** Calls a handler with bytes; resolves with its result. */
  callRaw(target: Target, payload: Uint8Array, contentType: string, o: CallOptions = {}): Promise<RawOutput> {
    const req: pb.CallRequest = {
      target,
      payload: Buffer.from(payload),
      contentType,
      headers: o.headers ?? {},
      ...(o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey }),
    };
    return this.unary(this.raw.call, req, o);
  }

  /** Calls a handler with a JSON input; resolves with its JSON result. */
  async call<T = unknown>(target: Target, input?: unknown, o: CallOptions = {}): Promise<T> {
    return parse<T>(await this.callRaw(target, json(input), input === undefined ? '' : JSON_TYPE, o));
  }

  /** Starts a handler (optionally delayed) without waiting for it. */
  send(target: Target, input?: unknown, o: SendOptions = {}): Promise<pb.SendResponse> {
    const req: pb.SendRequest = {
      target,
      payload: json(input),
      contentType: input === undefined ? '' : JSON_TYPE,
      headers: o.headers ?? {},
      ...(o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey }),
      ...(o.delayMs === undefined ? {} : { delayMs: BigInt(o.delayMs) }),
    };
    return this.unary(this.raw.send, req, o);
  }

  /** Waits for an invocation's result (JSON). */
  async attach<T = unknown>(ref: InvocationRef, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    return parse<T>(await this.unary(this.raw.attach, { invocation: refOf(ref) }, o));
  }

  /** An invocation's result now (JSON); a SteadClientError with restate.code 470 while it runs. */
  async output<T = unknown>(ref: InvocationRef): Promise<T> {
    return parse<T>(await this.unary(this.raw.getOutput, { invocation: refOf(ref) }));
  }

  /** Starts the run of workflow `name` for `key`. */
  submitWorkflow(name: string, key: string, input?: unknown, o: { delayMs?: number } = {}): Promise<pb.SendResponse> {
    const req: pb.SubmitWorkflowRequest = {
      name,
      key,
      payload: json(input),
      contentType: input === undefined ? '' : JSON_TYPE,
      headers: {},
      ...(o.delayMs === undefined ? {} : { delayMs: BigInt(o.delayMs) }),
    };
    return this.unary(this.raw.submitWorkflow, req);
  }

  async attachWorkflow<T = unknown>(name: string, key: string, o: { timeoutMs?: number } = {}): Promise<T> {
    return parse<T>(await this.unary(this.raw.attachWorkflow, { name, key }, o));
  }

  async workflowOutput<T = unknown>(name: string, key: string): Promise<T> {
    return parse<T>(await this.unary(this.raw.getWorkflowOutput, { name, key }));
  }

  async resolveAwakeable(awakeableId: string, value: unknown): Promise<void> {
    await this.unary(this.raw.resolveAwakeable, { awakeableId, payload: json(value) });
  }

  async rejectAwakeable(awakeableId: string, reason: string): Promise<void> {
    await this.unary(this.raw.rejectAwakeable, { awakeableId, reason });
  }

  /** The invocation's states as they change, ending with COMPLETED (with its result). */
  async *watch(ref: InvocationRef, o: { signal?: AbortSignal } = {}): AsyncGenerator<pb.WatchEvent> {
    const stream = this.raw.watch({ invocation: refOf(ref) });
    o.signal?.addEventListener('abort', () => stream.cancel(), { once: true });
    try {
      for await (const e of stream) yield e as pb.WatchEvent;
    } catch (err) {
      if ((err as grpc.ServiceError).code !== undefined) throw new SteadClientError(err as grpc.ServiceError);
      throw err;
    } finally {
      stream.cancel();
    }
  }

  close(): void {
    this.raw.close();
  }
}

/** Connects to a gRPC ingress (the channel connects lazily, at the first call). */
export function connect(opts: ConnectOptions): SteadClient {
  return new SteadClient(opts);
}
