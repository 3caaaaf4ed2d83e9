/**
 * Idle connections of the HTTP servers (ingress, admin). A connection is idle when no request is in flight on
 * it: an idle one is closed after `idleTimeoutMs` of silence, a busy one never (an ingress call may wait for a
 * long invocation without a byte on the wire).
 */
import type { Server } from 'node:http';
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

/** Defaults of `--http-idle-timeout` and `--max-connections`. */
export const DEFAULT_HTTP_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/**
 * HTTP/1.1: the socket's inactivity timer (`server.timeout`, and `keepAliveTimeout` between requests) closes a
 * connection with no request in flight; while one is in flight the timeout is ignored.
 */
export function closeIdleHttp1Connections(server: Server, idleTimeoutMs: number): void {
  const inFlight = new WeakMap<Socket, number>();
  const track = (req: { socket: Socket }, res: { once(event: 'close', fn: () => void): unknown }) => {
    const socket = req.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once('close', () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
  };
  server.on('request', track);
  server.on('checkContinue', track);
  server.timeout = idleTimeoutMs;
  server.keepAliveTimeout = idleTimeoutMs;
  // With a listener for 'timeout', Node leaves the socket alone: closing it is up to us.
  server.on('timeout', (socket: Socket) => {
    if ((inFlight.get(socket) ?? 0) === 0) socket.destroy();
  });
}

/** HTTP/2: a session with no open stream for `idleTimeoutMs` is closed gracefully (GOAWAY). */
export function closeIdleHttp2Session(session: Http2Session, idleTimeoutMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = open === 0 ? setTimeout(() => session.close(), idleTimeoutMs) : undefined;
    timer?.unref();
  };
  session.on('stream', (stream: ServerHttp2Stream) => {
    open++;
    arm();
    stream.once('close', () => {
      open--;
      arm();
    });
  });
  session.once('close', () => {
    if (timer !== undefined) clearTimeout(timer);
  });
  arm();
}
