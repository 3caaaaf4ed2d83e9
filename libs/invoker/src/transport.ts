import { once } from 'node:events';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { Readable } from 'node:stream';
import { encodeFrame, type Frame, FrameDecoder } from './framing.ts';
import { Http2Pool } from './http.ts';
import { identityRefusal, type RequestSigner, UNSIGNED_REQUESTS } from './identity.ts';

export interface OpenOptions {
  /** Deployment base URI (`http://host:port[/prefix]`). */
  uri: string;
  service: string;
  handler: string;
  protocolVersion: number;
  headers?: Record<string, string>;
  /** HTTP/1.1 request/response instead of an HTTP/2 bidirectional stream. */
  useHttp11?: boolean;
  signal?: AbortSignal;
  maxMessageBytes?: number;
}

/** The endpoint could not be invoked: connection failure, or an HTTP status other than 200. */
export class InvokeError extends Error {
  override name = 'InvokeError';
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

export interface InvocationStream {
  /** Queues one message. */
  write(type: number, payload: Uint8Array, flags?: number): void;
  /** Half-closes our side (request/response: sends the request). */
  end(): void;
  /** Messages from the endpoint, until it closes its side. Throws InvokeError on HTTP or transport failures. */
  frames(): AsyncGenerator<Frame>;
  /** Ends the exchange from our side (cancels it if still open). */
  close(): void;
  /**
   * The exchange ended normally (End or Suspension received): end our side and let the endpoint close the
   * stream, draining what it still sends. Cheaper for both sides than a cancellation.
   */
  finish(): void;
}

const CONTENT_TYPE = (v: number) => `application/vnd.restate.invocation.v${v}`;

/**
 * Opens invocation streams to deployments, one HTTP/2 session per deployment origin. Every request carries the
 * identity headers of `signer` (default: `unsigned`).
 */
export class InvocationStreamClient {
  private readonly pool = new Http2Pool();
  private readonly signer: RequestSigner;

  constructor(opts: { signer?: RequestSigner } = {}) {
    this.signer = opts.signer ?? UNSIGNED_REQUESTS;
  }

  open(o: OpenOptions): InvocationStream {
    const base = new URL(o.uri);
    const url = new URL(
      `${base.pathname.replace(/\/$/, '')}/invoke/${encodeURIComponent(o.service)}/${encodeURIComponent(o.handler)}`,
      base,
    );
    // Signed for the path as the deployment reads it (normalised by URL, as the SDK does); identity headers last,
    // so that a deployment's additional headers cannot stand in for them.
    const headers = {
      ...o.headers,
      'content-type': CONTENT_TYPE(o.protocolVersion),
      accept: CONTENT_TYPE(o.protocolVersion),
      ...this.signer.headers(url.pathname),
    };
    const decoder = new FrameDecoder(o.maxMessageBytes);
    const refused = (status: number) => identityRefusal(status, this.signer);
    return o.useHttp11
      ? openHttp11(url, headers, decoder, refused, o.signal)
      : openHttp2(this.pool, base.origin, url.pathname, headers, decoder, refused, o.signal);
  }

  close(): void {
    this.pool.close();
  }
}

async function* readFrames(body: Readable, decoder: FrameDecoder): AsyncGenerator<Frame> {
  // Leaving the loop early must not destroy the stream: `finish` lets it end on its own.
  for await (const chunk of body.iterator({ destroyOnReturn: false })) {
    for (const f of decoder.push(chunk as Buffer)) yield f;
  }
  if (decoder.pending > 0) throw new InvokeError(`the endpoint closed the stream in the middle of a message`);
}

/** How long the body of a refusal (a status other than 200) is waited for, to quote it in the error. */
const ERROR_BODY_WAIT_MS = 2000;

/**
 * The start of the body of a refusal, or what arrived of it within ERROR_BODY_WAIT_MS (then the stream is
 * destroyed: an endpoint that holds the body back must not hold the attempt).
 */
async function readText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let timer: NodeJS.Timeout | undefined;
  const read = (async () => {
    try {
      for await (const c of body) chunks.push(c as Buffer);
    } catch {
      // best effort
    }
  })();
  const timedOut = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(true), ERROR_BODY_WAIT_MS);
  });
  if (await Promise.race([read.then(() => false), timedOut])) body.destroy();
  clearTimeout(timer);
  return Buffer.concat(chunks).toString('utf8').slice(0, 500);
}

function openHttp2(
  pool: Http2Pool,
  origin: string,
  path: string,
  headers: Record<string, string>,
  decoder: FrameDecoder,
  refused: (status: number) => string,
  signal?: AbortSignal,
): InvocationStream {
  let stream: http2.ClientHttp2Stream;
  let openError: Error | undefined;
  try {
    const session = pool.session(origin);
    stream = session.request({ ':method': 'POST', ':path': path, ...headers }, { endStream: false });
  } catch (err) {
    openError = err as Error;
    stream = undefined as unknown as http2.ClientHttp2Stream;
  }
  const onAbort = () => stream?.close(http2.constants.NGHTTP2_CANCEL);
  signal?.addEventListener('abort', onAbort, { once: true });
  // Errors surface through frames(); keep the emitter from throwing meanwhile.
  stream?.on('error', () => {});
  return {
    write(type, payload, flags) {
      if (stream && !stream.closed && !stream.destroyed && stream.writable)
        stream.write(encodeFrame(type, payload, flags));
    },
    end() {
      if (stream && stream.writable) stream.end();
    },
    async *frames() {
      if (openError) throw new InvokeError(`cannot open a stream to ${origin}: ${openError.message}`);
      let responseHeaders: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader;
      try {
        [responseHeaders] = (await once(stream, 'response', { signal })) as [
          http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader,
        ];
      } catch (err) {
        throw new InvokeError(`cannot invoke ${origin}${path}: ${describe(err)}`);
      }
      const status = Number(responseHeaders[':status']);
      if (status !== 200) {
        // The SDKs send the body of a refusal (401, 404, …) only once our side ended: end it, the attempt failed.
        if (stream.writable) stream.end();
        throw new InvokeError(
          `${origin}${path} answered HTTP ${status}: ${await readText(stream)}${refused(status)}`,
          status,
        );
      }
      try {
        yield* readFrames(stream, decoder);
      } catch (err) {
        if (err instanceof InvokeError) throw err;
        throw new InvokeError(`stream to ${origin}${path} failed: ${describe(err)}`);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    close() {
      signal?.removeEventListener('abort', onAbort);
      if (stream && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
    },
    finish() {
      signal?.removeEventListener('abort', onAbort);
      if (!stream || stream.closed) return;
      if (stream.writable) stream.end();
      stream.resume();
    },
  };
}

function openHttp11(
  url: URL,
  headers: Record<string, string>,
  decoder: FrameDecoder,
  refused: (status: number) => string,
  signal?: AbortSignal,
): InvocationStream {
  const chunks: Buffer[] = [];
  let req: http.ClientRequest | undefined;
  let response: Promise<http.IncomingMessage> | undefined;
  const send = () => {
    if (response) return;
    const body = Buffer.concat(chunks);
    response = new Promise((resolve, reject) => {
      req = http.request(
        url,
        { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, signal },
        resolve,
      );
      req.on('error', reject);
      req.end(body);
    });
    response.catch(() => {});
  };
  return {
    write(type, payload, flags) {
      if (!response) chunks.push(encodeFrame(type, payload, flags));
    },
    end: send,
    async *frames() {
      send();
      let res: http.IncomingMessage;
      try {
        res = await response!;
      } catch (err) {
        throw new InvokeError(`cannot invoke ${url.href}: ${describe(err)}`);
      }
      if (res.statusCode !== 200) {
        const status = res.statusCode ?? 0;
        throw new InvokeError(`${url.href} answered HTTP ${status}: ${await readText(res)}${refused(status)}`, status);
      }
      try {
        yield* readFrames(res, decoder);
      } catch (err) {
        if (err instanceof InvokeError) throw err;
        throw new InvokeError(`response from ${url.href} failed: ${describe(err)}`);
      }
    },
    close() {
      req?.destroy();
    },
    finish() {
      req?.destroy();
    },
  };
}

function describe(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return String(err);
}
