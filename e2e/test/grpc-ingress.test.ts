/**
 * The gRPC ingress (stead.ingress.v1.Ingress, issue 18) end to end: real grpc-js clients (the @stead/client
 * wrapper, the generated client, and plain grpc-js for reflection and health) against the real server or cluster,
 * with handlers of the official SDK. Every method, the error mapping, deadlines (the invocation goes on), auth,
 * TLS, reflection, health, and — in the cluster topology — a Watch that keeps streaming while the worker leading
 * the invocation's partition is killed with SIGKILL.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  connect,
  connectRaw,
  InvocationState,
  SendStatus,
  type SteadClient,
  SteadClientError,
  type WatchEvent,
} from '@stead/client';
import { invocationPartitionKey, newToken, partitionOf, tokenFileEntry } from '@stead/core';
import { health } from '@stead/proto';
import {
  Cleanup,
  makeTestCa,
  ServiceProcess,
  type SteadUnderTest,
  startStead,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const HEADERS_SERVICE = new URL('../services/headers.ts', import.meta.url).pathname;
const REFLECTION_PROTO = new URL(
  '../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto',
  import.meta.url,
).pathname;

/** The error a promise rejects with, as a SteadClientError (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<SteadClientError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SteadClientError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

/** Every event of a Watch, until the stream ends. */
async function watchAll(client: SteadClient, ref: Parameters<SteadClient['watch']>[0]): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  for await (const e of client.watch(ref)) events.push(e);
  return events;
}

function statesOf(events: WatchEvent[]): number[] {
  return events.map((e) => e.state);
}

function noRepeats(states: number[]): boolean {
  return states.every((s, i) => i === 0 || s !== states[i - 1]);
}

/** The services a reflection client lists (grpc.reflection.v1, over a bidi stream). */
function listServices(address: string, creds = grpc.credentials.createInsecure()): Promise<string[]> {
  const def = protoLoader.loadSync(REFLECTION_PROTO, { keepCase: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, creds);
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on('data', (res: any) => {
      resolve(res.list_services_response.service.map((s: { name: string }) => s.name));
      call.end();
      client.close();
    });
    call.on('error', reject);
    call.write({ list_services: '' });
  });
}

function healthCheck(address: string, service: string, creds = grpc.credentials.createInsecure()) {
  const client = new health.HealthClient(address, creds);
  return new Promise<{ status?: number; code?: number }>((resolve) =>
    client.check({ service }, (err, res) => {
      client.close();
      resolve(err ? { code: err.code } : { status: res.status });
    }),
  );
}

describe(`gRPC ingress (${TOPOLOGY})`, () => {
  const cleanup = new Cleanup();
  let stead: SteadUnderTest;
  let client: SteadClient;
  let files: string;

  beforeAll(async () => {
    stead = await startStead(cleanup);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await stead.register(svc.uri);
    await stead.register((await ServiceProcess.start(cleanup, HEADERS_SERVICE)).uri);
    client = connect({ address: stead.grpcIngressAddress });
    cleanup.add(async () => client.close());
    files = cleanup.tempDir('grpc-ingress-');
  }, 120_000);
  afterAll(() => cleanup.run());

  it('calls services and objects with JSON and with bytes', async () => {
    expect(await client.call({ service: 'Test', handler: 'echo' }, { hello: 'grpc' })).toEqual({ hello: 'grpc' });
    const raw = await client.callRaw({ service: 'Test', handler: 'echo' }, Buffer.from('[1,2]'), 'application/json');
    expect([raw.invocationId.startsWith('inv_1'), raw.payload.toString(), raw.contentType]).toEqual([
      true,
      '[1,2]',
      'application/json',
    ]);
    expect(await client.call({ service: 'Counter', key: 'g1', handler: 'add' }, 4)).toBe(4);
    expect(await client.call({ service: 'Counter', key: 'g1', handler: 'get' })).toBe(4);
  });

  it('sends with an idempotency key, a delay and headers; attaches and reads the output by id and by key', async () => {
    const target = { service: 'Counter', key: 'g2', handler: 'add' };
    const first = await client.send(target, 5, { idempotencyKey: 'once', headers: { 'x-trace': 't1' } });
    const again = await client.send(target, 5, { idempotencyKey: 'once' });
    expect([first.status, again.status, again.invocationId]).toEqual([
      SendStatus.SEND_STATUS_ACCEPTED,
      SendStatus.SEND_STATUS_PREVIOUSLY_ACCEPTED,
      first.invocationId,
    ]);
    expect(await client.attach({ invocationId: first.invocationId })).toBe(5);
    expect(await client.output({ invocationId: first.invocationId })).toBe(5);
    const byKey = { idempotent: { service: 'Counter', key: 'g2', handler: 'add', idempotencyKey: 'once' } };
    expect(await client.output(byKey)).toBe(5);
    expect(await client.attach(byKey)).toBe(5);
    // Applied once.
    expect(await client.call({ service: 'Counter', key: 'g2', handler: 'get' })).toBe(5);

    // Headers reach the handler, except those never journaled (authorization, cookie).
    const seen = await client.call<Record<string, string>>({ service: 'Headers', handler: 'seen' }, undefined, {
      headers: { 'X-Trace': 't1', authorization: 'Bearer secret', cookie: 'c=1' },
    });
    expect(seen['x-trace']).toBe('t1');
    expect([seen.authorization, seen.cookie]).toEqual([undefined, undefined]);

    const delayed = await client.send({ service: 'Test', handler: 'echo' }, 'later', { delayMs: 300 });
    expect(delayed.executionTime).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(Date.parse(delayed.executionTime as string)).toBeGreaterThan(Date.now() - 1_000);
    expect(await client.attach({ invocationId: delayed.invocationId })).toBe('later');
  });

  it('submits a workflow, reads its output (not ready: FAILED_PRECONDITION 470), attaches to it', async () => {
    const sub = await client.submitWorkflow('Signup', 'gw1', { email: 'g@x' });
    expect(sub.status).toBe(SendStatus.SEND_STATUS_ACCEPTED);
    const again = await client.submitWorkflow('Signup', 'gw1', { email: 'g@x' });
    expect([again.status, again.invocationId]).toEqual([SendStatus.SEND_STATUS_PREVIOUSLY_ACCEPTED, sub.invocationId]);
    await waitFor(async () => (await client.call({ service: 'Signup', key: 'gw1', handler: 'status' })) === 'waiting', {
      what: 'the workflow to wait for its promise',
    });
    const early = await failure(client.workflowOutput('Signup', 'gw1'));
    expect([early.grpcCode, early.restate?.code, early.restate?.source]).toEqual([
      grpc.status.FAILED_PRECONDITION,
      470,
      'ingress',
    ]);
    const attached = client.attachWorkflow('Signup', 'gw1');
    await client.call({ service: 'Signup', key: 'gw1', handler: 'confirm' }, 'c0de');
    expect(await attached).toBe('g@x:c0de');
    expect(await client.workflowOutput('Signup', 'gw1')).toBe('g@x:c0de');
    expect(await client.output({ workflow: { name: 'Signup', key: 'gw1' } })).toBe('g@x:c0de');
  });

  it('resolves and rejects awakeables', async () => {
    const waitOn = async (name: string) => {
      const file = join(files, name);
      const sent = await client.send({ service: 'Waiter', handler: 'wait' }, { file });
      const id = await waitFor(
        () => {
          try {
            return readFileSync(file, 'utf8').trim().split('\n')[0] || undefined;
          } catch {
            return undefined;
          }
        },
        { what: 'the awakeable id' },
      );
      return { invocationId: sent.invocationId, awakeableId: id as string };
    };
    const a = await waitOn('resolve');
    await client.resolveAwakeable(a.awakeableId, 'yes');
    expect(await client.attach({ invocationId: a.invocationId })).toBe('yes');
    const b = await waitOn('reject');
    await client.rejectAwakeable(b.awakeableId, 'no way');
    const rejected = await failure(client.attach({ invocationId: b.invocationId }));
    expect([rejected.grpcCode, rejected.restate?.source, rejected.restate?.message]).toEqual([
      grpc.status.ABORTED,
      'invocation',
      'no way',
    ]);
  });

  it('maps errors to status codes with Restate code and message in the details; the server keeps running', async () => {
    const unknown = await failure(client.call({ service: 'Nope', handler: 'x' }, 1));
    expect([unknown.grpcCode, unknown.restate?.code, unknown.restate?.source]).toEqual([
      grpc.status.NOT_FOUND,
      404,
      'ingress',
    ]);
    expect(unknown.message).toMatch(/service 'Nope' not found/);
    const badId = await failure(client.attach({ invocationId: 'inv_garbage' }));
    expect([badId.grpcCode, badId.restate?.code]).toEqual([grpc.status.INVALID_ARGUMENT, 400]);
    const terminal = await failure(client.call({ service: 'Test', handler: 'fail' }, { code: 418, message: 'teapot' }));
    expect([terminal.grpcCode, terminal.restate?.code, terminal.restate?.message, terminal.restate?.source]).toEqual([
      grpc.status.ABORTED,
      418,
      'teapot',
      'invocation',
    ]);
    expect(terminal.restate?.invocationId).toMatch(/^inv_1/);
    const badInput = await failure(
      client.callRaw({ service: 'Test', handler: 'echo' }, Buffer.from('{}'), ''), // a body without content type
    );
    expect([badInput.grpcCode, badInput.restate?.code]).toEqual([grpc.status.INVALID_ARGUMENT, 400]);
    expect(badInput.message).toMatch(/input validation error/);
    // A request with no target at all, through the generated client.
    const raw = connectRaw({ address: stead.grpcIngressAddress });
    const noTarget = await new Promise<grpc.ServiceError>((resolve, reject) =>
      raw.call({ payload: Buffer.alloc(0), contentType: '', headers: {} }, (err) =>
        err ? resolve(err) : reject(new Error('expected INVALID_ARGUMENT')),
      ),
    );
    raw.close();
    expect([noTarget.code, noTarget.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      expect.stringContaining("missing field 'target'"),
    ]);
    const keyless = await failure(client.call({ service: 'Counter', handler: 'get' }));
    expect(keyless.grpcCode).toBe(grpc.status.INVALID_ARGUMENT);
    const missing = await failure(client.output({ invocationId: 'inv_1eKSRsOatmjT5h6M8qHw2zNFTfpNCj0TWh' }));
    expect([missing.grpcCode, missing.restate?.code]).toEqual([grpc.status.NOT_FOUND, 404]);
    expect(await client.call({ service: 'Test', handler: 'echo' }, 'still here')).toBe('still here');
  });

  it("ends a call at the client's deadline while the invocation goes on; Attach later returns its result", async () => {
    const key = 'deadline-1';
    const late = await failure(
      client.call({ service: 'Test', handler: 'sleep' }, { ms: 3_000 }, { idempotencyKey: key, timeoutMs: 200 }),
    );
    expect(late.grpcCode).toBe(grpc.status.DEADLINE_EXCEEDED);
    const ref = { idempotent: { service: 'Test', handler: 'sleep', idempotencyKey: key } };
    const early = await failure(client.output(ref));
    expect(early.restate?.code).toBe(470);
    expect(await client.attach(ref, { timeoutMs: 30_000 })).toBe('slept');
  });

  it('watches an invocation: scheduled first, completed with the result last, no state twice in a row', async () => {
    const sent = await client.send({ service: 'Test', handler: 'echo' }, 'watched', { delayMs: 2_000 });
    const events = await watchAll(client, { invocationId: sent.invocationId });
    const states = statesOf(events);
    expect(states[0]).toBe(InvocationState.INVOCATION_STATE_SCHEDULED);
    expect(states.at(-1)).toBe(InvocationState.INVOCATION_STATE_COMPLETED);
    expect(noRepeats(states)).toBe(true);
    const last = events.at(-1) as WatchEvent;
    expect(last.result?.$case).toBe('output');
    expect(last.result?.$case === 'output' && last.result.value.payload.toString()).toBe('"watched"');

    const failed = await client.send({ service: 'Test', handler: 'fail' }, { code: 409, message: 'conflict' });
    const failedEvents = await watchAll(client, { invocationId: failed.invocationId });
    expect(failedEvents.at(-1)?.result).toEqual({
      $case: 'failure',
      value: { code: 409, message: 'conflict', metadata: {} },
    });
    const unknown = await failure(watchAll(client, { invocationId: 'inv_1eKSRsOatmjT5h6M8qHw2zNFTfpNCj0TWh' }));
    expect(unknown.grpcCode).toBe(grpc.status.NOT_FOUND);
  });

  it('streams each change: running, paused (admin API), running again, completed', async () => {
    const release = join(files, 'release-watch');
    const sent = await client.send(
      { service: 'Gate', handler: 'hold' },
      { file: join(files, 'gate-watch'), release, i: 1 },
    );
    const events: WatchEvent[] = [];
    const done = (async () => {
      for await (const e of client.watch({ invocationId: sent.invocationId })) events.push(e);
    })();
    const S = InvocationState;
    const seen = (...states: number[]) => {
      const got = statesOf(events);
      return got.length === states.length && got.every((s, i) => s === states[i]);
    };
    await waitFor(() => seen(S.INVOCATION_STATE_RUNNING), { what: 'RUNNING' });
    const admin = (op: string) =>
      fetch(`${stead.adminUrl}/invocations/${sent.invocationId}/${op}`, { method: 'PATCH' });
    expect((await admin('pause')).status).toBe(200);
    await waitFor(() => seen(S.INVOCATION_STATE_RUNNING, S.INVOCATION_STATE_PAUSED), { what: 'PAUSED' });
    expect((await admin('resume')).status).toBe(200);
    await waitFor(() => seen(S.INVOCATION_STATE_RUNNING, S.INVOCATION_STATE_PAUSED, S.INVOCATION_STATE_RUNNING), {
      what: 'RUNNING again',
    });
    writeFileSync(release, '');
    await done;
    expect(statesOf(events)).toEqual([
      S.INVOCATION_STATE_RUNNING,
      S.INVOCATION_STATE_PAUSED,
      S.INVOCATION_STATE_RUNNING,
      S.INVOCATION_STATE_COMPLETED,
    ]);
    expect(events.at(-1)?.result).toEqual({
      $case: 'output',
      value: { invocationId: sent.invocationId, payload: Buffer.from('1'), contentType: 'application/json' },
    });
  });

  it('serves reflection (listing the ingress and health services) and the health service', async () => {
    const services = await listServices(stead.grpcIngressAddress);
    expect(services).toEqual(expect.arrayContaining(['stead.ingress.v1.Ingress', 'grpc.health.v1.Health']));
    const S = health.HealthCheckResponse_ServingStatus;
    expect(await healthCheck(stead.grpcIngressAddress, '')).toEqual({ status: S.SERVING });
    expect(await healthCheck(stead.grpcIngressAddress, 'stead.ingress.v1.Ingress')).toEqual({ status: S.SERVING });
    expect(await healthCheck(stead.grpcIngressAddress, 'nope')).toEqual({ code: grpc.status.NOT_FOUND });
  });

  (TOPOLOGY === 'cluster' ? it : it.skip)(
    'keeps a Watch streaming while the leader of its partition is killed with SIGKILL, and delivers completion',
    async () => {
      const cluster = stead.cluster!;
      const sent = await client.send({ service: 'Test', handler: 'sleep' }, { ms: 6_000 });
      const partitions = (await (await fetch(`${stead.adminUrl}/cluster`)).json()) as {
        partition_table: { partitions: number; placements: { partition: number; leader?: string }[] };
      };
      const table = partitions.partition_table;
      const partition = partitionOf(invocationPartitionKey(sent.invocationId), table.partitions);
      const victim = table.placements.find((p) => p.partition === partition)?.leader as string;
      expect(victim).toMatch(/^w/);
      const events: WatchEvent[] = [];
      const done = (async () => {
        for await (const e of client.watch({ invocationId: sent.invocationId })) events.push(e);
      })();
      await waitFor(() => events.length > 0, { what: 'the first Watch event' });
      await cluster.kill(victim);
      expect(cluster.alive(victim)).toBe(false);
      // Killed while the invocation still sleeps: the completion comes through the failover.
      expect(statesOf(events)).not.toContain(InvocationState.INVOCATION_STATE_COMPLETED);
      await done;
      // The partition is led elsewhere now: the stream went on across the failover.
      const after = (await (await fetch(`${stead.adminUrl}/cluster`)).json()) as typeof partitions;
      expect(after.partition_table.placements.find((p) => p.partition === partition)?.leader).not.toBe(victim);
      const states = statesOf(events);
      expect(states.at(-1)).toBe(InvocationState.INVOCATION_STATE_COMPLETED);
      expect(noRepeats(states)).toBe(true);
      expect(events.at(-1)?.result?.$case).toBe('output');
      expect(events.every((e) => e.invocationId === sent.invocationId)).toBe(true);
    },
    120_000,
  );
});

describe(`gRPC ingress with bearer tokens and TLS (${TOPOLOGY})`, () => {
  const cleanup = new Cleanup();
  let stead: SteadUnderTest;
  let ca: Buffer;
  const tokens = { invoke: newToken(), attach: newToken() };

  beforeAll(async () => {
    const dir = cleanup.tempDir('grpc-ingress-sec-');
    const testCa = makeTestCa(dir);
    const cert = testCa.issue('ingress');
    ca = testCa.cert;
    const file = join(dir, 'tokens.json');
    const entries = [
      tokenFileEntry('invoker', tokens.invoke, ['ingress:invoke']),
      tokenFileEntry('reader', tokens.attach, ['ingress:attach']),
    ];
    writeFileSync(file, `{"tokens": [${entries.join(',')}]}`);
    stead = await startStead(cleanup, [
      '--auth-tokens-file',
      file,
      '--http-tls-cert-file',
      cert.certFile,
      '--http-tls-key-file',
      cert.keyFile,
    ]);
  }, 120_000);
  afterAll(() => cleanup.run());

  it('refuses calls without a token (UNAUTHENTICATED) or without the scope (PERMISSION_DENIED)', async () => {
    const anonymous = connect({ address: stead.grpcIngressAddress, tls: { ca } });
    const reader = connect({ address: stead.grpcIngressAddress, tls: { ca }, token: tokens.attach });
    const invoker = connect({ address: stead.grpcIngressAddress, tls: { ca }, token: tokens.invoke });
    cleanup.add(async () => {
      for (const c of [anonymous, reader, invoker]) c.close();
    });
    const noToken = await failure(anonymous.call({ service: 'Test', handler: 'echo' }, 1));
    expect([noToken.grpcCode, noToken.restate?.code]).toEqual([grpc.status.UNAUTHENTICATED, 401]);
    const noScope = await failure(reader.call({ service: 'Test', handler: 'echo' }, 1));
    expect([noScope.grpcCode, noScope.restate?.code]).toEqual([grpc.status.PERMISSION_DENIED, 403]);
    expect(noScope.message).toMatch(/lacks the scope ingress:invoke/);
    const noAttach = await failure(invoker.output({ invocationId: 'inv_1eKSRsOatmjT5h6M8qHw2zNFTfpNCj0TWh' }));
    expect(noAttach.grpcCode).toBe(grpc.status.PERMISSION_DENIED);
    // Past the token check: the (unregistered) service is what is missing now.
    const passed = await failure(invoker.call({ service: 'Test', handler: 'echo' }, 1));
    expect(passed.grpcCode).toBe(grpc.status.NOT_FOUND);
    const found = await failure(reader.output({ invocationId: 'inv_1eKSRsOatmjT5h6M8qHw2zNFTfpNCj0TWh' }));
    expect(found.grpcCode).toBe(grpc.status.NOT_FOUND);
  });

  it('serves TLS with the HTTP ingress certificate (a plaintext client fails); health and reflection are open', async () => {
    const tls = grpc.credentials.createSsl(ca);
    expect(await healthCheck(stead.grpcIngressAddress, '', tls)).toEqual({
      status: health.HealthCheckResponse_ServingStatus.SERVING,
    });
    expect(await listServices(stead.grpcIngressAddress, tls)).toContain('stead.ingress.v1.Ingress');
    const plain = await healthCheck(stead.grpcIngressAddress, '');
    expect(plain.code).toBe(grpc.status.UNAVAILABLE);
  });
});
