import { PassThrough } from 'node:stream';
import { type BodySource, BodyTooLargeError, readBody } from '../src/index.ts';

const request = (headers: Record<string, string> = {}): PassThrough & BodySource =>
  Object.assign(new PassThrough(), { headers });

describe('readBody', () => {
  test('collects the chunks up to the limit and leaves no listener behind', async () => {
    const req = request();
    const body = readBody(req, 6);
    req.write('abc');
    req.end('def');
    expect((await body).toString()).toBe('abcdef');
    expect(req.listenerCount('data') + req.listenerCount('close')).toBe(0);
  });

  test('a declared length over the limit fails before reading', async () => {
    await expect(readBody(request({ 'content-length': '7' }), 6)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  test('a body that grows over the limit fails with the limit in the error', async () => {
    const req = request();
    const body = readBody(req, 4);
    req.write('abc');
    req.write('de');
    await expect(body).rejects.toMatchObject({ limitBytes: 4 });
  });

  test('a client that goes away fails the read', async () => {
    const req = request();
    const body = readBody(req, 100);
    req.write('abc');
    req.destroy();
    await expect(body).rejects.toThrow('client closed the connection');
  });
});
