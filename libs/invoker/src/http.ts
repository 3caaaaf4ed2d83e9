import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { LookupFunction } from 'node:net';

/** One HTTP/2 (h2c or TLS) session per origin, reopened when it closes or goes away. */
export class Http2Pool {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();

  private readonly connectOptions: { lookup?: LookupFunction };

  /** `lookup`: the DNS lookup of new connections (default: the system's). */
  constructor(connectOptions: { lookup?: LookupFunction } = {}) {
    this.connectOptions = connectOptions;
  }

  session(origin: string): http2.ClientHttp2Session {
    const existing = this.sessions.get(origin);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const s = http2.connect(origin, this.connectOptions);
    s.on('error', () => this.drop(origin, s));
    s.on('goaway', () => this.drop(origin, s));
    s.on('close', () => this.drop(origin, s));
    // An idle pool must not keep the process alive.
    s.unref();
    this.sessions.set(origin, s);
    return s;
  }

  private drop(origin: string, s: http2.ClientHttp2Session): void {
    if (this.sessions.get(origin) === s) this.sessions.delete(origin);
  }

  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }
}

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The answer was larger than `maxBodyBytes`; the exchange was abandoned. */
export class ResponseTooLargeError extends Error {
  override name = 'ResponseTooLargeError';
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`the response is larger than the limit of ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
  }
}

export interface RequestOptions {
  method: string;
  headers: Record<string, string>;
  useHttp11: boolean;
  timeoutMs: number;
  pool?: Http2Pool;
  lookup?: LookupFunction;
  maxBodyBytes?: number;
}

type Headers = Record<string, string | string[] | undefined>;

/**
 * The state of one exchange: it settles once (an answer, an error, the timeout or a body over the limit), and a
 * failure cancels the transport (`cancel`, set once a request is under way).
 */
class Exchange {
  cancel: () => void = () => {};
  readonly limit: number;
  private done = false;
  private size = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly resolve: (res: SimpleResponse) => void;
  private readonly reject: (err: Error) => void;

  constructor(
    resolve: (res: SimpleResponse) => void,
    reject: (err: Error) => void,
    timeoutMs: number,
    maxBodyBytes: number | undefined,
  ) {
    this.resolve = resolve;
    this.reject = reject;
    this.limit = maxBodyBytes ?? Number.POSITIVE_INFINITY;
    this.timer = setTimeout(() => this.fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  }

  finish(err: Error | undefined, res?: SimpleResponse): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (err) this.reject(err);
    else this.resolve(res!);
  }

  fail(err: Error): void {
    this.finish(err);
    this.cancel();
  }

  /** false (and the exchange failed, cancelled) once the body is over the limit. */
  collect(chunks: Buffer[], c: Buffer): boolean {
    this.size += c.length;
    if (this.size <= this.limit) {
      chunks.push(c);
      return true;
    }
    this.fail(new ResponseTooLargeError(this.limit));
    return false;
  }

  /** true (and the exchange failed, cancelled) when the answer declares a length over the limit. */
  declaredTooLarge(headers: Headers): boolean {
    const declared = Number(headers['content-length']);
    if (!(Number.isFinite(declared) && declared > this.limit)) return false;
    this.fail(new ResponseTooLargeError(this.limit));
    return true;
  }
}

/**
 * A small request/response exchange over HTTP/2 (h2c) or HTTP/1.1, with a timeout. `lookup` replaces the DNS
 * lookup of a new connection (not used with a given `pool`); a body over `maxBodyBytes` fails the exchange.
 */
export function request(url: URL, opts: RequestOptions): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const ex = new Exchange(resolve, reject, opts.timeoutMs, opts.maxBodyBytes);
    if (opts.useHttp11) requestHttp11(ex, url, opts);
    else requestHttp2(ex, url, opts);
  });
}

function requestHttp11(ex: Exchange, url: URL, opts: RequestOptions): void {
  const req = http.request(url, { method: opts.method, headers: opts.headers, lookup: opts.lookup }, (res) => {
    const chunks: Buffer[] = [];
    if (ex.declaredTooLarge(res.headers)) return;
    res.on('data', (c: Buffer) => ex.collect(chunks, c));
    res.on('end', () =>
      ex.finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
    );
    res.on('error', (e) => ex.finish(e));
  });
  ex.cancel = () => req.destroy();
  req.on('error', (e) => ex.finish(e));
  req.end();
}

/** On `opts.pool`'s session for the origin, or on a session of its own that closes with the exchange. */
function requestHttp2(ex: Exchange, url: URL, opts: RequestOptions): void {
  const pool = opts.pool ?? new Http2Pool({ lookup: opts.lookup });
  const closeOwnPool = () => {
    if (!opts.pool) pool.close();
  };
  let session: http2.ClientHttp2Session;
  try {
    session = pool.session(url.origin);
  } catch (e) {
    ex.finish(e as Error);
    return;
  }
  const onSessionError = (e: Error) => ex.finish(e);
  session.once('error', onSessionError);
  const stream = session.request({ ':method': opts.method, ':path': `${url.pathname}${url.search}`, ...opts.headers });
  ex.cancel = () => {
    stream.close(http2.constants.NGHTTP2_CANCEL);
    closeOwnPool();
  };
  let status = 0;
  let headers: Headers = {};
  const chunks: Buffer[] = [];
  stream.on('response', (h) => {
    status = Number(h[':status']);
    headers = h as Headers;
    ex.declaredTooLarge(headers);
  });
  stream.on('data', (c: Buffer) => ex.collect(chunks, c));
  stream.on('end', () => {
    session.off('error', onSessionError);
    ex.finish(undefined, { status, headers, body: Buffer.concat(chunks) });
    closeOwnPool();
  });
  stream.on('error', (e) => {
    session.off('error', onSessionError);
    ex.finish(e);
    closeOwnPool();
  });
  stream.end();
}
