// The rest of Restate 1.7's admin API surface: PATCH /deployments/{id}, GET /services/{service}/openapi,
// GET /cluster-health, and the answers for features Stead does not have (Kafka, limits, virtual queues).

import { mkdtemp, rm } from 'node:fs/promises';
import type http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as restate from '@restatedev/restate-sdk';
import type { IntrospectionSource, InvocationBackend } from '@stead/core';
import type { MetadataClient } from '@stead/metadata';
import {
  ADMIN_OPENAPI,
  AdminRouter,
  type AdminServer,
  type DiscoverFn,
  mountInvocationRoutes,
  mountMetadataRoutes,
  mountScheduleRoutes,
  mountSchemaRoutes,
  mountStateRoutes,
  SchemaRegistry,
  startAdminServer,
} from '../src/index.ts';
import { h2Server, pickDiscover, postJson, request } from './helpers.ts';

const shop = restate.service({
  name: 'Shop',
  handlers: {
    buy: async (_ctx: restate.Context, order: { item: string }) => `bought ${order.item}`,
    blob: restate.handlers.handler(
      { input: restate.serde.binary, output: restate.serde.binary },
      async (_ctx: restate.Context, b: Uint8Array) => b,
    ),
    internal: restate.handlers.handler({ ingressPrivate: true }, async (_ctx: restate.Context) => 'hidden'),
  },
});
const cart = restate.object({
  name: 'Cart',
  handlers: {
    add: async (_ctx: restate.ObjectContext, item: string) => item,
    view: restate.handlers.object.shared(async (_ctx: restate.ObjectSharedContext) => []),
  },
});
const signup = restate.workflow({
  name: 'Signup',
  handlers: {
    run: async (_ctx: restate.WorkflowContext) => 'done',
    confirm: async (_ctx: restate.WorkflowSharedContext) => 'ok',
  },
});
// Same names as Shop, but an object: serving this at Shop's deployment address is a type change.
const shopAsObject = restate.object({ name: 'Shop', handlers: { buy: async (_ctx: restate.ObjectContext) => 'x' } });

type Server = Awaited<ReturnType<typeof h2Server>>;

/** An SDK endpoint that records the headers of every discovery request it answers. */
async function sdkEndpoint(services: restate.ServiceDefinition<string, unknown>[]) {
  const warn = console.warn;
  console.warn = () => {};
  const handler = restate.createEndpointHandler({ services: services as never });
  console.warn = warn;
  const discoveries: http2.IncomingHttpHeaders[] = [];
  const server = await h2Server((req, res) => {
    if (req.url.endsWith('/discover')) discoveries.push(req.headers);
    (handler as (a: unknown, b: unknown) => void)(req, res);
  });
  return { server, discoveries };
}

describe('admin API surface of Restate 1.7', () => {
  let dir: string;
  let discover: DiscoverFn;
  let admin: AdminServer;
  const servers: Server[] = [];
  let first: Awaited<ReturnType<typeof sdkEndpoint>>;
  let twin: Awaited<ReturnType<typeof sdkEndpoint>>;
  let other: Awaited<ReturnType<typeof sdkEndpoint>>;
  let clash: Awaited<ReturnType<typeof sdkEndpoint>>;

  const patch = (path: string, body: unknown) =>
    request(admin.port, {
      method: 'PATCH',
      path,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    discover = (await pickDiscover()).discover;
    first = await sdkEndpoint([shop, cart, signup]);
    twin = await sdkEndpoint([shop, cart, signup]);
    other = await sdkEndpoint([cart]);
    clash = await sdkEndpoint([shopAsObject, cart, signup]);
    servers.push(first.server, twin.server, other.server, clash.server);
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stead-admin-surface-'));
    const registry = await SchemaRegistry.open({ dataDir: dir, discover, discoveryTimeoutMs: 5000 });
    admin = await startAdminServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      ingressEndpoint: 'http://127.0.0.1:8080/',
      // /cluster-health reads only the members; the key/value routes (and so the client) are not used here.
      extend: (router) => mountMetadataRoutes(router, { client: {} as MetadataClient }),
    });
  });
  afterEach(async () => {
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  });

  const register = async (url: string): Promise<string> => {
    const res = await postJson(admin.port, '/deployments', { uri: url });
    expect(res.status).toBe(201);
    return res.json.id as string;
  };

  describe('PATCH /deployments/{id}', () => {
    it('moves a deployment to another address serving the same services, keeping its id and schemas', async () => {
      const id = await register(first.server.url);
      const before = (await request(admin.port, { path: `/deployments/${id}` })).json;
      const res = await patch(`/v3/deployments/${id}`, { uri: twin.server.url, additional_headers: { 'x-team': 'a' } });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ id, uri: `${twin.server.url}/`, additional_headers: { 'x-team': '***' } });
      // Discovery at the new address carried the new headers.
      expect(twin.discoveries.at(-1)?.['x-team']).toBe('a');
      const after = (await request(admin.port, { path: `/deployments/${id}` })).json;
      expect(after.uri).toBe(`${twin.server.url}/`);
      expect(after.created_at).toBe(before.created_at);
      expect(after.services.map((s: { revision: number }) => s.revision)).toEqual(
        before.services.map((s: { revision: number }) => s.revision),
      );
      expect((await request(admin.port, { path: '/deployments' })).json.deployments).toHaveLength(1);
    });

    it('refuses an address that no longer serves the services (409) unless overwrite, which replaces them', async () => {
      const id = await register(first.server.url);
      const refused = await patch(`/deployments/${id}`, { uri: other.server.url });
      expect(refused.status).toBe(409);
      expect(refused.json.message).toContain("does not serve service 'Shop'");
      expect(refused.json.message).toContain('overwrite');
      const typeChange = await patch(`/deployments/${id}`, { uri: clash.server.url });
      expect(typeChange.status).toBe(409);
      expect(typeChange.json.message).toContain("serves 'Shop' as a VirtualObject, not a Service");
      expect((await request(admin.port, { path: `/deployments/${id}` })).json.uri).toBe(`${first.server.url}/`);

      const dry = await patch(`/deployments/${id}`, { uri: other.server.url, overwrite: true, dry_run: true });
      expect(dry.status).toBe(200);
      expect(dry.json.services.map((s: { name: string }) => s.name)).toEqual(['Cart']);
      expect((await request(admin.port, { path: '/services/Shop' })).status).toBe(200);

      const over = await patch(`/deployments/${id}`, { uri: other.server.url, overwrite: true });
      expect(over.status).toBe(200);
      expect(over.json.services.map((s: { name: string }) => s.name)).toEqual(['Cart']);
      expect((await request(admin.port, { path: '/services/Shop' })).status).toBe(404);
      expect((await request(admin.port, { path: '/services/Cart' })).json.revision).toBe(2);
    });

    it('answers bad requests with a status and a message', async () => {
      const id = await register(first.server.url);
      const second = await register(twin.server.url);
      const taken = await patch(`/deployments/${id}`, { uri: twin.server.url });
      expect(taken.status).toBe(409);
      expect(taken.json.message).toContain(second);
      expect((await patch('/deployments/dp_11111111111111111111111', {})).status).toBe(404);
      expect((await patch('/deployments/nope', {})).status).toBe(400);
      expect((await patch(`/deployments/${id}`, { arn: 'arn:aws:lambda:us-east-1:1:function:f:1' })).status).toBe(400);
      expect((await patch(`/deployments/${id}`, { overwrite: 'yes' })).status).toBe(422);
      expect((await patch(`/deployments/${id}`, { additional_headers: { 'bad name': 'x' } })).status).toBe(422);
      expect((await patch(`/deployments/${id}`, { uri: 'ftp://x' })).status).toBe(400);
      const unreachable = await patch(`/deployments/${id}`, { uri: 'http://127.0.0.1:1' });
      expect(unreachable.status).toBe(503);
      expect((await request(admin.port, { path: `/deployments/${id}` })).json.uri).toBe(`${first.server.url}/`);
    });
  });

  describe('GET /services/{service}/openapi', () => {
    beforeEach(() => register(first.server.url));

    it('describes the call, send and idempotent attach/output routes of a service', async () => {
      const res = await request(admin.port, { path: '/services/Shop/openapi' });
      expect(res.status).toBe(200);
      const doc = res.json;
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.info.title).toBe('Shop');
      expect(doc.servers).toEqual([expect.objectContaining({ url: 'http://127.0.0.1:8080/' })]);
      expect(Object.keys(doc.paths).sort()).toEqual([
        '/restate/call/Shop/blob',
        '/restate/call/Shop/buy',
        '/restate/invocation/Shop/blob/{idempotencyKey}/attach',
        '/restate/invocation/Shop/blob/{idempotencyKey}/output',
        '/restate/invocation/Shop/buy/{idempotencyKey}/attach',
        '/restate/invocation/Shop/buy/{idempotencyKey}/output',
        '/restate/send/Shop/blob',
        '/restate/send/Shop/buy',
      ]);
      const blob = doc.paths['/restate/call/Shop/blob'].post;
      expect(Object.keys(blob.requestBody.content)).toEqual(['application/octet-stream']);
      expect(Object.keys(blob.responses['200'].content)).toEqual(['application/octet-stream']);
      expect(Object.keys(doc.paths['/restate/call/Shop/buy'].post.requestBody.content)).toEqual(['application/json']);
      const send = doc.paths['/restate/send/Shop/buy'].post;
      expect(send.parameters.map((p: { $ref: string }) => p.$ref.split('/').at(-1))).toEqual([
        'idempotencyKeyHeader',
        'delay',
      ]);
      expect(doc.paths['/restate/invocation/Shop/buy/{idempotencyKey}/output'].get.responses['470']).toBeDefined();
      // Every reference resolves inside the document.
      for (const r of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g))
        expect(doc.components[r[1]][r[2]]).toBeDefined();
    });

    it('puts the key in object and workflow paths, and the workflow attach/output routes', async () => {
      const obj = (await request(admin.port, { path: '/services/Cart/openapi' })).json;
      expect(Object.keys(obj.paths).sort()).toEqual([
        '/restate/call/Cart/{key}/add',
        '/restate/call/Cart/{key}/view',
        '/restate/send/Cart/{key}/add',
        '/restate/send/Cart/{key}/view',
      ]);
      const wf = (await request(admin.port, { path: '/services/Signup/openapi' })).json;
      expect(Object.keys(wf.paths).sort()).toEqual([
        '/restate/call/Signup/{key}/confirm',
        '/restate/call/Signup/{key}/run',
        '/restate/send/Signup/{key}/confirm',
        '/restate/send/Signup/{key}/run',
        '/restate/workflow/Signup/{key}/attach',
        '/restate/workflow/Signup/{key}/output',
      ]);
      const unknown = await request(admin.port, { path: '/services/Nope/openapi' });
      expect(unknown.status).toBe(404);
      expect(unknown.json.message).toBe("The requested service 'Nope' does not exist");
    });
  });

  it('GET /cluster-health names the cluster; the embedded metadata store has no Raft members', async () => {
    const res = await request(admin.port, { path: '/cluster-health' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ cluster_name: 'stead', metadata_cluster_health: null });
  });

  it('GET /cluster-health of a cluster lists the voting members of the metadata store', async () => {
    const registry = await SchemaRegistry.open({ dataDir: dir });
    const cluster = await startAdminServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      extend: (router) =>
        mountMetadataRoutes(router, {
          client: {} as MetadataClient,
          members: async () => ({
            clusterName: 'prod',
            term: 3,
            leader: { id: 'm1', address: 'a:1' },
            members: [
              { id: 'm1', address: 'a:1', learner: false },
              { id: 'm2', address: 'a:2', learner: false },
              { id: 'm3', address: 'a:3', learner: true },
            ],
          }),
        }),
    });
    try {
      const res = await request(cluster.port, { path: '/v4/cluster-health' });
      expect(res.json).toEqual({ cluster_name: 'prod', metadata_cluster_health: { members: ['m1', 'm2'] } });
    } finally {
      await cluster.close();
    }
  });

  it('Kafka, limit rules and virtual queues: empty lists to read, 501 with a reason to create', async () => {
    expect((await request(admin.port, { path: '/subscriptions' })).json).toEqual({ subscriptions: [] });
    expect((await request(admin.port, { path: '/kafka-clusters' })).json).toEqual({ clusters: [] });
    expect((await request(admin.port, { path: '/kafka-clusters/main' })).status).toBe(404);
    const sub = await postJson(admin.port, '/subscriptions', { source: 'kafka://c/t', sink: 'service://Shop/buy' });
    expect(sub.status).toBe(501);
    expect(sub.json.message).toContain('no Kafka ingestion');
    const rules = await request(admin.port, {
      method: 'PUT',
      path: '/limits/rules',
      headers: { 'content-type': 'application/json' },
      body: '[]',
    });
    expect(rules.status).toBe(501);
    expect((await postJson(admin.port, '/vqueues/q1/pause', {})).status).toBe(501);
  });
});

describe('the admin OpenAPI document', () => {
  it('describes every route the admin library mounts, and nothing it does not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stead-admin-openapi-'));
    try {
      const registry = await SchemaRegistry.open({ dataDir: dir });
      const router = new AdminRouter();
      // Only the routes are listed here: no handler runs, so the backends are never called.
      const backend = {} as InvocationBackend;
      mountSchemaRoutes(router, registry);
      mountInvocationRoutes(router, backend);
      mountStateRoutes(router, registry, backend);
      mountMetadataRoutes(router, { client: {} as MetadataClient });
      mountScheduleRoutes(router, { registry, backend, source: {} as IntrospectionSource, defaults: {} as never });
      const mounted = router
        .list()
        .map((r) => `${r.method} ${r.pattern.replace(/:(\w+)/g, (_, name) => `{${name}}`)}`)
        .map((r) => r.replace('{id}', '{invocation_id}').replace('{name}', '{cluster_name}'))
        .map((r) => r.replace('{vqueue}', '{vqueue_id}'));
      const documented = Object.entries(ADMIN_OPENAPI.paths as Record<string, Record<string, unknown>>).flatMap(
        ([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
      );
      expect(mounted.filter((r) => !documented.includes(r))).toEqual([]);
      // The one documented route mounted elsewhere: /query (the DuckDB entry of the package).
      expect(documented.filter((r) => !mounted.includes(r))).toEqual(['POST /query']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
