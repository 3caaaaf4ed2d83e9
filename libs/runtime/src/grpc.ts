import * as net from 'node:net';
import { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import {
  certificateNames,
  type GrpcTls,
  type GrpcTlsMode,
  NODE_URI_PREFIX,
  nodesOfCertificate,
  processGrpcTls,
} from './grpc-tls.ts';

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
 * Binds a gRPC server on `host:port` (port 0 picks one) with the TLS mode of `tls` (the process's by default):
 * plaintext (`off`), plaintext and mTLS on the same port (`allow`), or mTLS only (`require`). `close` lets calls
 * in flight finish for up to `drainMs`, then cuts the rest.
 */
export async function listenGrpc(
  server: grpc.Server,
  host: string,
  port: number,
  drainMs = 2_000,
  tls: GrpcTls = processGrpcTls(),
): Promise<ServingGrpc> {
  const secure = tls.serverCredentials();
  if (tls.mode === 'off' || !secure)
    return bindGrpc(server, host, port, grpc.ServerCredentials.createInsecure(), drainMs);
  if (tls.mode === 'require') return bindGrpc(server, host, port, secure, drainMs);
  return listenSniffing(server, host, port, secure, drainMs);
}

async function bindGrpc(
  server: grpc.Server,
  host: string,
  port: number,
  credentials: grpc.ServerCredentials,
  drainMs: number,
): Promise<ServingGrpc> {
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port: bound, close: () => shutdownGrpc(server, drainMs) };
}

function shutdownGrpc(server: grpc.Server, drainMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, drainMs);
    server.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** The first byte of a TLS connection: a handshake record. */
const TLS_HANDSHAKE = 0x16;
/** A connection that sends nothing for this long is closed before either side sees it. */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

/**
 * `allow`: one TCP listener whose connections go to the mTLS or the plaintext side of `server` by their first
 * byte. The byte read is put back in front of the socket through a stream wrapper, as both HTTP/2 and TLS read
 * the socket's handle directly and would not see a byte unshifted into the socket.
 */
async function listenSniffing(
  server: grpc.Server,
  host: string,
  port: number,
  secure: grpc.ServerCredentials,
  drainMs: number,
): Promise<ServingGrpc> {
  const tlsSide = server.createConnectionInjector(secure);
  const plainSide = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      const side = first[0] === TLS_HANDSHAKE ? tlsSide : plainSide;
      side.injectConnection(withPrefix(socket, first));
    });
  });
  const bound = await new Promise<number>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen({ host, port }, () => {
      listener.removeListener('error', reject);
      resolve((listener.address() as net.AddressInfo).port);
    });
  });
  return {
    port: bound,
    close: async () => {
      listener.close();
      await shutdownGrpc(server, drainMs);
      tlsSide.destroy();
      plainSide.destroy();
      for (const s of sockets) s.destroy();
    },
  };
}

/** A duplex over `socket` that yields `first` before the rest of what the socket reads. */
function withPrefix(socket: net.Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, cb) {
      socket.write(chunk, encoding, cb);
    },
    final(cb) {
      socket.end(cb);
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  d.push(first);
  socket.on('data', (chunk: Buffer) => {
    if (!d.push(chunk)) socket.pause();
  });
  socket.once('end', () => d.push(null));
  socket.once('close', () => d.destroy());
  socket.on('error', (e) => d.destroy(e));
  // What HTTP/2 and TLS ask of a socket beyond a stream (addresses in logs, Nagle off, keepalive).
  Object.assign(d, {
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    remoteFamily: socket.remoteFamily,
    localAddress: socket.localAddress,
    localPort: socket.localPort,
    setNoDelay: (v?: boolean) => socket.setNoDelay(v),
    setKeepAlive: (e?: boolean, ms?: number) => socket.setKeepAlive(e, ms),
    setTimeout: (ms: number, cb?: () => void) => {
      socket.setTimeout(ms, cb);
      return d;
    },
    address: () => socket.address(),
    ref: () => socket.ref(),
    unref: () => socket.unref(),
  });
  return d;
}

/** Who is calling, from the transport: a plaintext peer, or an mTLS peer and the nodes its certificate names. */
export type GrpcPeer = { secure: false } | { secure: true; nodes: string[] };

/** A server call, as far as its peer goes. */
export type CallWithPeer = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>;

/** The peer of a server call (its certificate was checked against the CA by the TLS handshake). */
export function peerOf(call: CallWithPeer): GrpcPeer {
  const ctx = call.getAuthContext();
  if (!ctx.transportSecurityType && !ctx.sslPeerCertificate) return { secure: false };
  return { secure: true, nodes: nodesOfCertificate(ctx.sslPeerCertificate?.subjectaltname) };
}

/** What a call needs of its peer: to be a cluster member (any node certificate), or to be one given node. */
export type PeerRule = { member: true; what: string } | { node: string; what: string };

/**
 * The authorisation decision for one call, a pure function: undefined = allowed, else the status to refuse with.
 *
 * - A plaintext peer only gets here in `off` or `allow` (a `require` listener takes no plaintext): it keeps what
 *   it could do before TLS (the cluster must keep running during the switch-over), except in `require` where it
 *   is UNAUTHENTICATED.
 * - An mTLS peer is a member when its certificate names a node; a certificate from the CA that names none is
 *   authenticated but not a member (PERMISSION_DENIED for what members only may do).
 * - A rule naming a node takes only that node's certificate (PERMISSION_DENIED otherwise).
 */
export function authorizePeer(
  mode: GrpcTlsMode,
  peer: GrpcPeer,
  rule: PeerRule,
): { code: grpc.status; details: string } | undefined {
  if (!peer.secure) {
    if (mode !== 'require') return undefined;
    return {
      code: grpc.status.UNAUTHENTICATED,
      details: `${rule.what}: needs an mTLS client certificate (--grpc-tls-mode require)`,
    };
  }
  if (peer.nodes.length === 0)
    return {
      code: grpc.status.PERMISSION_DENIED,
      details: `${rule.what}: the client certificate names no node (SAN URI ${NODE_URI_PREFIX}<node-id>), only cluster members may`,
    };
  if ('node' in rule && !peer.nodes.some((name) => certificateNames(name, rule.node)))
    return {
      code: grpc.status.PERMISSION_DENIED,
      details: `${rule.what}: only node '${rule.node}' may, the client certificate names ${peer.nodes.map((n) => `'${n}'`).join(', ')}`,
    };
  return undefined;
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

/**
 * `impl` with every handler refusing the peers that `ruleOf(method)` does not allow (authorizePeer, in the mode
 * of `tls`): a unary call is answered with the refusal, a stream is ended with it.
 */
export function guardService<T extends grpc.UntypedServiceImplementation>(
  def: grpc.ServiceDefinition,
  impl: T,
  tls: GrpcTls,
  ruleOf: (method: string) => PeerRule | undefined,
): T {
  if (tls.mode === 'off') return impl;
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(impl)) {
    const rule = ruleOf(name);
    const m = def[name];
    if (!rule || !m) {
      out[name] = handler;
      continue;
    }
    const refusal = (call: CallWithPeer) => authorizePeer(tls.mode, peerOf(call), rule);
    const h = handler as (...args: unknown[]) => void;
    if (!m.requestStream && !m.responseStream) {
      out[name] = ((call: CallWithPeer, cb: (e: Partial<grpc.StatusObject>) => void) => {
        const refused = refusal(call);
        if (refused) cb(refused);
        else h(call, cb);
      }) as grpc.UntypedHandleCall;
    } else {
      out[name] = ((call: CallWithPeer & { emit(event: 'error', status: Partial<grpc.StatusObject>): void }) => {
        const refused = refusal(call);
        // A server stream ends with the status emitted as its error (grpc-js sends it as the call's status).
        if (refused) call.emit('error', refused);
        else h(call);
      }) as grpc.UntypedHandleCall;
    }
  }
  return out as T;
}
