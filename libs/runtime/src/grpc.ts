import * as grpc from '@grpc/grpc-js';

/** A generated client's unary method: `client.get(req, metadata, options, callback)`. */
export type UnaryMethod<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (e: grpc.ServiceError | null, r: Res) => void,
) => unknown;

/**
 * One unary call: `method` runs with `this` = `opts.client` (for an unbound generated method), with the
 * deadline given (none when undefined), cancelled when `signal` aborts; a failure is turned into the caller's
 * error type by `mapError` (the one place a client maps gRPC statuses).
 */
export function unaryCall<Req, Res>(
  method: UnaryMethod<Req, Res>,
  req: Req,
  opts: {
    client?: unknown;
    deadline?: grpc.Deadline;
    signal?: AbortSignal;
    mapError: (e: grpc.ServiceError) => Error;
  },
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const callOpts = opts.deadline === undefined ? {} : { deadline: opts.deadline };
    const call = method.call(opts.client, req, new grpc.Metadata(), callOpts, (e, r) =>
      e ? reject(opts.mapError(e)) : resolve(r),
    ) as grpc.ClientUnaryCall;
    opts.signal?.addEventListener('abort', () => call.cancel(), { once: true });
  });
}

export interface ServingGrpc {
  port: number;
  close(): Promise<void>;
}

/**
 * Binds a gRPC server (insecure) on `host:port` (port 0 picks one). `close` lets calls in flight finish for up
 * to `drainMs`, then cuts the rest.
 */
export async function listenGrpc(
  server: grpc.Server,
  host: string,
  port: number,
  drainMs = 2_000,
): Promise<ServingGrpc> {
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, drainMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}

/** Largest gRPC message a node sends or accepts. */
export const GRPC_MAX_MESSAGE_BYTES = 64 << 20;

/** Server and client channel options: large messages. */
export const GRPC_CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': GRPC_MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': GRPC_MAX_MESSAGE_BYTES,
};

/** Client channel options: large messages, quick reconnects after a peer restarts. */
export const GRPC_CLIENT_OPTIONS = {
  ...GRPC_CHANNEL_OPTIONS,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
};
