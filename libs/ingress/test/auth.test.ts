import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import {
  hashToken,
  type InvocationBackend,
  type InvocationQuery,
  parseTokenFile,
  TokenAuthenticator,
} from '@stead/core';
import { Cleanup, requestWithContinue } from '@stead/testing';
import {
  INGRESS_ROUTE_SCOPES,
  type IngressServer,
  ingressRouteScope,
  invocationRoutes,
  startIngressServer,
} from '../src/index.ts';
import { RecordingBackend, request, SERVICES, StaticSchema } from './helpers.ts';

const tokens = {
  invoke: 'tok-invoke',
  attach: 'tok-attach',
  admin: 'tok-admin',
};
const TOKEN_FILE = JSON.stringify({
  tokens: [
    { name: 'invoker', hash: hashToken(tokens.invoke), scopes: ['ingress:invoke'] },
    { name: 'watcher', hash: hashToken(tokens.attach), scopes: ['ingress:attach'] },
    { name: 'operator', hash: hashToken(tokens.admin), scopes: ['admin:read', 'admin:write'] },
  ],
});
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const json = { 'content-type': 'application/json' };

describe('ingress route scopes (the table)', () => {
  test('invocations need ingress:invoke, attach/output ingress:attach, awakeables ingress:invoke', () => {
    const cases: [string, string, string][] = [
      ['POST', '/Greeter/greet', 'ingress:invoke'],
      ['GET', '/Greeter/greet', 'ingress:invoke'],
      ['POST', '/Greeter/greet/send', 'ingress:invoke'],
      ['POST', '/Counter/k/add', 'ingress:invoke'],
      ['POST', '/WF/wf-1/run/send', 'ingress:invoke'],
      ['POST', '/nope', 'ingress:invoke'],
      ['GET', '/restate/health', 'open'],
      ['GET', '/restate/invocation/inv_1abc/attach', 'ingress:attach'],
      ['GET', '/restate/invocation/inv_1abc/output', 'ingress:attach'],
      ['GET', '/restate/workflow/WF/wf-1/attach', 'ingress:attach'],
      ['GET', '/restate/workflow/WF/wf-1/output', 'ingress:attach'],
      ['GET', '/restate/invocation/Greeter/greet/idem-1/attach', 'ingress:attach'],
      ['GET', '/restate/invocation/Counter/k/add/idem-1/output', 'ingress:attach'],
      ['POST', '/restate/awakeables/sign_1abc/resolve', 'ingress:invoke'],
      ['POST', '/restate/awakeables/sign_1abc/reject', 'ingress:invoke'],
      ['POST', '/restate/a/sign_1abc/resolve', 'ingress:invoke'],
      ['POST', '/restate/a/sign_1abc/reject', 'ingress:invoke'],
      ['POST', '/restate/call/Greeter/greet', 'ingress:invoke'],
      ['GET', '/restate/call/Counter/k/get', 'ingress:invoke'],
      ['POST', '/restate/send/Greeter/greet', 'ingress:invoke'],
      ['POST', '/restate/send/WF/wf-1/run', 'ingress:invoke'],
      ['POST', '/restate/attach', 'ingress:attach'],
      ['POST', '/restate/output', 'ingress:attach'],
      ['POST', '/restate/lookup', 'ingress:attach'],
      ['GET', '/restate/attach/inv_1abc', 'ingress:attach'],
      ['GET', '/restate/output/inv_1abc', 'ingress:attach'],
      ['GET', '/restate/lookup', 'any'],
      ['POST', '/restate/call/Greeter', 'any'],
      ['POST', '/restate/invocation/inv_1abc/attach', 'any'],
      ['GET', '/restate/unknown', 'any'],
    ];
    expect(cases.map(([m, p]) => [m, p, ingressRouteScope(m, p)])).toEqual(cases);
  });

  test('every route the engine mounts has a row, and a route without one cannot be mounted', async () => {
    const routes = invocationRoutes({} as InvocationBackend, new StaticSchema(SERVICES));
    for (const r of routes)
      expect(INGRESS_ROUTE_SCOPES).toContainEqual({ method: r.method, pattern: r.pattern, scope: expect.any(String) });
    await expect(
      startIngressServer({
        port: 0,
        host: '127.0.0.1',
        backend: new RecordingBackend(),
        schema: new StaticSchema(SERVICES),
        routes: [{ method: 'DELETE', pattern: '/restate/everything', handler: () => ({ status: 200 }) }],
      }),
    ).rejects.toThrow('ingress route DELETE /restate/everything has no entry in INGRESS_ROUTE_SCOPES');
  });
});

describe('ingress with bearer tokens', () => {
  const cleanup = new Cleanup();
  let server: IngressServer;
  let backend: RecordingBackend;
  let attached: InvocationQuery[];
  let completed: string[];
  let port: number;

  beforeEach(async () => {
    backend = new RecordingBackend();
    attached = [];
    completed = [];
    const engine = {
      attach: async (q: InvocationQuery) => {
        attached.push(q);
        return { invocationId: 'inv_1abc', outcome: { ok: true, value: Buffer.from('"done"') } };
      },
      completeAwakeable: async (id: string) => {
        completed.push(id);
      },
    } as unknown as InvocationBackend;
    const dir = cleanup.tempDir();
    writeFileSync(join(dir, 'tokens.json'), TOKEN_FILE);
    const auth = TokenAuthenticator.open(join(dir, 'tokens.json'));
    cleanup.add(() => auth.close());
    server = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend,
      schema: new StaticSchema(SERVICES),
      routes: invocationRoutes(engine, new StaticSchema(SERVICES)),
      auth,
      onError: () => {},
    });
    cleanup.add(() => server.close());
    port = server.port;
  });
  afterEach(() => cleanup.run());

  test('no token: 401 with a Bearer challenge and a message; nothing is started', async () => {
    for (const [method, path] of [
      ['POST', '/Greeter/greet'],
      ['POST', '/Greeter/greet/send'],
      ['GET', '/restate/invocation/inv_1abc/attach'],
      ['POST', '/restate/awakeables/sign_1abc/resolve'],
    ]) {
      const r = await request(port, { method, path, headers: json, body: method === 'GET' ? undefined : '"x"' });
      expect([method, path, r.status, r.headers['www-authenticate']]).toEqual([method, path, 401, 'Bearer']);
      expect(JSON.parse(r.text).message).toBe(
        'authentication required: missing the header Authorization: Bearer <token>',
      );
    }
    const wrong = await request(port, { path: '/Greeter/greet', headers: { ...json, ...bearer('guess') }, body: '1' });
    expect([wrong.status, JSON.parse(wrong.text).message]).toEqual([
      401,
      'authentication failed: the bearer token is not valid',
    ]);
    expect([backend.calls.length, backend.sends.length, attached.length, completed.length]).toEqual([0, 0, 0, 0]);
  });

  test('a token without the scope: 403 naming it; with it, the request goes through', async () => {
    const denied = await request(port, {
      path: '/Greeter/greet',
      headers: { ...json, ...bearer(tokens.attach) },
      body: '"x"',
    });
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.text).message).toBe(
      "the token 'watcher' lacks the scope ingress:invoke, which this request requires",
    );
    const admin = await request(port, { path: '/Greeter/greet', headers: { ...json, ...bearer(tokens.admin) } });
    expect(admin.status).toBe(403);
    expect(backend.calls).toHaveLength(0);

    const ok = await request(port, {
      path: '/Greeter/greet',
      headers: { ...json, ...bearer(tokens.invoke) },
      body: '1',
    });
    expect(ok.status).toBe(200);
    expect(backend.calls).toHaveLength(1);
    const sent = await request(port, {
      path: '/Counter/k/add/send',
      headers: { ...json, ...bearer(tokens.invoke) },
      body: '1',
    });
    expect(sent.status).toBe(202);

    const attachDenied = await request(port, {
      method: 'GET',
      path: '/restate/invocation/inv_1abc/attach',
      headers: bearer(tokens.invoke),
    });
    expect([attachDenied.status, JSON.parse(attachDenied.text).message]).toEqual([
      403,
      "the token 'invoker' lacks the scope ingress:attach, which this request requires",
    ]);
    expect(attached).toHaveLength(0);
    const attach = await request(port, {
      method: 'GET',
      path: '/restate/workflow/WF/wf-1/output',
      headers: bearer(tokens.attach),
    });
    expect([attach.status, attach.text]).toEqual([200, '"done"']);
    expect(attached).toEqual([{ workflow: { name: 'WF', key: 'wf-1' } }]);

    expect(
      (await request(port, { path: '/restate/awakeables/sign_1abc/reject', headers: bearer(tokens.attach), body: 'x' }))
        .status,
    ).toBe(403);
    const resolved = await request(port, {
      path: '/restate/awakeables/sign_1abc/resolve',
      headers: bearer(tokens.invoke),
      body: '1',
    });
    expect(resolved.status).toBe(202);
    expect(completed).toEqual(['sign_1abc']);
  });

  test('the /restate/call|send forms need ingress:invoke; attach/output/lookup by body need ingress:attach', async () => {
    const invokeDenied = await request(port, {
      path: '/restate/send/Greeter/greet',
      headers: { ...json, ...bearer(tokens.attach) },
      body: '"x"',
    });
    expect(invokeDenied.status).toBe(403);
    expect((await request(port, { path: '/restate/call/Greeter/greet', headers: json, body: '"x"' })).status).toBe(401);
    expect([backend.calls.length, backend.sends.length]).toEqual([0, 0]);
    const call = await request(port, {
      path: '/restate/call/Greeter/greet',
      headers: { ...json, ...bearer(tokens.invoke) },
      body: '"x"',
    });
    expect([call.status, backend.calls.length]).toEqual([200, 1]);

    const body = JSON.stringify({ target: 'workflow', workflowName: 'WF', workflowKey: 'wf-2' });
    for (const op of ['attach', 'output', 'lookup']) {
      const denied = await request(port, {
        path: `/restate/${op}`,
        headers: { ...json, ...bearer(tokens.invoke) },
        body,
      });
      expect([op, denied.status]).toEqual([op, 403]);
    }
    expect(attached).toHaveLength(0);
    const output = await request(port, {
      path: '/restate/output',
      headers: { ...json, ...bearer(tokens.attach) },
      body,
    });
    expect([output.status, output.text]).toEqual([200, '"done"']);
    expect(attached).toEqual([{ workflow: { name: 'WF', key: 'wf-2' } }]);
    const lookup = await request(port, {
      path: '/restate/lookup',
      headers: { ...json, ...bearer(tokens.attach) },
      body,
    });
    expect(lookup.status).toBe(200);
  });

  test('health stays open; an unknown /restate route is 401 without a token and 404 with any valid one', async () => {
    expect((await request(port, { method: 'GET', path: '/restate/health' })).status).toBe(200);
    expect((await request(port, { method: 'GET', path: '/restate/nothing' })).status).toBe(401);
    expect(
      (await request(port, { method: 'GET', path: '/restate/nothing', headers: bearer(tokens.attach) })).status,
    ).toBe(404);
    // A CORS preflight carries no credentials: it is answered without one.
    const pre = await request(port, {
      method: 'OPTIONS',
      path: '/Greeter/greet',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.status).toBe(200);
  });

  test('Expect: 100-continue without a token is refused before the body is sent', async () => {
    const answer = await requestWithContinue(
      (o: http.RequestOptions) => http.request(o),
      { host: '127.0.0.1', port, method: 'POST', path: '/Greeter/greet', headers: json },
      '"x"',
    );
    expect(answer).toEqual({ status: 401, continued: false });
    expect(backend.calls).toHaveLength(0);
  });
});

describe('headers never journaled', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  async function headersPassed(unjournaledHeaders: string[] | undefined): Promise<[string, string][]> {
    const backend = new RecordingBackend();
    const server = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend,
      schema: new StaticSchema(SERVICES),
      unjournaledHeaders,
    });
    cleanup.add(() => server.close());
    const r = await request(server.port, {
      path: '/Greeter/greet',
      headers: {
        ...json,
        Authorization: 'Bearer secret-token',
        Cookie: 'session=secret-cookie',
        'X-Keep': 'kept',
        'X-Api-Key': 'k',
      },
      body: '1',
    });
    expect(r.status).toBe(200);
    return backend.calls[0].headers;
  }

  test('authorization and cookie are dropped by default; other headers pass', async () => {
    const headers = await headersPassed(undefined);
    const names = headers.map(([n]) => n);
    expect(names).not.toContain('authorization');
    expect(names).not.toContain('cookie');
    expect(headers).toContainEqual(['x-keep', 'kept']);
    expect(headers).toContainEqual(['x-api-key', 'k']);
    expect(JSON.stringify(headers)).not.toMatch(/secret/);
  });

  test('the list is configurable, in any case', async () => {
    const names = (await headersPassed(['X-API-KEY'])).map(([n]) => n);
    expect(names).toContain('authorization');
    expect(names).toContain('cookie');
    expect(names).not.toContain('x-api-key');
  });

  test('the token file format used here is valid', () => {
    expect(parseTokenFile(TOKEN_FILE)).toHaveLength(3);
  });
});
