/**
 * Issue 2 end to end: a real Stead (the one-process server, or a 3-worker cluster with STEAD_E2E_TOPOLOGY=cluster),
 * a real SDK service process, the official client.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import * as clients from '@restatedev/restate-sdk-clients';
import { GrpcMetadataClient, Precondition } from '@stead/metadata';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, TOPOLOGY, waitFor } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

describe(`stead (${TOPOLOGY}) with the official SDK`, () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let svc: ServiceProcess;
  let dir: string;
  let ingress: ReturnType<typeof clients.connect>;

  beforeAll(async () => {
    dir = cleanup.tempDir('stead-e2e-');
    server = await startStead(cleanup);
    svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
    ingress = clients.connect({ url: server.ingressUrl });
  });
  afterAll(() => cleanup.run());

  const call = (handler: string, body: unknown, init: RequestInit = {}) =>
    fetch(`${server.ingressUrl}/Test/${handler}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...init,
    });

  it('echoes through the official client', async () => {
    const test = ingress.serviceClient<{ echo: (ctx: unknown, x: { hello: string; n: number }) => Promise<unknown> }>({
      name: 'Test',
    });
    expect(await test.echo({ hello: 'world', n: 1 })).toEqual({ hello: 'world', n: 1 });
  });

  it('runs 9 sequential steps, each exactly once', async () => {
    const file = join(dir, 'steps9');
    const res = await call('steps', { n: 9, file });
    expect(res.status).toBe(200);
    expect(await res.json()).toBe(36);
    expect(lines(file)).toEqual(Array.from({ length: 9 }, (_, i) => `step ${i}`));
  });

  it('retries a run that fails twice, then succeeds', async () => {
    const file = join(dir, 'flaky');
    const res = await call('flaky', { file });
    expect(await res.json()).toBe('succeeded after 3 attempts');
    expect(lines(file)).toHaveLength(3);
  });

  it('turns a terminal error into its HTTP status and message', async () => {
    const res = await call('fail', { code: 418, message: 'I am a teapot' });
    expect(res.status).toBe(418);
    expect(await res.json()).toMatchObject({ code: 418, message: 'I am a teapot' });
  });

  it('follows a call chain 8 deep', async () => {
    const res = await call('chain', 8);
    expect(await res.json()).toBe(8);
  });

  it('fans out 30 calls and joins them', async () => {
    const res = await call('fanout', 30);
    expect(await res.json()).toBe((29 * 30) / 2);
  });

  it('delivers a one-way send', async () => {
    const file = join(dir, 'send');
    await call('sendTo', { file, tag: 'sent' });
    await waitFor(() => lines(file).length === 1, { what: 'the one-way send to arrive' });
    expect(lines(file)[0]).toMatch(/^sent /);
  });

  it('delays a delayed send by at least the delay', async () => {
    const file = join(dir, 'delayed');
    const res = await call('sendTo', { file, tag: 'late', delayMs: 1500 });
    const sentAt = (await res.json()) as number;
    await new Promise((r) => setTimeout(r, 700));
    expect(lines(file)).toEqual([]); // not before the delay
    await waitFor(() => lines(file).length === 1, { timeoutMs: 10_000, what: 'the delayed send' });
    const at = Number(lines(file)[0].split(' ')[1]);
    expect(at - sentAt).toBeGreaterThanOrEqual(1500);
  });

  it('delays an ingress send with ?delay=', async () => {
    const file = join(dir, 'ingress-delayed');
    const before = Date.now();
    const res = await fetch(`${server.ingressUrl}/Receiver/record/send?delay=1s`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ file, tag: 'x' }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ status: 'Accepted', invocationId: expect.stringMatching(/^inv_1/) });
    await waitFor(() => lines(file).length === 1, { timeoutMs: 10_000, what: 'the delayed ingress send' });
    expect(Number(lines(file)[0].split(' ')[1]) - before).toBeGreaterThanOrEqual(1000);
  });

  it('refuses a ?delay= past the latest execution time with 400, appending nothing', async () => {
    const file = join(dir, 'overflow-delay');
    const send = (query: string) =>
      fetch(`${server.ingressUrl}/Receiver/record/send${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'overflow-delay' },
        body: JSON.stringify({ file, tag: 'x' }),
      });
    for (const delay of ['9999999999d', 'P9999999999D', `${'9'.repeat(400)}ms`]) {
      const res = await send(`?delay=${delay}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(
        /puts the execution time past 9999-12-31T23:59:59\.999Z/,
      );
    }
    // Nothing was appended under that idempotency key: the same send without the delay is the first one.
    const ok = await send('');
    expect(ok.status).toBe(202);
    expect(((await ok.json()) as { status: string }).status).toBe('Accepted');
    await waitFor(() => lines(file).length === 1, { timeoutMs: 10_000, what: 'the send' });
  });

  it('answers CORS requests with any origin as *, never with credentials; the admin API with none', async () => {
    const origin = { origin: 'https://evil.example' };
    const res = await call('echo', 'cors', { headers: { 'content-type': 'application/json', ...origin } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    const admin = await fetch(`${server.adminUrl}/deployments`, { headers: origin });
    expect(admin.status).toBe(200);
    expect(admin.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sleeps durably', async () => {
    const started = Date.now();
    const res = await call('sleep', { ms: 1000 });
    expect(await res.json()).toBe('slept');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('answers 404 for an unknown service or handler', async () => {
    const a = await fetch(`${server.ingressUrl}/Nope/echo`, { method: 'POST', body: '{}' });
    expect(a.status).toBe(404);
    expect(((await a.json()) as { message: string }).message).toMatch(/Nope/);
    const b = await call('nope', {});
    expect(b.status).toBe(404);
  });

  it('answers 4xx for malformed JSON', async () => {
    const res = await call('echo', undefined, { body: '{"unterminated' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(((await res.json()) as { message: string }).message).toMatch(/JSON|deserialize/i);
  });

  it('round-trips a 1 MB payload', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const res = await call('echo', big);
    expect(res.status).toBe(200);
    expect(await res.json()).toBe(big);
  });

  it('serves its metadata store (embedded on the node port, or the metadata-store process of a cluster)', async () => {
    const addresses = server.server
      ? [`127.0.0.1:${server.server.ports.node}`]
      : server.cluster!.metadataAddress.split(',');
    const md = new GrpcMetadataClient({ addresses });
    try {
      if (server.server) {
        // What the one-process server writes about itself (a cluster has no one server to describe).
        const info = await md.get('cluster/server');
        expect(JSON.parse(new TextDecoder().decode(info!.value))).toMatchObject({ version: '0.1.0' });
      }
      const v = await md.put('e2e/probe', new TextEncoder().encode('x'), Precondition.doesNotExist);
      await expect(md.put('e2e/probe', new TextEncoder().encode('y'), Precondition.doesNotExist)).rejects.toThrow();
      expect((await md.get('e2e/probe'))!.version).toBe(v);
    } finally {
      await md.close();
    }
  });

  it('answers 413 above the body limit and keeps serving', async () => {
    // The answer comes as soon as the declared length is seen: read it while the upload is still going
    // (the server closes the connection of a sender that keeps going, so a client that first sends
    // everything may never see it).
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.ingressUrl}/Test/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(33 * 1024 * 1024) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write('"yyyy');
    });
    expect(status).toBe(413);
    expect(await (await call('echo', 'still up')).json()).toBe('still up');
  });
});
