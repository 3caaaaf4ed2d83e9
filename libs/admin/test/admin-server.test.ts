import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as restate from '@restatedev/restate-sdk';
import type { InvocationBackend, InvocationOutcome, StateReplacement } from '@stead/core';
import { type AdminServer, type DiscoverFn, mountStateRoutes, SchemaRegistry, startAdminServer } from '../src/index.ts';
import { h2Server, pickDiscover, postJson, request } from './helpers.ts';

const greeter = restate.service({
  name: 'Greeter',
  handlers: {
    greet: async (_ctx: restate.Context, name: string) => `hello ${name}`,
    priv: restate.handlers.handler({ ingressPrivate: true }, async (_ctx: restate.Context) => 'p'),
  },
});
const counter = restate.object({
  name: 'Counter',
  handlers: {
    add: async (ctx: restate.ObjectContext, n: number) => {
      const v = ((await ctx.get<number>('v')) ?? 0) + n;
      ctx.set('v', v);
      return v;
    },
    get: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext) => (await ctx.get<number>('v')) ?? 0),
  },
});
const wf = restate.workflow({
  name: 'WF',
  handlers: {
    run: async (_ctx: restate.WorkflowContext) => 'done',
    signal: async (_ctx: restate.WorkflowSharedContext) => 'sig',
  },
});

describe('admin HTTP API', () => {
  let dir: string;
  let discover: DiscoverFn;
  let real = false;
  const seenHeaders: Record<string, unknown>[] = [];
  let sdk: Awaited<ReturnType<typeof h2Server>>;
  let admin: AdminServer;
  let registry: SchemaRegistry;
  /** State replacements that reached the engine; version 'stale' is refused as the partition would. */
  const replaced: StateReplacement[] = [];
  const stateBackend = {
    replaceState: async (r: StateReplacement): Promise<InvocationOutcome> => {
      replaced.push(r);
      return r.version === 'stale'
        ? { ok: false, code: 409, message: 'the state changed since version stale was read' }
        : { ok: true, value: new Uint8Array() };
    },
  } as unknown as InvocationBackend;

  const startAdmin = async () => {
    registry = await SchemaRegistry.open({ dataDir: dir, discover, discoveryTimeoutMs: 5000 });
    admin = await startAdminServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      ingressEndpoint: 'http://127.0.0.1:8080/',
      version: '0.1.0',
      maxBodyBytes: 4096,
      onError: () => {},
      extend: (router) => {
        router.get('/custom/:x', (req) => ({ status: 200, json: { x: req.params.x } }));
        mountStateRoutes(router, registry, stateBackend);
      },
    });
  };

  beforeAll(async () => {
    ({ discover, real } = await pickDiscover());
    // the SDK warns about unsigned requests when it builds the handler; that is expected here
    const warn = console.warn;
    console.warn = () => {};
    const handler = restate.createEndpointHandler({ services: [greeter, counter, wf] });
    console.warn = warn;
    sdk = await h2Server((req, res) => {
      seenHeaders.push(req.headers);
      (handler as unknown as (q: typeof req, r: typeof res) => void)(req, res);
    });
  });

  afterAll(async () => {
    await sdk.close();
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stead-admin-http-'));
    await startAdmin();
  });

  afterEach(async () => {
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('registers a real SDK endpoint (201) and answers the same uri again with 200', async () => {
    const r = await postJson(admin.port, '/deployments', { uri: sdk.url });
    expect(r.status).toBe(201);
    expect(r.headers['content-type']).toBe('application/json');
    const id = r.json.id as string;
    expect(id).toMatch(/^dp_1[0-9A-Za-z]{22}$/);
    expect(r.headers.location).toBe(`deployments/${id}`);
    expect(r.json.min_protocol_version).toBeLessThanOrEqual(5);
    expect(r.json.max_protocol_version).toBeGreaterThanOrEqual(5);
    const names = (r.json.services as { name: string }[]).map((s) => s.name).sort();
    expect(names).toEqual(['Counter', 'Greeter', 'WF']);
    const greeterMeta = r.json.services.find((s: any) => s.name === 'Greeter');
    expect(greeterMeta).toMatchObject({ ty: 'Service', deployment_id: id, revision: 1, public: true });
    expect(greeterMeta.handlers.find((h: any) => h.name === 'greet')).toEqual({
      name: 'greet',
      public: true,
      input_description: 'application/json',
      output_description: 'application/json',
      retry_policy: { max_attempts: null },
    });
    expect(greeterMeta.handlers.find((h: any) => h.name === 'priv').public).toBe(false);
    const counterMeta = r.json.services.find((s: any) => s.name === 'Counter');
    expect(counterMeta.ty).toBe('VirtualObject');
    expect(counterMeta.handlers.find((h: any) => h.name === 'get').ty).toBe('Shared');
    const wfMeta = r.json.services.find((s: any) => s.name === 'WF');
    expect(wfMeta.ty).toBe('Workflow');
    expect(wfMeta.workflow_completion_retention).toBe('1d');

    const again = await postJson(admin.port, '/deployments', { uri: `${sdk.url}/` });
    expect(again.status).toBe(200);
    expect(again.json.id).toBe(id);

    const forced = await postJson(admin.port, '/deployments', { uri: sdk.url, force: true });
    expect(forced.status).toBe(200);
    expect(forced.json.id).toBe(id);
    expect(forced.json.services[0].revision).toBe(2);
  });

  test('lists and gets deployments and services', async () => {
    const id = (await postJson(admin.port, '/deployments', { uri: sdk.url, additional_headers: { 'X-Key': 'k' } })).json
      .id as string;

    const list = await request(admin.port, { path: '/deployments' });
    expect(list.status).toBe(200);
    expect(list.json.deployments).toHaveLength(1);
    const dep = list.json.deployments[0];
    expect(dep).toMatchObject({
      id,
      uri: `${sdk.url}/`,
      protocol_type: 'BidiStream',
      http_version: 'HTTP/2.0',
      additional_headers: { 'x-key': '***' },
    });
    expect(dep.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(dep.services).toEqual(
      expect.arrayContaining([
        { name: 'Greeter', revision: 1 },
        { name: 'Counter', revision: 1 },
      ]),
    );

    const one = await request(admin.port, { path: `/deployments/${id}` });
    expect(one.status).toBe(200);
    expect(one.json.services.find((s: any) => s.name === 'Greeter').handlers.length).toBe(2);

    const missing = await request(admin.port, { path: '/deployments/dp_16xl0t9NCj52mqJLyea4Grg' });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({
      message: "The requested deployment 'dp_16xl0t9NCj52mqJLyea4Grg' does not exist",
      restate_code: null,
    });
    const malformed = await request(admin.port, { path: '/deployments/xyz' });
    expect(malformed.status).toBe(400);

    const services = await request(admin.port, { path: '/services' });
    expect(services.json.services.map((s: any) => s.name).sort()).toEqual(['Counter', 'Greeter', 'WF']);
    const g = await request(admin.port, { path: '/services/Greeter' });
    expect(g.json).toMatchObject({
      name: 'Greeter',
      ty: 'Service',
      deployment_id: id,
      revision: 1,
      public: true,
      idempotency_retention: '1d',
      journal_retention: '1d',
      inactivity_timeout: '1m',
      abort_timeout: '10m',
      enable_lazy_state: false,
    });
    const handlers = await request(admin.port, { path: '/services/Counter/handlers' });
    expect(handlers.json.handlers.map((h: any) => h.name).sort()).toEqual(['add', 'get']);
    const h = await request(admin.port, { path: '/services/Counter/handlers/add' });
    expect(h.json).toMatchObject({ name: 'add', ty: 'Exclusive', public: true });

    const noSvc = await request(admin.port, { path: '/services/Nope' });
    expect([noSvc.status, noSvc.json]).toEqual([
      404,
      { message: "The requested service 'Nope' does not exist", restate_code: null },
    ]);
    const noHandler = await request(admin.port, { path: '/services/Counter/handlers/nope' });
    expect([noHandler.status, noHandler.json.message]).toEqual([
      404,
      "The requested handler 'nope' on service 'Counter' does not exist",
    ]);
    // the versioned prefix the Restate CLI uses
    expect((await request(admin.port, { path: '/v2/services/Greeter' })).status).toBe(200);
  });

  test('deletion needs force=true (501 otherwise), then 202, then 404', async () => {
    const id = (await postJson(admin.port, '/deployments', { uri: sdk.url })).json.id as string;
    const graceful = await request(admin.port, { method: 'DELETE', path: `/deployments/${id}` });
    expect(graceful.status).toBe(501);
    expect((await request(admin.port, { method: 'DELETE', path: `/deployments/${id}?force=false` })).status).toBe(501);
    expect((await request(admin.port, { method: 'DELETE', path: `/deployments/${id}?force=yes` })).status).toBe(400);
    const forced = await request(admin.port, { method: 'DELETE', path: `/deployments/${id}?force=true` });
    expect([forced.status, forced.text]).toEqual([202, '']);
    const gone = await request(admin.port, { method: 'DELETE', path: `/deployments/${id}?force=true` });
    expect(gone.status).toBe(404);
    expect(gone.json.message).toBe(`not found in the schema registry: deployment with id '${id}'`);
    expect((await request(admin.port, { path: '/services' })).json.services).toEqual([]);
  });

  test('bad registration input: malformed JSON, missing uri, wrong content type, bad uri, oversized body', async () => {
    const bad = await request(admin.port, {
      method: 'POST',
      path: '/deployments',
      headers: { 'content-type': 'application/json' },
      body: '{"uri":',
    });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/^Failed to parse the request body as JSON/);
    const missing = await postJson(admin.port, '/deployments', {});
    expect(missing.status).toBe(422);
    expect(missing.json.message).toContain('uri');
    const wrongType = await postJson(admin.port, '/deployments', { uri: sdk.url, force: 'yes' });
    expect(wrongType.status).toBe(422);
    const notJson = await request(admin.port, { method: 'POST', path: '/deployments', body: `{"uri":"${sdk.url}"}` });
    expect(notJson.status).toBe(415);
    const relative = await postJson(admin.port, '/deployments', { uri: '127.0.0.1:1' });
    expect(relative.status).toBe(400);
    expect(relative.json.message).toContain('only absolute URIs can be used');
    const huge = await postJson(admin.port, '/deployments', { uri: sdk.url, pad: 'x'.repeat(10_000) });
    expect(huge.status).toBe(413);
    expect((await request(admin.port, { path: '/deployments' })).json.deployments).toEqual([]);
  });

  test('additional headers are sent to the endpoint but never echoed by the API', async () => {
    const secret = 'Bearer s3cr3t-token-value';
    seenHeaders.length = 0;
    const reg = await postJson(admin.port, '/deployments', {
      uri: sdk.url,
      additional_headers: { Authorization: secret, 'x-api-key': 'key-123456' },
    });
    expect(reg.status).toBe(201);
    const id = reg.json.id as string;
    // sent with discovery
    expect(seenHeaders.some((h) => h.authorization === secret && h['x-api-key'] === 'key-123456')).toBe(true);
    const outputs = [
      reg.text,
      (await request(admin.port, { path: '/deployments' })).text,
      (await request(admin.port, { path: `/deployments/${id}` })).text,
      (await request(admin.port, { path: '/v2/deployments' })).text,
      (await postJson(admin.port, '/deployments', { uri: sdk.url })).text, // same uri again: 200 with it
      (await request(admin.port, { path: '/services' })).text,
      (await request(admin.port, { path: '/services/Greeter' })).text,
    ];
    for (const text of outputs) {
      expect(text).not.toContain('s3cr3t');
      expect(text).not.toContain('key-123456');
    }
    const dep = (await request(admin.port, { path: `/deployments/${id}` })).json;
    expect(dep.additional_headers).toEqual({ authorization: '***', 'x-api-key': '***' });
    // still stored for invoking the deployment
    expect(registry.deployment(id)?.additionalHeaders).toEqual({ authorization: secret, 'x-api-key': 'key-123456' });
  });

  test('link-local and cloud metadata addresses are refused (400) unless allowed; nothing registered', async () => {
    for (const uri of [
      'http://169.254.169.254/',
      'http://169.254.10.1:9080/',
      'http://2852039166:9080/', // 169.254.169.254 as a number
      'http://[fe80::1]:9080/',
      'http://[fd00:ec2::254]/',
      'http://[::ffff:169.254.169.254]/',
      'http://metadata.google.internal/computeMetadata/v1',
      'http://METADATA.google.internal./',
    ]) {
      const r = await postJson(admin.port, '/deployments', { uri });
      expect({ uri, status: r.status }).toEqual({ uri, status: 400 });
      expect(r.json.message).toMatch(/link-local or cloud metadata|cloud metadata host name/);
      expect(r.json.message).toMatch(/--allow-link-local-deployments/);
    }
    expect((await request(admin.port, { path: '/deployments' })).json.deployments).toEqual([]);
    expect((await request(admin.port, { path: '/health' })).status).toBe(200);
  });

  test('an oversized discovery answer is a 400; the server keeps serving', async () => {
    if (!real) return; // the size cap is the real discovery client's
    await admin.close();
    registry = await SchemaRegistry.open({ dataDir: dir, discover, maxDiscoveryResponseBytes: 64 * 1024 });
    admin = await startAdminServer({ port: 0, host: '127.0.0.1', registry, onError: () => {} });
    const manifest = (padding: number) =>
      JSON.stringify({
        protocolMode: 'BIDI_STREAM',
        minProtocolVersion: 5,
        maxProtocolVersion: 5,
        services: [{ name: 'Big', ty: 'SERVICE', handlers: [{ name: 'h', documentation: 'x'.repeat(padding) }] }],
      });
    let chunked = false;
    const big = await h2Server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.restate.endpointmanifest.v3+json' });
      if (chunked) {
        // no content-length: streamed until the client gives up
        const chunk = 'x'.repeat(16 * 1024);
        for (let i = 0; i < 16; i++) res.write(chunk);
        res.end();
      } else res.end(manifest(200 * 1024));
    });
    try {
      for (const streamed of [false, true]) {
        chunked = streamed;
        const r = await postJson(admin.port, '/deployments', { uri: big.url });
        expect(r.status).toBe(400);
        expect(r.json.message).toMatch(/is larger than the limit of 65536 bytes/);
      }
      // a manifest under the limit is fine
      const small = await h2Server((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/vnd.restate.endpointmanifest.v3+json' });
        res.end(manifest(1000));
      });
      try {
        expect((await postJson(admin.port, '/deployments', { uri: small.url })).status).toBe(201);
      } finally {
        await small.close();
      }
    } finally {
      await big.close();
    }
    expect((await request(admin.port, { path: '/health' })).status).toBe(200);
  });

  test('unreachable endpoint: error with a clear message, nothing registered', async () => {
    const closed = await h2Server(() => {});
    const url = closed.url;
    await closed.close();
    const r = await postJson(admin.port, '/deployments', { uri: url });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(600);
    expect(typeof r.json.message).toBe('string');
    expect(r.json.message.length).toBeGreaterThan(0);
    expect((await request(admin.port, { path: '/deployments' })).json.deployments).toEqual([]);
  });

  test('malformed manifest: 4xx/5xx with the reason, nothing registered, server keeps serving', async () => {
    const bogus = await h2Server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.restate.endpointmanifest.v3+json' });
      res.end('{"services": [ nope');
    });
    try {
      const r = await postJson(admin.port, '/deployments', { uri: bogus.url });
      expect([400, 500]).toContain(r.status);
      expect(typeof r.json.message).toBe('string');
    } finally {
      await bogus.close();
    }
    const old = await h2Server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.restate.endpointmanifest.v3+json' });
      res.end(
        JSON.stringify({
          protocolMode: 'BIDI_STREAM',
          minProtocolVersion: 1,
          maxProtocolVersion: 2,
          services: [{ name: 'Old', ty: 'SERVICE', handlers: [{ name: 'h' }] }],
        }),
      );
    });
    try {
      const r = await postJson(admin.port, '/deployments', { uri: old.url });
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.json.message).toMatch(/protocol/);
    } finally {
      await old.close();
    }
    expect((await request(admin.port, { path: '/deployments' })).json.deployments).toEqual([]);
    expect((await request(admin.port, { path: '/health' })).status).toBe(200);
  });

  test('state replacement: 202 once applied, 409 from the engine, 404/400/422 for what has no state', async () => {
    expect((await postJson(admin.port, '/deployments', { uri: sdk.url })).status).toBe(201);
    replaced.length = 0;
    const post = (service: string, body: unknown) => postJson(admin.port, `/v3/services/${service}/state`, body);
    const r = await post('Counter', { object_key: 'a', new_state: { v: [52, 50] }, version: null, scope: null });
    expect(r.status).toBe(202);
    expect((await post('WF', { object_key: 'w', new_state: {}, version: 'v1' })).status).toBe(202);
    expect(
      replaced.map((x) => ({ ...x, state: x.state.map(([k, v]) => [Buffer.from(k).toString(), [...v]]) })),
    ).toEqual([
      { service: 'Counter', key: 'a', serviceType: 'VIRTUAL_OBJECT', state: [['v', [52, 50]]] },
      { service: 'WF', key: 'w', serviceType: 'WORKFLOW', state: [], version: 'v1' },
    ]);
    const stale = await post('Counter', { object_key: 'a', new_state: {}, version: 'stale' });
    expect(stale.status).toBe(409);
    expect(stale.json.message).toContain('changed since version stale');
    replaced.length = 0;
    expect((await post('Nope', { object_key: 'a', new_state: {} })).status).toBe(404);
    const plain = await post('Greeter', { object_key: 'a', new_state: {} });
    expect(plain.status).toBe(400);
    expect(plain.json.message).toContain('only virtual objects and workflows have state');
    const bad = await post('Counter', { object_key: 'a', new_state: { v: [256] } });
    expect(bad.status).toBe(422);
    expect(bad.json.message).toContain('new_state.v');
    expect((await post('Counter', { new_state: {} })).status).toBe(422);
    expect((await post('Counter', { object_key: 'a', new_state: {}, scope: 's' })).status).toBe(400);
    expect(replaced).toEqual([]); // none of the refused requests reached the engine
  });

  test('dry run discovers without registering', async () => {
    const r = await postJson(admin.port, '/deployments', { uri: sdk.url, dry_run: true });
    expect(r.status).toBe(201);
    expect(r.json.services.length).toBe(3);
    expect((await request(admin.port, { path: '/deployments' })).json.deployments).toEqual([]);
  });

  test('health, version, openapi, unknown paths and methods, extension routes', async () => {
    const health = await request(admin.port, { path: '/health' });
    expect([health.status, health.text]).toEqual([200, '']);
    const version = await request(admin.port, { path: '/version' });
    expect(version.json).toEqual({
      version: '0.1.0',
      min_admin_api_version: 2,
      max_admin_api_version: 4,
      ingress_endpoint: 'http://127.0.0.1:8080/',
      features: { protocol_v7: true },
    });
    const openapi = await request(admin.port, { path: '/openapi' });
    expect(openapi.json.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.json.paths)).toEqual(
      expect.arrayContaining(['/deployments', '/deployments/{deployment}', '/services', '/version', '/health']),
    );
    const nf = await request(admin.port, { path: '/nope' });
    expect(nf.status).toBe(404);
    expect(typeof nf.json.message).toBe('string');
    const put = await request(admin.port, { method: 'PUT', path: '/deployments' });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET,HEAD,POST');
    expect((await request(admin.port, { path: '/custom/a%20b' })).json).toEqual({ x: 'a b' });
    admin.router.get('/late', () => ({ status: 204 }));
    expect((await request(admin.port, { path: '/late' })).status).toBe(204);
  });

  test('registrations survive a restart of the admin on the same data dir', async () => {
    const id = (await postJson(admin.port, '/deployments', { uri: sdk.url })).json.id as string;
    const before = (await request(admin.port, { path: '/services' })).json;
    await admin.close();
    await startAdmin();
    const deps = (await request(admin.port, { path: '/deployments' })).json.deployments;
    expect(deps.map((d: any) => d.id)).toEqual([id]);
    expect((await request(admin.port, { path: '/services' })).json).toEqual(before);
    expect(registry.service('Greeter')?.deploymentId).toBe(id);
  });
});
