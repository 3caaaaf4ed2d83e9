// Restate 1.7's ingress forms: calls and sends under /restate/call|send, and attach/output/lookup with the
// invocation named in a POST body.
import {
  INVOCATION_NOT_FOUND,
  INVOCATION_NOT_READY,
  type InvocationBackend,
  type InvocationOutcome,
  type InvocationQuery,
  idempotentInvocationId,
  newInvocationId,
  workflowInvocationId,
} from '@stead/core';
import { type IngressServer, invocationRoutes, startIngressServer } from '../src/index.ts';
import { RecordingBackend, request, SERVICES, StaticSchema } from './helpers.ts';

const jsonHeaders = { 'content-type': 'application/json' };
const ID = newInvocationId(42n).toString();
const PREFIXED_BAD_PATH = /^bad path, expected \/restate\/call\/:service\/:handler, \/restate\/send\//;

describe('ingress /restate/call and /restate/send', () => {
  let server: IngressServer;
  let backend: RecordingBackend;
  let port: number;

  beforeEach(async () => {
    backend = new RecordingBackend();
    server = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend,
      schema: new StaticSchema(SERVICES),
      now: () => Date.parse('2030-01-01T00:00:00.000Z'),
      onError: (err) => {
        throw err;
      },
    });
    port = server.port;
  });

  afterEach(() => server.close());

  test('a call of a service, an object and a workflow returns the output and the invocation id', async () => {
    backend.answer = () => ({ ok: true, value: Buffer.from('"hi"') });
    const svc = await request(port, {
      path: '/restate/call/Greeter/greet',
      headers: { ...jsonHeaders, 'idempotency-key': 'k1', 'x-foo': 'bar' },
      body: '"bob"',
    });
    expect([svc.status, svc.text, svc.headers['content-type']]).toEqual([200, '"hi"', 'application/json']);
    expect(svc.headers['x-restate-id']).toMatch(/^inv_1/);
    expect(backend.calls[0].target).toEqual({ service: 'Greeter', handler: 'greet', key: undefined });
    expect(backend.calls[0].idempotencyKey).toBe('k1');
    expect(backend.calls[0].headers).toContainEqual(['x-restate-ingress-path', '/restate/call/Greeter/greet']);
    expect(backend.calls[0].headers).toContainEqual(['x-foo', 'bar']);

    const obj = await request(port, { path: '/restate/call/Counter/a%2Fb/add', headers: jsonHeaders, body: '1' });
    expect(obj.status).toBe(200);
    expect(backend.calls[1].target).toEqual({ service: 'Counter', handler: 'add', key: 'a/b' });
    const wf = await request(port, { method: 'GET', path: '/restate/call/WF/w1/signal' });
    expect(wf.status).toBe(200);
    expect(backend.calls[2].target).toEqual({ service: 'WF', handler: 'signal', key: 'w1' });
    expect(backend.sends).toHaveLength(0);
  });

  test('a send answers 202 with the receipt; delays and idempotency keys are passed on', async () => {
    const s = await request(port, {
      path: '/restate/send/Counter/k/add?delay=10s',
      headers: { ...jsonHeaders, 'idempotency-key': 'once' },
      body: '1',
    });
    expect(s.status).toBe(202);
    const body = JSON.parse(s.text);
    expect(body).toEqual({
      invocationId: s.headers['x-restate-id'],
      executionTime: '2030-01-01T00:00:10.000000000Z',
      status: 'Accepted',
    });
    expect(backend.sends[0]).toMatchObject({
      target: { service: 'Counter', handler: 'add', key: 'k' },
      delayMs: 10_000,
      idempotencyKey: 'once',
    });
    const again = await request(port, {
      path: '/restate/send/Counter/k/add',
      headers: { ...jsonHeaders, 'idempotency-key': 'once' },
      body: '1',
    });
    expect(JSON.parse(again.text)).toMatchObject({ invocationId: body.invocationId, status: 'PreviouslyAccepted' });
    const wf = await request(port, { path: '/restate/send/WF/w2/run', headers: jsonHeaders, body: '{}' });
    expect(wf.status).toBe(202);
    expect(backend.sends[2].target).toEqual({ service: 'WF', handler: 'run', key: 'w2' });
    expect(backend.calls).toHaveLength(0);
  });

  test('bad paths are 400 naming the forms, unknown services and handlers 404, all from the ingress', async () => {
    const cases: [string, string, number, RegExp | string][] = [
      ['POST', '/restate/call', 400, PREFIXED_BAD_PATH],
      ['POST', '/restate/send', 400, PREFIXED_BAD_PATH],
      ['POST', '/restate/call/Greeter', 400, PREFIXED_BAD_PATH],
      ['POST', '/restate/call/Greeter/greet/send', 400, PREFIXED_BAD_PATH],
      ['POST', '/restate/send/Greeter/greet/send', 400, PREFIXED_BAD_PATH],
      ['POST', '/restate/send/Counter/k', 400, PREFIXED_BAD_PATH],
      ['POST', '/restate/call/Counter/k/add/extra', 400, PREFIXED_BAD_PATH],
      ['POST', '/restate/call/Nope/x', 404, "service 'Nope' not found"],
      ['POST', '/restate/send/Greeter/nope', 404, "the handler 'nope' was not found"],
      ['POST', '/restate/call/Hidden/h', 400, 'the invoked service is not public'],
      ['POST', '/restate/call/Greeter/greet?delay=1s', 400, 'cannot use the delay query parameter with calls'],
      ['POST', '/restate/send/Greeter/greet?delay=soon', 400, 'bad delay query parameter'],
      ['PUT', '/restate/call/Greeter/greet', 405, 'method not allowed'],
    ];
    for (const [method, path, status, message] of cases) {
      const r = await request(port, { method, path, headers: jsonHeaders, body: '"x"' });
      expect([method, path, r.status, r.headers['x-restate-error-source']]).toEqual([method, path, status, 'ingress']);
      const body = JSON.parse(r.text);
      expect(body).toMatchObject({ code: status, source: 'ingress' });
      expect(body.message).toMatch(message);
    }
    expect([backend.calls.length, backend.sends.length]).toEqual([0, 0]);
  });
});

describe('ingress POST /restate/attach, /restate/output, /restate/lookup', () => {
  let server: IngressServer;
  let port: number;
  let queries: { mode: string; query: InvocationQuery }[];
  let outcome: InvocationOutcome;

  beforeEach(async () => {
    queries = [];
    outcome = { ok: true, value: Buffer.from('"done"') };
    const engine = {
      attach: async (query: InvocationQuery, mode: string) => {
        queries.push({ mode, query });
        return { invocationId: ID, outcome };
      },
    } as unknown as InvocationBackend;
    server = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend: new RecordingBackend(),
      schema: new StaticSchema(SERVICES),
      routes: invocationRoutes(engine, new StaticSchema(SERVICES)),
      onError: (err) => {
        throw err;
      },
    });
    port = server.port;
  });

  afterEach(() => server.close());

  const post = (path: string, body: unknown) =>
    request(port, { path, headers: jsonHeaders, body: typeof body === 'string' ? body : JSON.stringify(body) });

  test('attach and output take the invocation by id, by workflow and by idempotency key', async () => {
    const bodies: [unknown, InvocationQuery][] = [
      [{ target: 'invocation', invocationId: ID }, { invocationId: ID }],
      [{ target: 'workflow', workflowName: 'WF', workflowKey: 'w1' }, { workflow: { name: 'WF', key: 'w1' } }],
      [
        { target: 'idempotentInvocation', service: 'Greeter', handler: 'greet', idempotencyKey: 'i1', extra: true },
        { idempotent: { service: 'Greeter', key: undefined, handler: 'greet', idempotencyKey: 'i1' } },
      ],
      [
        { target: 'idempotentInvocation', service: 'Counter', key: 'k', handler: 'add', idempotencyKey: 'i2' },
        { idempotent: { service: 'Counter', key: 'k', handler: 'add', idempotencyKey: 'i2' } },
      ],
    ];
    for (const mode of ['attach', 'output']) {
      for (const [body, query] of bodies) {
        queries = [];
        const r = await post(`/restate/${mode}`, body);
        expect([r.status, r.text, r.headers['x-restate-id']]).toEqual([200, '"done"', ID]);
        expect(r.headers['content-type']).toBe('application/json');
        expect(queries).toEqual([{ mode, query }]);
      }
    }
  });

  test('GET /restate/attach/{id} and /restate/output/{id} name the invocation in the path', async () => {
    for (const mode of ['attach', 'output']) {
      queries = [];
      const r = await request(port, { method: 'GET', path: `/restate/${mode}/${ID}` });
      expect([r.status, r.text]).toEqual([200, '"done"']);
      expect(queries).toEqual([{ mode, query: { invocationId: ID } }]);
    }
    const post = await request(port, { path: `/restate/attach/${ID}` });
    expect([post.status, post.headers['x-restate-error-source']]).toEqual([405, 'ingress']);
  });

  test('bad bodies are 400 from the ingress, saying what is wrong, and reach no engine', async () => {
    const cases: [string, RegExp][] = [
      ['', /not JSON/],
      ['nope', /not JSON/],
      ['[]', /expected a JSON object/],
      ['null', /expected a JSON object/],
      ['{}', /missing field 'target'/],
      ['{"target":"x"}', /unknown target "x"/],
      ['{"target":{}}', /unknown target \{\}/],
      ['{"target":"invocation"}', /missing field 'invocationId'/],
      ['{"target":"invocation","invocationId":5}', /field 'invocationId' must be a string/],
      ['{"target":"workflow","workflowName":"WF"}', /missing field 'workflowKey'/],
      ['{"target":"idempotentInvocation","service":"Greeter","handler":"greet"}', /missing field 'idempotencyKey'/],
      [
        '{"target":"idempotentInvocation","service":"Counter","key":1,"handler":"add","idempotencyKey":"i"}',
        /field 'key' must be a string/,
      ],
    ];
    for (const op of ['attach', 'output', 'lookup']) {
      for (const [body, message] of cases) {
        const r = await post(`/restate/${op}`, body);
        expect([op, body, r.status, r.headers['x-restate-error-source']]).toEqual([op, body, 400, 'ingress']);
        const json = JSON.parse(r.text);
        expect(json).toMatchObject({ code: 400, source: 'ingress' });
        expect(json.message).toMatch(/^invalid request body: /);
        expect(json.message).toMatch(message);
      }
    }
    expect(queries).toEqual([]);
    const get = await request(port, { method: 'GET', path: '/restate/lookup' });
    expect([get.status, get.headers['x-restate-error-source']]).toEqual([405, 'ingress']);
  });

  test("output of a missing or unfinished invocation is the ingress's error; attach and failures are the invocation's", async () => {
    outcome = INVOCATION_NOT_READY;
    const notReady = await post('/restate/output', { target: 'invocation', invocationId: ID });
    expect([notReady.status, notReady.headers['x-restate-error-source'], notReady.headers['x-restate-id']]).toEqual([
      470,
      'ingress',
      undefined,
    ]);
    expect(JSON.parse(notReady.text)).toEqual({
      code: 470,
      message: 'invocation not completed yet',
      source: 'ingress',
    });
    outcome = INVOCATION_NOT_FOUND;
    const missing = await request(port, { method: 'GET', path: `/restate/invocation/${ID}/output` });
    expect([missing.status, missing.headers['x-restate-error-source'], missing.headers['x-restate-id']]).toEqual([
      404,
      'ingress',
      undefined,
    ]);
    // Attaching to an unknown invocation: Restate names the invocation and blames it.
    const attached = await post('/restate/attach', { target: 'invocation', invocationId: ID });
    expect([attached.status, attached.headers['x-restate-error-source'], attached.headers['x-restate-id']]).toEqual([
      404,
      'invocation',
      ID,
    ]);
    // An invocation that failed with 404 itself: its own error.
    outcome = { ok: false, code: 404, message: 'no such user' };
    const failed = await post('/restate/output', { target: 'invocation', invocationId: ID });
    expect([failed.status, failed.headers['x-restate-error-source'], failed.headers['x-restate-id']]).toEqual([
      404,
      'invocation',
      ID,
    ]);
    expect(JSON.parse(failed.text)).toEqual({ code: 404, message: 'no such user', source: 'invocation' });
  });

  test('lookup computes the id without asking the engine: given, workflow run, idempotent request', async () => {
    const lookup = async (body: unknown) => {
      const r = await post('/restate/lookup', body);
      expect([r.status, r.headers['content-type'], r.headers['x-restate-error-source']]).toEqual([
        200,
        'application/json',
        undefined,
      ]);
      return JSON.parse(r.text).invocationId as string;
    };
    expect(await lookup({ target: 'invocation', invocationId: ID })).toBe(ID);
    const wf = await lookup({ target: 'workflow', workflowName: 'WF', workflowKey: 'w1' });
    expect(wf).toBe(workflowInvocationId('WF', 'w1'));
    expect(wf).not.toBe(workflowInvocationId('WF', 'w2'));
    const idem = await lookup({
      target: 'idempotentInvocation',
      service: 'Greeter',
      handler: 'greet',
      idempotencyKey: 'a',
    });
    expect(idem).toBe(idempotentInvocationId('Greeter', undefined, 'greet', 'a'));
    const keyed = await lookup({
      target: 'idempotentInvocation',
      service: 'Counter',
      key: 'k',
      handler: 'add',
      idempotencyKey: 'a',
    });
    expect(keyed).toBe(idempotentInvocationId('Counter', 'k', 'add', 'a'));
    expect(new Set([wf, idem, keyed]).size).toBe(3);
    // Unknown services are no error: the id is a function of the body alone.
    expect(await lookup({ target: 'workflow', workflowName: 'Nope', workflowKey: 'x' })).toMatch(/^inv_1/);
    expect(queries).toEqual([]);

    const bad = await post('/restate/lookup', { target: 'invocation', invocationId: 'inv_1bogus' });
    expect([bad.status, bad.headers['x-restate-error-source']]).toEqual([400, 'ingress']);
    expect(JSON.parse(bad.text).message).toMatch("'inv_1bogus' is not an invocation id");
  });
});
