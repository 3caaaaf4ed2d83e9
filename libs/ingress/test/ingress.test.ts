import http from 'node:http';
import net from 'node:net';
import { type CorsPolicy, corsPolicy, type InvocationBackend, OverloadedError, parseCorsOrigins } from '@stead/core';
import { type IngressServer, invocationRoutes, startIngressServer } from '../src/index.ts';
import { RecordingBackend, request, requestH2, SERVICES, StaticSchema, waitFor } from './helpers.ts';

const LIMIT = 64 * 1024;

describe('ingress HTTP server', () => {
  let server: IngressServer;
  let backend: RecordingBackend;
  let port: number;
  const errors: unknown[] = [];

  beforeEach(async () => {
    backend = new RecordingBackend();
    server = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend,
      schema: new StaticSchema(SERVICES),
      maxBodyBytes: LIMIT,
      now: () => Date.parse('2030-01-01T00:00:00.000Z'),
      onError: (err) => errors.push(err),
    });
    port = server.port;
  });

  afterEach(async () => {
    await server.close();
  });

  const jsonHeaders = { 'content-type': 'application/json' };

  test('call of a service handler returns the output with its content type and the invocation id', async () => {
    backend.answer = () => ({ ok: true, value: Buffer.from('"hello bob"') });
    const r = await request(port, {
      path: '/Greeter/greet',
      headers: { ...jsonHeaders, 'x-foo': 'bar', connection: 'keep-alive', 'idempotency-key': 'k1' },
      body: '"bob"',
    });
    expect(r.status).toBe(200);
    expect(r.text).toBe('"hello bob"');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-restate-id']).toMatch(/^inv_/);
    expect(backend.calls).toHaveLength(1);
    const req = backend.calls[0];
    expect(req.target).toEqual({ service: 'Greeter', handler: 'greet', key: undefined });
    expect(Buffer.from(req.body).toString()).toBe('"bob"');
    expect(req.idempotencyKey).toBe('k1');
    const names = req.headers.map(([n]) => n);
    expect(req.headers).toContainEqual(['x-foo', 'bar']);
    expect(req.headers).toContainEqual(['x-restate-ingress-path', '/Greeter/greet']);
    expect(req.headers).toContainEqual(['content-type', 'application/json']);
    for (const dropped of ['connection', 'host', 'content-length', 'idempotency-key'])
      expect(names).not.toContain(dropped);
  });

  test('virtual object keys are URL-decoded; empty keys and GET are accepted', async () => {
    expect((await request(port, { path: '/Counter/a%2Fb%20c/add', headers: jsonHeaders, body: '1' })).status).toBe(200);
    expect(backend.calls[0].target).toEqual({ service: 'Counter', handler: 'add', key: 'a/b c' });
    expect((await request(port, { path: '/Counter//get' })).status).toBe(200);
    expect(backend.calls[1].target.key).toBe('');
    expect((await request(port, { method: 'GET', path: '/Counter/k/get/' })).status).toBe(200);
    expect(backend.calls[2].target).toEqual({ service: 'Counter', handler: 'get', key: 'k' });
  });

  test('workflow run is routed with its key, as call and as send', async () => {
    expect((await request(port, { path: '/WF/w1/run', headers: jsonHeaders, body: '{}' })).status).toBe(200);
    expect(backend.calls[0].target).toEqual({ service: 'WF', handler: 'run', key: 'w1' });
    const s = await request(port, { path: '/WF/w2/run/send', headers: jsonHeaders, body: '{}' });
    expect(s.status).toBe(202);
    expect(backend.sends[0].target).toEqual({ service: 'WF', handler: 'run', key: 'w2' });
  });

  test('send answers 202 with Restate body and header; idempotent resend is PreviouslyAccepted', async () => {
    const r = await request(port, {
      path: '/Greeter/greet/send',
      headers: { ...jsonHeaders, 'idempotency-key': 'abc' },
      body: '"x"',
    });
    expect(r.status).toBe(202);
    expect(r.headers['content-type']).toBe('application/json');
    const id = r.headers['x-restate-id'] as string;
    expect(r.text).toBe(`{"invocationId":"${id}","status":"Accepted"}`);
    expect(backend.sends[0].idempotencyKey).toBe('abc');
    expect(backend.sends[0].delayMs).toBeUndefined();
    const again = await request(port, {
      path: '/Greeter/greet/send',
      headers: { ...jsonHeaders, 'idempotency-key': 'abc' },
      body: '"x"',
    });
    expect(again.text).toBe(`{"invocationId":"${id}","status":"PreviouslyAccepted"}`);
    expect(backend.calls).toHaveLength(0);
  });

  test('delayed send passes the delay and reports the execution time', async () => {
    const r = await request(port, { path: '/Greeter/greet/send?delay=10s', headers: jsonHeaders, body: '"x"' });
    expect(r.status).toBe(202);
    expect(backend.sends[0].delayMs).toBe(10_000);
    expect(JSON.parse(r.text)).toEqual({
      invocationId: r.headers['x-restate-id'],
      executionTime: '2030-01-01T00:00:10.000000000Z',
      status: 'Accepted',
    });
    await request(port, { path: '/Greeter/greet/send?delay=PT1M30S', headers: jsonHeaders, body: '"x"' });
    await request(port, { path: '/Greeter/greet/send?delay=1h%2030m', headers: jsonHeaders, body: '"x"' });
    await request(port, { path: '/Greeter/greet/send?delay=500ms', headers: jsonHeaders, body: '"x"' });
    expect(backend.sends.map((s) => s.delayMs)).toEqual([10_000, 90_000, 5_400_000, 500]);
  });

  test('bad delays and delays on calls are refused with 400', async () => {
    const onCall = await request(port, { path: '/Greeter/greet?delay=1s', headers: jsonHeaders, body: '"x"' });
    expect(onCall.status).toBe(400);
    expect(JSON.parse(onCall.text)).toEqual({
      code: 400,
      message: 'cannot use the delay query parameter with calls. The delay is supported only with sends',
      source: 'ingress',
    });
    for (const d of ['100', 'abc', '-1s', '']) {
      const r = await request(port, { path: `/Greeter/greet/send?delay=${d}`, headers: jsonHeaders, body: '"x"' });
      expect(r.status).toBe(400);
      expect(r.headers['x-restate-error-source']).toBe('ingress');
      expect(JSON.parse(r.text).message).toMatch(/^bad delay query parameter, must be a ISO8601 duration: /);
    }
    expect(backend.sends).toHaveLength(0);
  });

  test('a delay that overflows the latest execution time is a 400 before anything is sent to the engine', async () => {
    // `now` is 2030-01-01: 9999-12-31T23:59:59.999Z is 2,910,981.99 days away.
    const huge = '9'.repeat(400);
    for (const d of ['9999999999d', 'P9999999999D', `${huge}ms`, '2910982d', '415855w']) {
      const r = await request(port, { path: `/Greeter/greet/send?delay=${d}`, headers: jsonHeaders, body: '"x"' });
      expect(r.status).toBe(400);
      expect(r.headers['x-restate-error-source']).toBe('ingress');
      expect(JSON.parse(r.text).message).toMatch(
        /^bad delay query parameter: .* puts the execution time past 9999-12-31T23:59:59\.999Z, the latest supported; the longest delay accepted now is 2910981 days$/,
      );
    }
    expect(backend.sends).toHaveLength(0);
    expect(errors).toHaveLength(0);
    // The largest delay that still fits is accepted, and its execution time prints with a four-digit year.
    const ok = await request(port, { path: '/Greeter/greet/send?delay=2910981d', headers: jsonHeaders, body: '"x"' });
    expect(ok.status).toBe(202);
    expect(JSON.parse(ok.text).executionTime).toBe('9999-12-31T00:00:00.000000000Z');
    expect(backend.sends).toHaveLength(1);
  });

  test('unknown service and handler are 404 with Restate bodies', async () => {
    const svc = await request(port, { path: '/Nope/greet', headers: jsonHeaders, body: '1' });
    expect(svc.status).toBe(404);
    expect(svc.headers['content-type']).toBe('application/json');
    expect(svc.headers['x-restate-error-source']).toBe('ingress');
    expect(svc.text).toBe(
      '{"code":404,"message":"service \'Nope\' not found, make sure to register the service before calling it.","source":"ingress"}',
    );
    const h = await request(port, { path: '/Greeter/nope', headers: jsonHeaders, body: '1' });
    expect(h.status).toBe(404);
    expect(JSON.parse(h.text).message).toBe(
      "the service 'Greeter' exists, but the handler 'nope' was not found, check that the handler exists in the latest registered service version.",
    );
    // on an object, /Counter/add/send means key "add", handler "send"
    expect((await request(port, { path: '/Counter/add/send' })).status).toBe(404);
    expect(backend.calls).toHaveLength(0);
  });

  test('key misuse and malformed paths are 400', async () => {
    const expected = {
      code: 400,
      message: 'bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler',
      source: 'ingress',
    };
    for (const path of ['/Greeter/k1/greet', '/Counter/add', '/WF/run', '/Counter/k/add/send/x']) {
      const r = await request(port, { path, headers: jsonHeaders, body: '1' });
      expect([path, r.status]).toEqual([path, 400]);
      expect(JSON.parse(r.text)).toEqual(expected);
    }
    expect(JSON.parse((await request(port, { path: '/Greeter' })).text).message).toBe('bad path: /Greeter');
    expect(JSON.parse((await request(port, { path: '/' })).text).message).toBe('bad path: /');
  });

  test('private services and handlers are 400 not public', async () => {
    for (const path of ['/Hidden/h', '/Greeter/priv', '/Greeter/priv/send']) {
      const r = await request(port, { path });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.text)).toEqual({
        code: 400,
        message: 'the invoked service is not public',
        source: 'ingress',
      });
    }
    expect(backend.calls.length + backend.sends.length).toBe(0);
  });

  test('methods other than GET/POST are 405; /restate paths are reserved', async () => {
    const put = await request(port, { method: 'PUT', path: '/Greeter/greet' });
    expect(put.status).toBe(405);
    expect(JSON.parse(put.text)).toEqual({ code: 405, message: 'method not allowed', source: 'ingress' });
    expect((await request(port, { method: 'GET', path: '/restate/health' })).status).toBe(200);
    const unknown = await request(port, { path: '/restate/whatever' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toEqual({ code: 404, message: 'not found', source: 'ingress' });
  });

  test('extra /restate routes can be added', async () => {
    server.addRoute({
      method: 'GET',
      pattern: '/restate/invocation/:id/output',
      handler: (ctx) => ({ status: 200, json: { id: ctx.params.id } }),
    });
    const r = await request(port, { method: 'GET', path: '/restate/invocation/inv_1x/output' });
    expect([r.status, r.text]).toEqual([200, '{"id":"inv_1x"}']);
  });

  test('terminal errors become their HTTP status with Restate body', async () => {
    backend.answer = () => ({ ok: false, code: 409, message: 'nope' });
    const r = await request(port, { path: '/Greeter/greet', headers: jsonHeaders, body: '"x"' });
    expect(r.status).toBe(409);
    expect(r.headers['x-restate-error-source']).toBe('invocation');
    expect(r.headers['x-restate-id']).toMatch(/^inv_/);
    expect(r.text).toBe('{"code":409,"message":"nope","source":"invocation"}');

    backend.answer = () => ({ ok: false, code: 422, message: 'm', metadata: { a: 'b' } });
    const m = await request(port, { path: '/Greeter/greet' });
    expect([m.status, m.text]).toEqual([422, '{"code":422,"message":"m","metadata":{"a":"b"},"source":"invocation"}']);

    backend.answer = () => ({ ok: false, code: 42, message: 'odd' });
    const odd = await request(port, { path: '/Greeter/greet' });
    expect([odd.status, odd.text]).toEqual([500, '{"code":42,"message":"odd","source":"invocation"}']);
  });

  test('input content type is validated at the ingress like Restate; JSON syntax is left to the SDK', async () => {
    const msg = async (path: string, headers: Record<string, string>, body?: string) => {
      const r = await request(port, { path, headers, body });
      return r.status === 200 ? 'ok' : `${r.status} ${JSON.parse(r.text).message}`;
    };
    expect(await msg('/Greeter/greet', { 'content-type': 'text/plain' }, 'x')).toBe(
      "400 input validation error: Content-type 'text/plain' does not match 'application/json'",
    );
    expect(await msg('/Greeter/greet', {}, 'x')).toBe('400 input validation error: Empty content-type');
    expect(await msg('/Greeter/greet', {})).toBe('ok');
    expect(await msg('/Greeter/greet', { 'content-type': 'application/json; charset=utf-8' }, '1')).toBe('ok');
    expect(await msg('/Greeter/needsJson', {})).toBe('400 input validation error: Empty content-type');
    expect(await msg('/Greeter/any', { 'content-type': 'image/png' }, 'x')).toBe('ok');
    expect(await msg('/Greeter/texty', { 'content-type': 'text/csv' }, 'x')).toBe('ok');
    expect(await msg('/Greeter/texty', { 'content-type': 'application/json' }, 'x')).toBe(
      "400 input validation error: Content-type 'application/json' does not match 'text/*'",
    );
    expect(await msg('/Greeter/noInput', { 'content-type': 'application/json' }, '1')).toBe(
      `400 input validation error: Expected body and content-type to be empty, but wasn't with content-type 'Some("application/json")'`,
    );
    expect(await msg('/Greeter/noInput', {})).toBe('ok');
    const before = backend.calls.length;
    expect(await msg('/Greeter/greet', jsonHeaders, '{bad json')).toBe('ok');
    expect(Buffer.from(backend.calls[before].body).toString()).toBe('{bad json');
  });

  test('output content type follows the outcome, then the handler declaration', async () => {
    backend.answer = () => ({ ok: true, value: new Uint8Array() });
    const empty = await request(port, { path: '/Greeter/greet' });
    expect([empty.status, empty.text, empty.headers['content-type']]).toEqual([200, '', undefined]);
    const proto = await request(port, { path: '/Greeter/proto' });
    expect(proto.headers['content-type']).toBe('application/proto');
    backend.answer = () => ({ ok: true, value: Buffer.from([1, 2, 3]), contentType: 'application/x-custom' });
    expect((await request(port, { path: '/Greeter/any' })).headers['content-type']).toBe('application/x-custom');
  });

  test('bodies over the limit get 413, declared or streamed, and the server keeps serving', async () => {
    const big = Buffer.alloc(LIMIT + 1, 'a');
    const declared = await request(port, {
      path: '/Greeter/raw',
      headers: { 'content-type': 'application/octet-stream' },
      body: big,
    });
    expect([declared.status, declared.text]).toEqual([413, 'length limit exceeded']);
    const unknownSvc = await request(port, { path: '/Nope/raw', body: big });
    expect(unknownSvc.status).toBe(413);

    // chunked upload without content-length that keeps going past the limit
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/Greeter/raw',
          headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 'b');
      let sent = 0;
      const pump = () => {
        while (sent < LIMIT * 4) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(streamed).toBe(413);
    expect(backend.calls).toHaveLength(0);
    expect((await request(port, { path: '/Greeter/greet' })).status).toBe(200);
  });

  test('Expect: 100-continue with an oversized body is refused before the body is sent', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/Greeter/raw',
          headers: { 'content-length': String(LIMIT * 10), expect: '100-continue' },
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('continue', () => reject(new Error('server asked for the body')));
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(status).toBe(413);
  });

  test('h2c requests are served on the same port', async () => {
    backend.answer = () => ({ ok: true, value: Buffer.from('"h2"') });
    const r = await requestH2(port, { path: '/Greeter/greet', headers: jsonHeaders, body: '"x"' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('"h2"');
    expect(r.headers['x-restate-id']).toMatch(/^inv_/);
    const big = await requestH2(port, {
      path: '/Greeter/raw',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(LIMIT + 10),
    });
    expect(big.status).toBe(413);
    const nf = await requestH2(port, { path: '/Nope/x' });
    expect(nf.status).toBe(404);
    expect(JSON.parse(nf.text).source).toBe('ingress');
  });

  test('a client that disconnects during a call aborts the wait and crashes nothing', async () => {
    let release: (() => void) | undefined;
    backend.answer = (_req, signal) =>
      new Promise((resolve, reject) => {
        release = () => resolve({ ok: true, value: Buffer.from('1') });
        signal?.addEventListener('abort', () => reject(new Error('aborted')));
      });
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(
      'POST /Greeter/greet HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1\r\n\r\n1',
    );
    await waitFor(() => backend.signals.length === 1);
    socket.destroy();
    await waitFor(() => backend.signals[0].aborted);
    release?.();
    // half-sent request body, then gone
    const s2 = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => s2.once('connect', () => r()));
    s2.write(
      'POST /Greeter/greet HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n12',
    );
    s2.destroy();
    backend.answer = () => ({ ok: true, value: Buffer.from('2') });
    const r = await request(port, { path: '/Greeter/greet' });
    expect([r.status, r.text]).toEqual([200, '2']);
  });

  test('backend failures are 500 (or their status) with an ingress error body', async () => {
    backend.failWith = Object.assign(new Error('partition unavailable'), { status: 503 });
    const r = await request(port, { path: '/Greeter/greet' });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text)).toEqual({ code: 503, message: 'partition unavailable', source: 'ingress' });
    backend.failWith = new Error('boom');
    const s = await request(port, { path: '/Greeter/greet/send' });
    expect(s.status).toBe(500);
    expect(errors.length).toBeGreaterThan(0);
  });

  test('an overloaded backend is answered 503 with Retry-After on call, send and the /restate routes', async () => {
    backend.failWith = new OverloadedError('partition 3 is overloaded; retry later');
    const before = errors.length;
    for (const path of ['/Greeter/greet', '/Greeter/greet/send']) {
      const r = await request(port, { path, headers: jsonHeaders, body: '"x"' });
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('1');
      expect(r.headers['x-restate-error-source']).toBe('ingress');
      expect(JSON.parse(r.text)).toEqual({
        code: 503,
        message: 'partition 3 is overloaded; retry later',
        source: 'ingress',
      });
    }
    const refuse = async (): Promise<never> => {
      throw new OverloadedError('too many requests are attached to this invocation', {
        status: 429,
        retryAfterSeconds: 2.5,
      });
    };
    const routes = invocationRoutes(
      { attach: refuse, completeAwakeable: refuse } as unknown as InvocationBackend,
      new StaticSchema(SERVICES),
    );
    for (const route of routes) server.addRoute(route);
    const attach = await request(port, { method: 'GET', path: '/restate/invocation/inv_1abc/attach' });
    expect([attach.status, attach.headers['retry-after']]).toEqual([429, '3']);
    expect(JSON.parse(attach.text)).toMatchObject({ code: 429, source: 'ingress' });
    const awk = await request(port, { path: '/restate/awakeables/sign_1abc/resolve', body: '"v"' });
    expect([awk.status, awk.headers['retry-after']]).toEqual([429, '3']);
    // Overload is not an internal error: nothing is reported.
    expect(errors.length).toBe(before);
  });

  test('CORS by default: any origin as *, never an echoed origin with credentials', async () => {
    const pre = await request(port, {
      method: 'OPTIONS',
      path: '/Greeter/greet',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, idempotency-key',
      },
    });
    expect(pre.status).toBe(200);
    expect(pre.headers['access-control-allow-origin']).toBe('*');
    expect(pre.headers['access-control-allow-credentials']).toBeUndefined();
    expect(pre.headers['access-control-allow-methods']).toBe('POST');
    expect(pre.headers['access-control-allow-headers']).toBe('content-type, idempotency-key');
    const r = await request(port, { path: '/Greeter/greet', headers: { origin: 'https://evil.example' } });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    // Errors carry the same headers (a browser can read the reason).
    const e = await request(port, { path: '/Nope/greet', headers: { origin: 'https://evil.example' } });
    expect(e.status).toBe(404);
    expect(e.headers['access-control-allow-origin']).toBe('*');
    // h2c too
    const h2 = await requestH2(port, { path: '/Greeter/greet', headers: { origin: 'https://evil.example' } });
    expect(h2.headers['access-control-allow-origin']).toBe('*');
    expect(h2.headers['access-control-allow-credentials']).toBeUndefined();
  });
});

describe('ingress CORS with a list of allowed origins', () => {
  const started: IngressServer[] = [];
  afterEach(async () => {
    for (const s of started.splice(0)) await s.close();
  });
  const start = async (cors: CorsPolicy) => {
    const s = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend: new RecordingBackend(),
      schema: new StaticSchema(SERVICES),
      cors,
      onError: () => {},
    });
    started.push(s);
    return s.port;
  };
  const preflight = (port: number, origin: string) =>
    request(port, {
      method: 'OPTIONS',
      path: '/Greeter/greet',
      headers: { origin, 'access-control-request-method': 'POST' },
    });

  test('a listed origin is echoed (with credentials only when allowed); another gets no CORS headers', async () => {
    const policy = corsPolicy('https://app.example.com, http://localhost:3000', true);
    const port = await start(policy);
    const ok = await preflight(port, 'https://app.example.com');
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    expect(ok.headers['access-control-allow-methods']).toBe('POST');
    expect(ok.headers.vary).toBe('origin');
    const simple = await request(port, { path: '/Greeter/greet', headers: { origin: 'http://localhost:3000' } });
    expect(simple.status).toBe(200);
    expect(simple.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    expect(simple.headers['access-control-allow-credentials']).toBe('true');
    for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'null']) {
      const pre = await preflight(port, origin);
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      expect(pre.headers['access-control-allow-credentials']).toBeUndefined();
      expect(pre.headers['access-control-allow-methods']).toBeUndefined();
      const r = await request(port, { path: '/Greeter/greet', headers: { origin } });
      expect(r.status).toBe(200); // served; the browser keeps the answer from the page
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
      expect(r.headers['access-control-allow-credentials']).toBeUndefined();
      expect(r.headers.vary).toBe('origin');
    }
  });

  test('without allowed credentials a listed origin is echoed without them; none sends no CORS headers', async () => {
    const listed = await start(corsPolicy('https://app.example.com'));
    const r = await request(listed, { path: '/Greeter/greet', headers: { origin: 'https://app.example.com' } });
    expect(r.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    const none = await start(corsPolicy('none'));
    const pre = await preflight(none, 'https://app.example.com');
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const n = await request(none, { path: '/Greeter/greet', headers: { origin: 'https://app.example.com' } });
    expect(n.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('bad origin lists are refused by the parser', () => {
    expect(parseCorsOrigins('*, https://a.example')).toEqual({ error: expect.stringMatching(/cannot be combined/) });
    expect(parseCorsOrigins('https://a.example/path')).toEqual({ error: expect.stringMatching(/is not an origin/) });
    expect(parseCorsOrigins('a.example')).toEqual({ error: expect.stringMatching(/is not an origin/) });
    expect(parseCorsOrigins(' , ')).toEqual({ error: expect.stringMatching(/expected/) });
  });
});
