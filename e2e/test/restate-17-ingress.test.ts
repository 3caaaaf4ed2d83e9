/**
 * Restate 1.7's ingress forms end to end, with handlers of the official SDK: calls and sends under
 * `/restate/call|send/...`, and `POST /restate/attach|output|lookup` naming the invocation in the body. The SDK
 * clients package (1.17) uses none of these without a scope, so those requests are plain HTTP, as curl would send;
 * it does complete awakeables through `/restate/a/{id}/...`, tested with the clients package itself.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as clients from '@restatedev/restate-sdk-clients';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, waitFor } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;

describe('Restate 1.7 ingress forms on Stead', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let svc: ServiceProcess;

  beforeAll(async () => {
    server = await startStead(cleanup);
    svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
  });
  afterAll(() => cleanup.run());

  const post = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.ingressUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  const json = async (res: Response | Promise<Response>) => (await res).json() as Promise<any>;
  const lookup = async (body: unknown) => {
    const res = await post('/restate/lookup', body);
    expect(res.status).toBe(200);
    return (await json(res)).invocationId as string;
  };

  it('calls and sends services and objects under /restate/call and /restate/send', async () => {
    const echo = await post('/restate/call/Test/echo', { hello: 'world' });
    expect([echo.status, echo.headers.get('x-restate-id')?.startsWith('inv_1')]).toEqual([200, true]);
    expect(await json(echo)).toEqual({ hello: 'world' });

    expect(await json(post('/restate/call/Counter/c17/add', 2))).toBe(2);
    const sent = await post('/restate/send/Counter/c17/add', 3);
    expect(sent.status).toBe(202);
    const receipt = await json(sent);
    expect(receipt).toEqual({ invocationId: sent.headers.get('x-restate-id'), status: 'Accepted' });
    await waitFor(async () => (await json(post('/restate/call/Counter/c17/get'))) === 5, { what: 'the sent add' });
    // The invocation id the send named is the one that ran (its output is kept while it is retained).
    expect(await json(post('/restate/attach', { target: 'invocation', invocationId: receipt.invocationId }))).toBe(5);

    const delayed = await post('/restate/send/Test/echo?delay=PT0.2S', '"later"');
    expect(delayed.status).toBe(202);
    expect((await json(delayed)).executionTime).toMatch(/^\d{4}-\d\d-\d\dT.*\.\d{9}Z$/);

    const badPath = await post('/restate/call/Counter/c17');
    expect([badPath.status, badPath.headers.get('x-restate-error-source')]).toEqual([400, 'ingress']);
    const unknown = await post('/restate/call/Nope/x', 1);
    expect([unknown.status, (await json(unknown)).source]).toEqual([404, 'ingress']);
  });

  it('finds a workflow run by name and key: lookup, output before and after it completes, attach', async () => {
    const sent = await post('/restate/send/Signup/w17/run', { email: 'w17@x' });
    expect(sent.status).toBe(202);
    const { invocationId } = await json(sent);
    const byWorkflow = { target: 'workflow', workflowName: 'Signup', workflowKey: 'w17' };
    expect(await lookup(byWorkflow)).toBe(invocationId);

    await waitFor(async () => (await json(post('/restate/call/Signup/w17/status'))) === 'waiting', {
      what: 'the workflow to wait for its promise',
    });
    const early = await post('/restate/output', byWorkflow);
    expect([early.status, early.headers.get('x-restate-error-source'), early.headers.get('x-restate-id')]).toEqual([
      470,
      'ingress',
      null,
    ]);
    expect(await json(early)).toMatchObject({ code: 470, source: 'ingress' });

    const attached = post('/restate/attach', byWorkflow);
    expect((await post('/restate/call/Signup/w17/confirm', '"c0de"')).status).toBe(200);
    const done = await attached;
    expect([done.status, done.headers.get('x-restate-id')]).toEqual([200, invocationId]);
    expect(await json(done)).toBe('w17@x:c0de');
    expect(await json(post('/restate/output', byWorkflow))).toBe('w17@x:c0de');
    const byId = await fetch(`${server.ingressUrl}/restate/output/${invocationId}`);
    expect(await json(byId)).toBe('w17@x:c0de');
  });

  it('finds an idempotent request by service, key, handler and idempotency key', async () => {
    const sent = await post('/restate/send/Counter/i17/add', 7, { 'idempotency-key': 'once-17' });
    expect(sent.status).toBe(202);
    const { invocationId } = await json(sent);
    const byKey = {
      target: 'idempotentInvocation',
      service: 'Counter',
      key: 'i17',
      handler: 'add',
      idempotencyKey: 'once-17',
    };
    expect(await lookup(byKey)).toBe(invocationId);
    expect(await json(post('/restate/attach', byKey))).toBe(7);
    expect(await json(post('/restate/output', byKey))).toBe(7);

    const call = await post('/restate/call/Test/echo', '"idem"', { 'idempotency-key': 'svc-17' });
    const byServiceKey = { target: 'idempotentInvocation', service: 'Test', handler: 'echo', idempotencyKey: 'svc-17' };
    expect(await lookup(byServiceKey)).toBe(call.headers.get('x-restate-id'));
    expect(await json(post('/restate/output', byServiceKey))).toBe('idem');
  });

  it("completes awakeables through the SDK clients' /restate/a/{id}/resolve|reject", async () => {
    const dir = cleanup.tempDir('stead-17-');
    const ingress = clients.connect({ url: server.ingressUrl });
    const awakeableIn = async (file: string) => {
      await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim() !== '', { what: 'the awakeable id' });
      return readFileSync(file, 'utf8').trim();
    };
    const resolved = post('/Waiter/wait', { file: join(dir, 'a1') });
    await ingress.resolveAwakeable(await awakeableIn(join(dir, 'a1')), 'from the clients');
    expect(await json(resolved)).toBe('from the clients');

    const rejected = post('/Waiter/wait', { file: join(dir, 'a2') });
    await ingress.rejectAwakeable(await awakeableIn(join(dir, 'a2')), 'no thanks');
    const failure = await rejected;
    expect([failure.status, failure.headers.get('x-restate-error-source')]).toEqual([500, 'invocation']);
    expect((await json(failure)).message).toContain('no thanks');

    const bad = await post('/restate/a/sign_1bogus/resolve', '"x"');
    expect([bad.status, bad.headers.get('x-restate-error-source')]).toEqual([400, 'ingress']);
  });

  it('answers unknown invocations and bad bodies as Restate, with the error source', async () => {
    const never = { target: 'idempotentInvocation', service: 'Counter', key: 'n', handler: 'add', idempotencyKey: 'x' };
    const neverId = await lookup(never);
    const output = await post('/restate/output', never);
    expect([output.status, output.headers.get('x-restate-error-source')]).toEqual([404, 'ingress']);
    const attach = await post('/restate/attach', { target: 'invocation', invocationId: neverId });
    expect([attach.status, attach.headers.get('x-restate-error-source'), attach.headers.get('x-restate-id')]).toEqual([
      404,
      'invocation',
      neverId,
    ]);
    for (const op of ['attach', 'output', 'lookup']) {
      for (const body of ['', '{}', '{"target":"workflow","workflowName":"Signup"}', '{"target":"invocation"}']) {
        const res = await post(`/restate/${op}`, body);
        expect([op, body, res.status, res.headers.get('x-restate-error-source')]).toEqual([op, body, 400, 'ingress']);
        expect((await json(res)).message).toMatch(/^invalid request body: /);
      }
    }
    const badId = await post('/restate/attach', { target: 'invocation', invocationId: 'inv_1nope' });
    expect([badId.status, badId.headers.get('x-restate-error-source')]).toEqual([400, 'ingress']);
  });

  it('answers the scoped forms /restate/scope/... with 400 and why (Stead has no virtual-queue scopes)', async () => {
    for (const path of ['/restate/scope/s1/call/Test/echo', '/restate/scope/s1/send/Counter/k/add']) {
      const res = await post(path, 1);
      expect([path, res.status, res.headers.get('x-restate-error-source')]).toEqual([path, 400, 'ingress']);
      expect((await json(res)).message).toContain('no virtual-queue scopes');
    }
  });

  // Last: it moves the deployment to another process.
  it('PATCH /deployments/{id} moves the deployment: invocations reach the new address', async () => {
    const admin = (path: string, init: RequestInit = {}) =>
      fetch(`${server.adminUrl}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });
    const [dep] = (await json(admin('/deployments'))).deployments;
    const next = await ServiceProcess.start(cleanup, SERVICES);
    const moved = await admin(`/deployments/${dep.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uri: next.uri }),
    });
    expect(moved.status).toBe(200);
    expect((await json(moved)).uri).toBe(`${next.uri}/`);
    await svc.stop();
    // The old process is gone: only the new address can answer. The cluster's workers see the change through the
    // metadata store, so poll until the call lands there.
    await waitFor(async () => (await post('/restate/call/Test/echo', '"moved"')).status === 200, {
      what: 'a call to reach the deployment at its new address',
      timeoutMs: 30_000,
    });
    expect(await json(post('/restate/call/Counter/moved/add', 4))).toBe(4);
  });
});
