import { existsSync } from 'node:fs';
import { expect, test } from '@jest/globals';
import { Cleanup, S3Server } from '../src/index.ts';

/** Plain HTTP against the server (s3rver serves requests without a signature as anonymous ones). */
async function request(url: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

test('s3rver child process: a bucket that keeps its objects over a restart on the same port, gone after cleanup', async () => {
  const cleanup = new Cleanup();
  let server: S3Server | undefined;
  try {
    server = await S3Server.start(cleanup, 'snaps');
    const object = `${server.endpoint}/snaps/a/b.txt`;
    expect((await request(object, { method: 'PUT', body: 'hello' })).status).toBe(200);
    expect(await request(object)).toEqual({ status: 200, body: 'hello' });

    await server.stop();
    await expect(request(object)).rejects.toThrow();
    await server.restart();
    expect(await request(object)).toEqual({ status: 200, body: 'hello' });
    expect((await request(`${server.endpoint}/snaps?list-type=2`)).body).toContain('<Key>a/b.txt</Key>');

    await server.kill9();
    await expect(request(object)).rejects.toThrow();
    await server.start();
    expect(await request(object)).toEqual({ status: 200, body: 'hello' });
  } finally {
    await cleanup.run();
  }
  expect(server?.proc?.running).toBe(false);
  expect(existsSync(server!.dir)).toBe(false);
});
