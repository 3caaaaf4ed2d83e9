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

/**
 * A small request/response exchange over HTTP/2 (h2c) or HTTP/1.1, with a timeout. `lookup` replaces the DNS
 * lookup of a new connection (not used with a given `pool`); a body over `maxBodyBytes` fails the exchange.
 */
export function request(
  url: URL,
  opts: {
    method: string;
    headers: Record<string, string>;
    useHttp11: boolean;
    timeoutMs: number;
    pool?: Http2Pool;
    lookup?: LookupFunction;
    maxBodyBytes?: number;
  },
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, res?: SimpleResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => {
      finish(new Error(`no answer within ${opts.timeoutMs} ms`));
      cancel();
    }, opts.timeoutMs);
    let cancel = () => {};
    const limit = opts.maxBodyBytes ?? Number.POSITIVE_INFINITY;
    let size = 0;
    /** false (and the exchange failed, cancelled) once the body is over the limit. */
    const collect = (chunks: Buffer[], c: Buffer): boolean => {
      size += c.length;
      if (size <= limit) {
        chunks.push(c);
        return true;
      }
      finish(new ResponseTooLargeError(limit));
      cancel();
      return false;
    };
    const declaredTooLarge = (headers: Record<string, string | string[] | undefined>): boolean => {
      const declared = Number(headers['content-length']);
      if (!(Number.isFinite(declared) && declared > limit)) return false;
      finish(new ResponseTooLargeError(limit));
      cancel();
      return true;
    };
    if (opts.useHttp11) {
      const req = http.request(url, { method: opts.method, headers: opts.headers, lookup: opts.lookup }, (res) => {
        const chunks: Buffer[] = [];
        if (declaredTooLarge(res.headers)) return;
        res.on('data', (c: Buffer) => collect(chunks, c));
        res.on('end', () =>
          finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', (e) => finish(e));
      });
      cancel = () => req.destroy();
      req.on('error', (e) => finish(e));
      req.end();
      return;
    }
    const pool = opts.pool ?? new Http2Pool({ lookup: opts.lookup });
    let session: http2.ClientHttp2Session;
    try {
      session = pool.session(url.origin);
    } catch (e) {
      finish(e as Error);
      return;
    }
    const onSessionError = (e: Error) => finish(e);
    session.once('error', onSessionError);
    const stream = session.request({
      ':method': opts.method,
      ':path': `${url.pathname}${url.search}`,
      ...opts.headers,
    });
    cancel = () => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      if (!opts.pool) pool.close();
    };
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      headers = h as Record<string, string | string[] | undefined>;
      declaredTooLarge(headers);
    });
    stream.on('data', (c: Buffer) => collect(chunks, c));
    stream.on('end', () => {
      session.off('error', onSessionError);
      finish(undefined, { status, headers, body: Buffer.concat(chunks) });
      if (!opts.pool) pool.close();
    });
    stream.on('error', (e) => {
      session.off('error', onSessionError);
      finish(e);
      if (!opts.pool) pool.close();
    });
    stream.end();
  });
}
