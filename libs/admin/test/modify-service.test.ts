import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as restate from '@restatedev/restate-sdk';
import { RESTATE_INVOCATION_DEFAULTS } from '@stead/core';
import { type AdminServer, type DiscoverFn, SchemaRegistry, startAdminServer } from '../src/index.ts';
import { h2Server, pickDiscover, postJson, request } from './helpers.ts';

const shop = restate.service({
  name: 'Shop',
  handlers: {
    buy: restate.handlers.handler(
      {
        inactivityTimeout: 2_000,
        journalRetention: 0,
        retryPolicy: { maxAttempts: 4, initialInterval: 100, exponentiationFactor: 3, onMaxAttempts: 'kill' },
      },
      async (_ctx: restate.Context) => 'ok',
    ),
    look: async (_ctx: restate.Context) => 'ok',
  },
  options: { abortTimeout: 30_000, retryPolicy: { maxInterval: 5_000 } },
});
const flow = restate.workflow({
  name: 'Flow',
  handlers: { run: async (_ctx: restate.WorkflowContext) => 'done' },
  options: { workflowRetention: 7_200_000 },
});

describe('service options: manifest values, PATCH /services/{service}', () => {
  let dir: string;
  let discover: DiscoverFn;
  let sdk: Awaited<ReturnType<typeof h2Server>>;
  let admin: AdminServer;
  const defaults = {
    ...RESTATE_INVOCATION_DEFAULTS,
    journalRetentionMs: 3_000,
    retry: { ...RESTATE_INVOCATION_DEFAULTS.retry, initialIntervalMs: 50, maxAttempts: undefined },
  };

  const startAdmin = async () => {
    const registry = await SchemaRegistry.open({ dataDir: dir, discover, discoveryTimeoutMs: 5000 });
    admin = await startAdminServer({ port: 0, host: '127.0.0.1', registry, serviceDefaults: defaults });
  };
  const patch = (path: string, body: unknown) =>
    request(admin.port, {
      method: 'PATCH',
      path,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    discover = (await pickDiscover()).discover;
    const warn = console.warn;
    console.warn = () => {};
    const handler = restate.createEndpointHandler({ services: [shop, flow] });
    console.warn = warn;
    sdk = await h2Server(handler as never);
  });
  afterAll(() => sdk.close());
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stead-admin-modify-'));
    await startAdmin();
    expect((await postJson(admin.port, '/deployments', { uri: sdk.url })).status).toBe(201);
  });
  afterEach(async () => {
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows the values in use: the manifest where it sets them, the server defaults elsewhere', async () => {
    const svc = (await request(admin.port, { path: '/services/Shop' })).json;
    expect(svc).toMatchObject({
      journal_retention: '3s',
      idempotency_retention: '1d',
      inactivity_timeout: '1m',
      abort_timeout: '30s',
      retry_policy: {
        initial_interval: '50ms',
        exponentiation_factor: 2,
        max_attempts: null,
        max_interval: '5s',
        on_max_attempts: 'Pause',
      },
    });
    const buy = svc.handlers.find((h: any) => h.name === 'buy');
    expect(buy).toMatchObject({ inactivity_timeout: '2s', journal_retention: '0s' });
    expect(buy.retry_policy).toEqual({
      initial_interval: '100ms',
      exponentiation_factor: 3,
      max_attempts: 4,
      on_max_attempts: 'Kill',
    });
    expect(svc.handlers.find((h: any) => h.name === 'look').retry_policy).toEqual({ max_attempts: null });
    const wf = (await request(admin.port, { path: '/services/Flow' })).json;
    expect(wf.workflow_completion_retention).toBe('2h');
  });

  it('changes, persists and answers the service as GET does', async () => {
    const res = await patch('/services/Shop', {
      public: false,
      journal_retention: '5 hours',
      idempotency_retention: 'PT10M',
      inactivity_timeout: '90s',
      abort_timeout: null,
      retry_policy: { max_attempts: 9 },
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      name: 'Shop',
      public: false,
      journal_retention: '5h',
      idempotency_retention: '10m',
      inactivity_timeout: '1m 30s',
      abort_timeout: '30s', // null: unchanged
      retry_policy: { max_attempts: 9, max_interval: '5s' },
    });
    expect((await request(admin.port, { path: '/services/Shop' })).json).toEqual(res.json);
    const wf = await patch('/services/Flow', { workflow_completion_retention: '1d' });
    expect(wf.json.workflow_completion_retention).toBe('1d');
    // A new registry over the same data directory reads the change back.
    await admin.close();
    await startAdmin();
    expect((await request(admin.port, { path: '/services/Shop' })).json).toEqual(res.json);
    expect((await request(admin.port, { path: '/services/Flow' })).json.workflow_completion_retention).toBe('1d');
  });

  it('refuses bad values with 400 and unknown services with 404', async () => {
    for (const body of [
      { journal_retention: 'tomorrow' },
      { journal_retention: 5 },
      { inactivity_timeout: '0s' },
      { public: 'yes' },
      { workflow_completion_retention: '1h' },
      { retry_policy: { max_attempts: 0 } },
      { retry_policy: { on_max_attempts: 'Explode' } },
      [],
    ]) {
      const res = await patch('/services/Shop', body);
      expect([res.status, JSON.stringify(body)]).toEqual([400, JSON.stringify(body)]);
      expect(typeof res.json.message).toBe('string');
    }
    expect((await patch('/services/Nope', { journal_retention: '1h' })).status).toBe(404);
    // Nothing changed.
    expect((await request(admin.port, { path: '/services/Shop' })).json.journal_retention).toBe('3s');
  });
});
