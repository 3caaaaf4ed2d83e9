/** Reading a request body under a size limit, for the HTTP servers (ingress, admin). */
import type { Readable } from 'node:stream';

/** The body is larger than the limit (declared in `content-length` or counted while reading): answer 413. */
export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`request body larger than the limit of ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
  }
}

/** An HTTP/1.1 or HTTP/2 server request. */
export type BodySource = Readable & { headers: Record<string, string | string[] | undefined> };

/**
 * The whole body of `req`. Fails with BodyTooLargeError as soon as the declared or the read length is over
 * `limitBytes` (the rest is not buffered), or with an error when the client aborts or goes away.
 */
export function readBody(req: BodySource, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limitBytes) {
      reject(new BodyTooLargeError(limitBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined, value?: Buffer) => {
      if (done) return;
      done = true;
      for (const [event, fn] of listeners) req.off(event, fn);
      if (err) reject(err);
      else resolve(value!);
    };
    const listeners: [string, (arg: unknown) => void][] = [
      [
        'data',
        (chunk) => {
          size += (chunk as Buffer).length;
          if (size > limitBytes) finish(new BodyTooLargeError(limitBytes));
          else chunks.push(chunk as Buffer);
        },
      ],
      ['end', () => finish(undefined, Buffer.concat(chunks))],
      ['error', (err) => finish(err as Error)],
      ['aborted', () => finish(new Error('client aborted the request'))],
      ['close', () => finish(new Error('client closed the connection'))],
    ];
    for (const [event, fn] of listeners) req.on(event, fn);
  });
}
