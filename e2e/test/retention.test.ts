/**
 * Issue 9 point 7: Restate's retention rules and per-service options, end to end on stead-server with a real
 * SDK endpoint. Completed invocations (not only idempotent ones) stay visible for the journal retention and are
 * purged after it; retentions, timeouts and the retry policy come from the manifest (handler > service > server
 * default) and from `PATCH /services/{service}`; at max attempts an invocation pauses or is killed; a deployment
 * served in request/response mode is invoked without streaming. Retentions are shortened by server flags.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, waitFor } from '@stead/testing';

const SERVICES = new URL('../services/retention.ts', import.meta.url).pathname;
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

function client(server: SteadUnderTest) {
  const post = (path: string, body?: unknown) =>
    fetch(`${server.ingressUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(25_000),
    });
  const send = async (path: string, body: unknown): Promise<string> => {
    const res = await post(`${path}/send`, body);
    expect(res.status).toBe(202);
    return ((await res.json()) as { invocationId: string }).invocationId;
  };
  const output = (id: string) => fetch(`${server.ingressUrl}/restate/invocation/${id}/output`);
  const admin = (path: string, method = 'GET', body?: unknown) =>
    fetch(`${server.adminUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const describe = async (id: string) => {
    const res = await admin(`/invocations/${id}`);
    return { status: res.status, body: (await res.json()) as any };
  };
  return { post, send, output, admin, describe };
}

describe('retention, per-service options and protocol modes on stead-server', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let c: ReturnType<typeof client>;
  let dir: string;

  beforeAll(async () => {
    dir = cleanup.tempDir('stead-retention-');
    server = await startStead(cleanup, [
      '--default-journal-retention',
      '3s',
      '--retry-initial-interval',
      '20ms',
      '--retry-max-interval',
      '100ms',
    ]);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
    c = client(server);
  }, 120_000);
  afterAll(() => cleanup.run());

  it('keeps a finished plain /send (output, attach, status, journal) for the journal retention, then purges it', async () => {
    const file = join(dir, 'plain');
    const id = await c.send('/Opts/runAndSleep', { file });
    await waitFor(async () => (await c.output(id)).status === 200, { what: 'the send to finish' });
    expect(await (await c.output(id)).json()).toBe(42);
    const attached = await fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`);
    expect([attached.status, await attached.json()]).toEqual([200, 42]);
    const d = await c.describe(id);
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({
      id,
      target: 'Opts/runAndSleep',
      status: 'completed',
      completion_result: 'success',
    });
    const types = (d.body.journal as { entry_type: string }[]).map((e) => e.entry_type);
    expect(types[0]).toBe('Command: Input');
    expect(types).toContain('Command: Sleep');
    expect(types).toContain('Command: Output');
    expect(d.body.journal_size).toBe(types.length);
    expect(Date.parse(d.body.retention_until) - Date.parse(d.body.completed_at)).toBe(3000);
    // After the 3s journal retention: gone everywhere.
    await waitFor(async () => (await c.describe(id)).status === 404, { timeoutMs: 15_000, what: 'the purge' });
    expect((await c.output(id)).status).toBe(404);
    expect(lines(file)).toEqual(['run']);
  });

  it('uses the handler retention of the manifest over the server default, and admin shows both', async () => {
    const id = await c.send('/Opts/echo', 'x');
    await waitFor(async () => (await c.output(id)).status === 200, { what: 'echo to finish' });
    const d = await c.describe(id);
    expect(Date.parse(d.body.retention_until) - Date.parse(d.body.completed_at)).toBe(60_000);
    const svc = (await (await c.admin('/services/Opts')).json()) as any;
    expect(svc.journal_retention).toBe('3s'); // the server default in use
    expect(svc.retry_policy).toEqual({
      initial_interval: '20ms',
      exponentiation_factor: 2,
      max_attempts: 70,
      max_interval: '100ms',
      on_max_attempts: 'Pause',
    });
    const handler = (name: string) => svc.handlers.find((h: any) => h.name === name);
    expect(handler('echo').journal_retention).toBe('1m');
    expect(handler('pausing').retry_policy).toEqual({
      initial_interval: '20ms',
      max_attempts: 3,
      on_max_attempts: 'Pause',
    });
    expect(handler('stallShort')).toMatchObject({ inactivity_timeout: '300ms', abort_timeout: '300ms' });
  });

  it('retains invocations started by a handler as well, with the callee handler retention', async () => {
    const res = await c.post('/Opts/sendEcho', 'from a handler');
    expect(res.status).toBe(200);
    const child = (await res.json()) as string;
    await waitFor(async () => (await c.output(child)).status === 200, { what: 'the child to finish' });
    expect(await (await c.output(child)).json()).toBe('from a handler');
    const d = await c.describe(child);
    expect(d.body).toMatchObject({ status: 'completed', target: 'Opts/echo' });
    expect(Date.parse(d.body.retention_until) - Date.parse(d.body.completed_at)).toBe(60_000);
    expect(d.body.journal_size).toBeGreaterThan(0);
    // purge-journal drops the journal and keeps the result.
    expect((await c.admin(`/invocations/${child}/purge-journal`, 'PATCH')).status).toBe(200);
    expect((await c.describe(child)).body).toMatchObject({ status: 'completed', journal_size: 0, journal: [] });
    expect(await (await c.output(child)).json()).toBe('from a handler');
  });

  it('pauses at max attempts when the retry policy says so; resume runs it again', async () => {
    const file = join(dir, 'pausing');
    writeFileSync(`${file}.fail`, '');
    const id = await c.send('/Opts/pausing', { file });
    await waitFor(async () => (await c.describe(id)).body.status === 'paused', { what: 'the invocation to pause' });
    expect(lines(file)).toHaveLength(3);
    expect((await c.output(id)).status).toBe(470);
    expect((await c.admin(`/invocations/${id}/purge-journal`, 'PATCH')).status).toBe(409);
    rmSync(`${file}.fail`);
    expect((await c.admin(`/invocations/${id}/resume`, 'PATCH')).status).toBe(200);
    await waitFor(async () => (await c.output(id)).status === 200, { what: 'the resumed invocation to finish' });
    expect(await (await c.output(id)).json()).toBe('ok');
    expect(lines(file)).toHaveLength(4);
  });

  it('kills at max attempts when the retry policy says so', async () => {
    const file = join(dir, 'killing');
    writeFileSync(`${file}.fail`, '');
    const id = await c.send('/Opts/killing', { file });
    await waitFor(async () => (await c.output(id)).status === 500, { what: 'the invocation to fail' });
    expect(lines(file)).toHaveLength(2);
    const d = await c.describe(id);
    expect(d.body).toMatchObject({ status: 'completed', completion_result: 'failure' });
    expect(d.body.completion_failure).toMatch(/gave up after 2 attempts/);
  });

  it('honours the inactivity and abort timeouts of the handler (manifest)', async () => {
    const file = join(dir, 'stall-short');
    const id = await c.send('/Opts/stallShort', { file, ms: 20_000 });
    // Each attempt stalls 20s; with 300ms + 300ms it is aborted and retried long before.
    await waitFor(() => lines(file).length >= 3, { timeoutMs: 8_000, what: 'aborted and retried attempts' });
    expect((await c.admin(`/invocations/${id}/kill`, 'PATCH')).status).toBe(200);
  });

  it('PATCH /services/{service} validates, persists, and changes what the engine and invoker use', async () => {
    expect((await c.admin('/services/Opts', 'PATCH', { inactivity_timeout: 'soon' })).status).toBe(400);
    expect((await c.admin('/services/Opts', 'PATCH', { workflow_completion_retention: '1h' })).status).toBe(400);
    expect((await c.admin('/services/Nope', 'PATCH', { journal_retention: '1h' })).status).toBe(404);
    const res = await c.admin('/services/Opts', 'PATCH', {
      inactivity_timeout: '300ms',
      abort_timeout: 'PT0.3S',
      journal_retention: '10s',
      retry_policy: { max_attempts: 5, on_max_attempts: 'Kill' },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({
      name: 'Opts',
      inactivity_timeout: '300ms',
      abort_timeout: '300ms',
      journal_retention: '10s',
      retry_policy: { max_attempts: 5, on_max_attempts: 'Kill', initial_interval: '20ms' },
    });
    expect(await (await c.admin('/services/Opts')).json()).toEqual(body);

    // The invoker: a stalled attempt of a handler without its own timeouts is now aborted after 600ms.
    const file = join(dir, 'stall');
    const stalled = await c.send('/Opts/stall', { file, ms: 20_000 });
    await waitFor(() => lines(file).length >= 3, { timeoutMs: 8_000, what: 'aborted and retried attempts' });
    expect((await c.admin(`/invocations/${stalled}/kill`, 'PATCH')).status).toBe(200);
    // The engine: a new plain send is kept for the patched journal retention.
    const id = await c.send('/Opts/runAndSleep', { file: join(dir, 'patched') });
    await waitFor(async () => (await c.output(id)).status === 200, { what: 'the send to finish' });
    const d = await c.describe(id);
    expect(Date.parse(d.body.retention_until) - Date.parse(d.body.completed_at)).toBe(10_000);

    // Persisted in the schema registry.
    await server.restart();
    expect(await (await c.admin('/services/Opts')).json()).toEqual(body);
  }, 120_000);
});

describe('a deployment in request/response protocol mode', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let dir: string;

  beforeAll(async () => {
    dir = cleanup.tempDir('stead-rr-');
    server = await startStead(cleanup);
    const svc = await ServiceProcess.start(cleanup, SERVICES, { STEAD_RR: '1' });
    await server.register(svc.uri);
  }, 120_000);
  afterAll(() => cleanup.run());

  it('is registered as RequestResponse and runs a handler with a run and a sleep through new requests', async () => {
    const deps = (await (await fetch(`${server.adminUrl}/deployments`)).json()) as any;
    expect(deps.deployments[0].protocol_type).toBe('RequestResponse');
    const file = join(dir, 'rr');
    const started = Date.now();
    const res = await client(server).post('/Opts/runAndSleep', { file });
    expect([res.status, await res.json()]).toEqual([200, 42]);
    expect(Date.now() - started).toBeLessThan(10_000); // not stalled until the inactivity timeout
    expect(lines(file)).toEqual(['run']);
  });
});
