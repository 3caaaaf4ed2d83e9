/**
 * The listener of the HTTP surfaces (ingress, admin API): HTTP/1.1 and HTTP/2 on one port, in plaintext (h2c by
 * prior knowledge) or over TLS (ALPN), with idle connections closed, a connection limit and a certificate that
 * follows its files. Handlers get Node's compat request/response of either protocol (`AnyRequest`/`AnyResponse`).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { FileWatch } from './file-watch.ts';
import {
  closeIdleHttp1Connections,
  closeIdleHttp2Session,
  DEFAULT_HTTP_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
} from './http-idle.ts';
import { readTlsFiles, reloadTlsOnChange, type TlsFiles } from './http-tls.ts';

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;
export type RequestListener = (req: AnyRequest, res: AnyResponse) => void;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** Longest wait for the first bytes of a connection (shorter when the idle timeout is). */
const SNIFF_TIMEOUT_MS = 30_000;

function sniff(buf: Buffer): 'h1' | 'h2' | 'more' {
  const n = Math.min(buf.length, PREFACE.length);
  if (!buf.subarray(0, n).equals(PREFACE.subarray(0, n))) return 'h1';
  return n === PREFACE.length ? 'h2' : 'more';
}

export interface ConnectionLimits {
  /** A connection (HTTP/1.1) or session (HTTP/2) with no request in flight for this long is closed. */
  idleTimeoutMs?: number;
  /** Most open TCP connections; one over it is closed at once (the listener keeps serving the others). */
  maxConnections?: number;
  /** Serve HTTPS (HTTP/1.1 and h2 negotiated by ALPN) with this certificate instead of plaintext h1 + h2c. */
  tls?: TlsFiles;
  /** Told after each reload of the certificate files: undefined when applied, else why not (the old one stays). */
  onTlsReload?: (err: Error | undefined) => void;
}

export interface DualListener {
  port: number;
  close(): Promise<void>;
}

function http1Server(onRequest: RequestListener, onCheckContinue: RequestListener, idleTimeoutMs: number) {
  const h1 = http.createServer(onRequest);
  closeIdleHttp1Connections(h1, idleTimeoutMs);
  h1.on('checkContinue', onCheckContinue);
  h1.on('clientError', answerBadRequest);
  return h1;
}

/** Malformed HTTP/1.1 (or a header section too large): 400 and the connection closed. */
function answerBadRequest(_err: Error, socket: { writable: boolean; end(s: string): void; destroy(): void }): void {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  socket.destroy();
}

/**
 * Whether the client of `req` went away (its connection or, for h2, its stream closed) before the answer: such a
 * failure is not worth reporting. (An Http2ServerResponse has no `destroyed`; its stream has.)
 */
export function clientGone(req: AnyRequest): boolean {
  return req.httpVersionMajor >= 2 ? (req as Http2ServerRequest).stream.destroyed : req.destroyed;
}

/** Whether `res` can take no more: answered already, or its connection/stream closed. */
export function responseClosed(res: AnyResponse): boolean {
  if (res.headersSent || res.writableEnded) return true;
  return 'stream' in res ? res.stream.destroyed : res.destroyed;
}

/** Session bookkeeping of an HTTP/2 server: idle sessions are closed, open ones destroyed on close. */
function trackSessions(h2: http2.Http2Server | http2.Http2SecureServer, idleTimeoutMs: number): Set<Http2Session> {
  const sessions = new Set<Http2Session>();
  h2.on('session', (session) => {
    sessions.add(session);
    session.on('error', () => {});
    session.on('close', () => sessions.delete(session));
    closeIdleHttp2Session(session, idleTimeoutMs);
  });
  h2.on('sessionError', () => {});
  return sessions;
}

/** The h2c server and its open sessions (destroyed on close). */
function http2Server(onRequest: RequestListener, onCheckContinue: RequestListener, idleTimeoutMs: number) {
  const h2 = http2.createServer({}, onRequest);
  h2.on('checkContinue', onCheckContinue);
  return { h2, sessions: trackSessions(h2, idleTimeoutMs) };
}

/** Reads the first bytes of `socket` and hands it, bytes put back, to `h2` (HTTP/2 preface) or `h1`. */
function sniffAndHandOver(socket: Socket, h1: net.Server, h2: net.Server, idleTimeoutMs: number): void {
  const onSniffTimeout = () => socket.destroy();
  socket.setTimeout(Math.min(SNIFF_TIMEOUT_MS, idleTimeoutMs), onSniffTimeout);
  let buffered = Buffer.alloc(0);
  const onReadable = () => {
    let chunk: Buffer | null;
    // biome-ignore lint/suspicious/noAssignInExpressions: read loop
    while ((chunk = socket.read()) !== null) buffered = Buffer.concat([buffered, chunk]);
    const kind = sniff(buffered);
    if (kind === 'more' && !socket.readableEnded) return;
    socket.off('readable', onReadable);
    // The HTTP server's own idle handling takes over (`setTimeout(0)` alone keeps the listener).
    socket.setTimeout(0, onSniffTimeout);
    if (buffered.length > 0) socket.unshift(buffered);
    (kind === 'h2' ? h2 : h1).emit('connection', socket);
  };
  socket.on('readable', onReadable);
}

/**
 * One TCP port that serves HTTP/1.1 and cleartext HTTP/2 (prior knowledge, h2c): the first bytes of a
 * connection decide which server gets it. (`http2.createServer({allowHTTP1})` only works with TLS.)
 */
export async function listenDual(
  port: number,
  host: string | undefined,
  onRequest: RequestListener,
  onCheckContinue: RequestListener,
  limits: ConnectionLimits = {},
): Promise<DualListener> {
  if (limits.tls !== undefined) return listenTls(port, host, onRequest, onCheckContinue, limits, limits.tls);
  const idleTimeoutMs = limits.idleTimeoutMs ?? DEFAULT_HTTP_IDLE_TIMEOUT_MS;
  const h1 = http1Server(onRequest, onCheckContinue, idleTimeoutMs);
  const { h2, sessions } = http2Server(onRequest, onCheckContinue, idleTimeoutMs);
  const sockets = new Set<Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    sniffAndHandOver(socket, h1, h2, idleTimeoutMs);
  });
  tcp.maxConnections = limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS;

  await listen(tcp, port, host);
  return {
    port: (tcp.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        tcp.close(() => resolve());
        for (const s of sessions) s.destroy();
        for (const s of sockets) s.destroy();
        h1.closeAllConnections();
      }),
  };
}

/**
 * HTTP/1.1 connections of a TLS server with `allowHTTP1`: one with no request in flight for `idleTimeoutMs` is
 * closed (a call waiting for its outcome is not idle). h2 sessions are left to trackSessions.
 */
function closeIdleTlsHttp1(server: http2.Http2SecureServer, idleTimeoutMs: number): void {
  const inFlight = new WeakMap<object, number>();
  const track = (req: AnyRequest, res: AnyResponse) => {
    if (req.httpVersionMajor >= 2) return;
    const socket = req.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once('close', () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
  };
  server.on('request', track);
  server.on('checkContinue', track);
  server.setTimeout(idleTimeoutMs);
  // Node's HTTP/1 handling of an allowHTTP1 server reads these as an http.Server's (default keep-alive: 5 s).
  (server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = idleTimeoutMs;
  // HTTP/1.1 sockets and h2 sessions both report here; an h2 session has alpnProtocol 'h2'.
  server.on('timeout', (conn: { alpnProtocol?: string | false; destroy(): void }) => {
    if (conn.alpnProtocol !== 'h2' && (inFlight.get(conn) ?? 0) === 0) conn.destroy();
  });
}

function listen(server: net.Server, port: number, host: string | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * HTTPS on one port: TLS with ALPN offering h2 and http/1.1 (`allowHTTP1`), so both protocols share the port as
 * the plaintext listener's do. The certificate follows its files (`setSecureContext`: new connections only).
 */
async function listenTls(
  port: number,
  host: string | undefined,
  onRequest: RequestListener,
  onCheckContinue: RequestListener,
  limits: ConnectionLimits,
  tls: TlsFiles,
): Promise<DualListener> {
  const idleTimeoutMs = limits.idleTimeoutMs ?? DEFAULT_HTTP_IDLE_TIMEOUT_MS;
  const server = http2.createSecureServer(
    // A handshake gets as long as the plaintext listener gives a connection to show its first bytes.
    { ...readTlsFiles(tls), allowHTTP1: true, handshakeTimeout: Math.min(SNIFF_TIMEOUT_MS, idleTimeoutMs) },
    onRequest,
  );
  // h2 streams and HTTP/1.1 requests (allowHTTP1 hands those to Node's HTTP/1 machinery) both emit it here.
  server.on('checkContinue', onCheckContinue);
  const sessions = trackSessions(server, idleTimeoutMs);
  closeIdleTlsHttp1(server, idleTimeoutMs);
  server.on('tlsClientError', () => {}); // a client that does not trust us, or speaks plaintext: its problem
  // Malformed HTTP/1.1 after the handshake: the same 400 as in plaintext (allowHTTP1 uses Node's HTTP/1 parser).
  server.on('clientError', answerBadRequest);
  server.maxConnections = limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  // The TCP sockets, handshakes in progress included, so that close() ends them all at once.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  const watch: FileWatch = reloadTlsOnChange(server, tls, limits.onTlsReload ?? (() => {}));
  await listen(server, port, host);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        watch.close();
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
        for (const s of sockets) s.destroy();
      }),
  };
}
