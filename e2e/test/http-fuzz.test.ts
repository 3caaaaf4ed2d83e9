/**
 * Issue 17: no HTTP request can make the admin API or the ingress fail. Generated requests — random methods,
 * paths made of the routes' own words, ids that exist and ids that do not, percent-encodings, query strings,
 * headers and bodies (random bytes, JSON, bodies shaped like the routes' own with hostile values) — go to a real
 * Stead with an SDK service registered, over HTTP/1.1 and (ingress) h2c, once without authentication and once
 * with bearer tokens; then raw bytes that are not HTTP at all.
 * No answer may be a 5xx other than 503 (unavailable for now) and 501 (a Restate feature Stead does not have, with a
 * message saying which), every request must be answered, and afterwards the processes must still
 * run, answer their health checks and serve a normal invocation. Delays are kept to seconds, so that an attach
 * to a delayed invocation answers within the request timeout (it waits for the invocation to end, by design).
 *
 * Seeded (fast-check): the seed is printed; `HTTP_FUZZ_SEED=n` replays a run (`random` explores new ones), and
 * `HTTP_FUZZ_REQUESTS` changes its size.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { hashToken, newToken } from '@stead/core';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, TOPOLOGY, waitFor } from '@stead/testing';
import fc from 'fast-check';

const SERVICES = new URL('../services/fuzz.ts', import.meta.url).pathname;
const SEED_ENV = process.env.HTTP_FUZZ_SEED ?? '1702';
const SEED = SEED_ENV === 'random' ? Date.now() % 2 ** 31 : Number(SEED_ENV);
const REQUESTS = Number(process.env.HTTP_FUZZ_REQUESTS ?? 6000);
const RAW_CONNECTIONS = 200;
/** Requests between two registrations of the service. */
const ROUND = 250;
const CONCURRENCY = 8;
const TIMEOUT_MS = 20_000;
const OCTETS = { 'content-type': 'application/octet-stream' };

type Server = 'admin' | 'ingress';

interface FuzzRequest {
  server: Server;
  h2: boolean;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

interface Answer {
  status: number;
  body: string;
}

/** What exists on the server when the requests are made (ids that routes will find). */
interface Known {
  invocationIds: string[];
  deploymentId: string;
  serviceUri: string;
  adminUrl: string;
  ingressUrl: string;
}

// ---------- generation ----------

const ADMIN_WORDS = [
  'deployments',
  'services',
  'invocations',
  'handlers',
  'state',
  'query',
  'subscriptions',
  'health',
  'version',
  'openapi',
  'cluster',
  'v1',
  'v2',
  'v3',
  'v4',
  'kill',
  'cancel',
  'purge',
  'purge-journal',
  'pause',
  'resume',
  'restart-as-new',
  'snapshots',
  'partitions',
  'ui',
  'Echo',
  'Box',
  'Flow',
  'echo',
  'put',
];
const INGRESS_WORDS = [
  'Echo',
  'echo',
  'Box',
  'put',
  'get',
  'Flow',
  'run',
  'peek',
  'send',
  'attach',
  'output',
  'restate',
  'invocation',
  'workflow',
  'awakeables',
  'resolve',
  'reject',
  'call',
  'lookup',
  'health',
  'Nope',
];
const ODD_SEGMENTS = [
  '',
  '.',
  '..',
  '%',
  '%zz',
  '%00',
  '%2F',
  '%2e%2e',
  'a%20b',
  '%F0%9F%98%80',
  '%C3%28',
  '*',
  ';',
  'x'.repeat(3000),
  'inv_',
  'inv_1',
  'inv_1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'dp_',
  'dp_11111111111111111111111111',
  'sign_1abc',
  'prom_1abc',
];
const QUERY_PARTS = [
  'delay=10ms',
  'delay=1s',
  'delay=abc',
  'delay=-5s',
  'delay=999999999999d',
  'delay=PT2S',
  'force=true',
  'force=maybe',
  'idempotency_key=k',
  'x=%ZZ',
  'a=1&a=2',
  'from=0',
  'from=-1',
  'deployment=latest',
  'deployment=dp_x',
  'timeout=0',
  '%00=%00',
];
const HEADER_NAMES = [
  'content-type',
  'accept',
  'idempotency-key',
  'x-restate-id',
  'x-restate-version',
  'authorization',
  'cookie',
  'x-custom',
  'content-encoding',
  'expect',
];
const HEADER_VALUES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/octet-stream',
  'application/vnd.apache.arrow.stream',
  '*/*',
  'multipart/form-data; boundary=x',
  'gzip',
  '100-continue',
  'Bearer x',
  'x'.repeat(6000),
  '',
  ' ',
  'é',
];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const SQL = [
  'SELECT 1',
  'SELECT * FROM sys_invocation',
  'SELECT status, count(*) FROM sys_invocation GROUP BY status',
  'SELECT * FROM state',
  'SELECT * FROM sys_journal LIMIT 5',
  'SELECT * FROM information_schema.columns',
  "SELECT * FROM read_csv('/etc/passwd')",
  'ATTACH DATABASE x',
  'SELECT 1; SELECT 2',
  'INSTALL httpfs',
  'SELECT * FROM nope',
  'SELECT (',
  '',
];

function segmentArb(words: string[], known: Known): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...words) },
    { weight: 2, arbitrary: fc.constantFrom(...known.invocationIds, known.deploymentId) },
    { weight: 2, arbitrary: fc.constantFrom(...ODD_SEGMENTS) },
    { weight: 2, arbitrary: fc.string({ maxLength: 12 }).map(encodeURIComponent) },
  );
}

/** The routes' own shapes; `{kind}` is a slot for a generated segment of that kind. */
const ADMIN_ROUTES = [
  'deployments',
  'deployments/{dep}',
  'services',
  'services/{svc}',
  'services/{svc}/handlers',
  'services/{svc}/handlers/{handler}',
  'services/{svc}/state',
  'invocations/{inv}',
  'invocations/{inv}/{op}',
  'query',
  'health',
  'version',
  'openapi',
  'subscriptions',
  'subscriptions/{any}',
  'v2/{any}',
  'v3/services/{svc}',
  'cluster/{any}',
];
const INGRESS_ROUTES = [
  '{call}',
  '{call}',
  '{call}/send',
  '{call}/send',
  '{svc}/{handler}',
  '{svc}/{key}/{handler}/send',
  'restate/invocation/{inv}/attach',
  'restate/invocation/{inv}/output',
  'restate/workflow/{svc}/{key}/attach',
  'restate/workflow/{svc}/{key}/output',
  'restate/awakeables/{any}/resolve',
  'restate/awakeables/{any}/reject',
  'restate/a/{any}/resolve',
  'restate/a/{any}/reject',
  'restate/attach/{inv}',
  'restate/output/{inv}',
  'restate/call/{svc}/{handler}',
  'restate/send/{svc}/{handler}',
  'restate/attach',
  'restate/output',
  'restate/lookup',
];

function slotArb(kind: string, words: string[], known: Known): fc.Arbitrary<string> {
  const odd = fc.constantFrom(...ODD_SEGMENTS);
  const pick = (values: string[]) =>
    fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: odd });
  switch (kind) {
    case 'svc':
      return pick(['Echo', 'Box', 'Flow', 'Nope']);
    case 'handler':
      return pick(['echo', 'put', 'get', 'run', 'peek', 'nope']);
    case 'key':
      return fc.oneof(pick(['k1', 'w1']), fc.string({ maxLength: 8 }).map(encodeURIComponent));
    case 'call':
      // A handler that exists, with a key where it takes one.
      return fc
        .tuple(
          fc.constantFrom('Echo/echo', 'Box/@/put', 'Box/@/get', 'Flow/@/run', 'Flow/@/peek'),
          slotArb('key', words, known),
        )
        .map(([target, key]) => target.replace('@', key));
    case 'inv':
      return pick(known.invocationIds);
    case 'dep':
      return pick([known.deploymentId]);
    case 'op':
      return pick(['kill', 'cancel', 'purge', 'purge-journal', 'pause', 'resume', 'restart-as-new', 'attach']);
    default:
      return segmentArb(words, known);
  }
}

function routeArb(routes: string[], words: string[], known: Known): fc.Arbitrary<string[]> {
  return fc
    .constantFrom(...routes)
    .chain((route) =>
      fc.tuple(
        ...route
          .split('/')
          .map((part) => (part.startsWith('{') ? slotArb(part.slice(1, -1), words, known) : fc.constant(part))),
      ),
    );
}

function pathArb(routes: string[], words: string[], known: Known): fc.Arbitrary<string> {
  return fc
    .record({
      segments: fc.oneof(
        { weight: 3, arbitrary: routeArb(routes, words, known) },
        { weight: 1, arbitrary: fc.array(segmentArb(words, known), { minLength: 0, maxLength: 5 }) },
      ),
      query: fc.option(fc.array(fc.constantFrom(...QUERY_PARTS), { minLength: 1, maxLength: 3 }), { nil: undefined }),
      slash: fc.boolean(),
    })
    .map(({ segments, query, slash }) => {
      const path = `/${segments.join('/')}${slash && segments.length > 0 ? '/' : ''}`;
      return query === undefined ? path : `${path}?${query.join('&')}`;
    });
}

/** JSON bodies shaped like the routes' own, with hostile values. */
function shapedBodyArb(known: Known): fc.Arbitrary<unknown> {
  const uri = fc.constantFrom(
    known.serviceUri,
    known.adminUrl,
    `${known.ingressUrl}/`,
    'http://127.0.0.1:1/',
    'http://169.254.169.254/',
    'ftp://127.0.0.1/',
    'not a url',
    '',
  );
  return fc.oneof(
    fc.record({ uri, force: fc.boolean(), additional_headers: fc.dictionary(fc.string(), fc.string()) }),
    fc.record({ query: fc.constantFrom(...SQL) }),
    fc.record({ public: fc.anything(), idempotency_retention: fc.anything(), inactivity_timeout: fc.anything() }),
    fc.record({ new_state: fc.dictionary(fc.string(), fc.array(fc.nat(255))), version: fc.anything() }),
    fc.record({ object_key: fc.anything(), new_state: fc.anything() }),
    // POST /restate/attach|output|lookup: the invocation named in the body.
    fc.record(
      {
        target: fc.oneof(fc.constantFrom('invocation', 'workflow', 'idempotentInvocation'), fc.anything()),
        invocationId: fc.oneof(fc.constantFrom(...known.invocationIds, 'inv_1'), fc.anything()),
        workflowName: fc.oneof(fc.constantFrom('Test', 'Counter', 'Signup'), fc.anything()),
        workflowKey: fc.oneof(fc.string(), fc.anything()),
        service: fc.oneof(fc.constantFrom('Test', 'Counter'), fc.anything()),
        key: fc.anything(),
        handler: fc.oneof(fc.constantFrom('echo', 'add'), fc.anything()),
        idempotencyKey: fc.oneof(fc.string(), fc.anything()),
      },
      { requiredKeys: ['target'] },
    ),
  );
}

function bodyArb(known: Known): fc.Arbitrary<Buffer | undefined> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map((j) => Buffer.from(j)) },
    { weight: 4, arbitrary: shapedBodyArb(known).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  );
}

function requestArb(known: Known): fc.Arbitrary<FuzzRequest> {
  return fc.constantFrom<Server>('admin', 'ingress').chain((server) =>
    fc.record({
      server: fc.constant(server),
      h2: server === 'ingress' ? fc.boolean() : fc.constant(false),
      method: fc.oneof(
        { weight: 10, arbitrary: fc.constantFrom('POST', 'GET') },
        { weight: 6, arbitrary: fc.constantFrom(...METHODS) },
        { weight: 1, arbitrary: fc.constantFrom('PROPFIND', 'FOO') },
      ),
      path:
        server === 'admin' ? pathArb(ADMIN_ROUTES, ADMIN_WORDS, known) : pathArb(INGRESS_ROUTES, INGRESS_WORDS, known),
      headers: fc.oneof(
        { weight: 3, arbitrary: fc.constant({ 'content-type': 'application/octet-stream' }) },
        { weight: 2, arbitrary: fc.constant({ 'content-type': 'application/json' }) },
        {
          weight: 3,
          arbitrary: fc.dictionary(fc.constantFrom(...HEADER_NAMES), fc.constantFrom(...HEADER_VALUES), { maxKeys: 4 }),
        },
      ),
      body: bodyArb(known),
    }),
  );
}

/** Raw bytes sent on a bare TCP connection: garbage, broken HTTP/1.1, an h2 preface followed by garbage. */
const rawArb = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 512 }).map((b) => Buffer.from(b)),
  fc
    .tuple(fc.constantFrom('GET', 'POST', 'X'), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 128 }))
    .map(([m, p, tail]) => Buffer.concat([Buffer.from(`${m} /${p} HTTP/1.1\r\nHost: x\r\n`), Buffer.from(tail)])),
  fc
    .uint8Array({ maxLength: 256 })
    .map((b) => Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from(b)])),
  fc.constant(Buffer.from('POST /Echo/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nshort')),
  fc.constant(Buffer.from('POST /Echo/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')),
);

// ---------- sending ----------

function sendH1(base: string, r: FuzzRequest): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: r.method,
        path: r.path,
        headers: r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(r.body.length) },
        agent: false,
        timeout: TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

function sendH2(base: string, r: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(base);
    session.on('error', reject);
    const headers: http2.OutgoingHttpHeaders = { ':method': r.method, ':path': r.path };
    for (const [k, v] of Object.entries(r.headers)) if (k !== 'expect') headers[k] = v;
    const stream = session.request(headers, { endStream: r.body === undefined });
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), TIMEOUT_MS);
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('close', () => {
      clearTimeout(timer);
      session.close();
      if (status === 0) reject(new Error(`the stream closed without an answer (code ${stream.rstCode})`));
      else resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
    });
    stream.on('error', () => {}); // reported through 'close'
    if (r.body !== undefined) stream.end(r.body);
  });
}

/** Writes `bytes` on a bare connection and waits for the server to answer or close it (or gives up after 2 s). */
function sendRaw(base: string, bytes: Buffer): Promise<void> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.setTimeout(2000, done);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', () => {}); // whatever it answers
    socket.write(bytes, () => socket.end());
  });
}

/** Kills every invocation that has not completed (through the admin API, as an operator would). */
async function killUnfinished(adminUrl: string, auth: Record<string, string>): Promise<void> {
  const res = await fetch(`${adminUrl}/query`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query: "SELECT id FROM sys_invocation WHERE status != 'completed'" }),
  });
  expect(res.status).toBe(200);
  const { rows } = (await res.json()) as { rows: { id: string }[] };
  for (const { id } of rows) {
    const killed = await fetch(`${adminUrl}/invocations/${id}/kill`, { method: 'PATCH', headers: auth });
    expect([200, 202, 404, 409]).toContain(killed.status);
  }
}

/** Runs `work` over `items`, `CONCURRENCY` at a time. */
async function pool<T>(items: readonly T[], work: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i], i);
      }
    }),
  );
}

// Without authentication (npm start), and with bearer tokens (the Helm chart's default): there, most requests carry
// the token that opens every route, and the others a generated Authorization header (none, garbage, a wrong
// token), so that both the routes and the token check meet the generated input.
describe.each([false, true])(`HTTP fuzz of the admin API and the ingress (${TOPOLOGY}, tokens: %s)`, (withTokens) => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let known: Known;
  /** The header that opens every route (empty without tokens). */
  let auth: Record<string, string> = {};

  /** Registers the service (again): what a generated DELETE may have removed. */
  async function register(uri: string): Promise<{ id: string }> {
    const res = await fetch(`${server.adminUrl}/deployments`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ uri, force: true }),
    });
    expect(res.status).toBeLessThan(300);
    return (await res.json()) as { id: string };
  }

  beforeAll(async () => {
    const args: string[] = [];
    if (withTokens) {
      const token = newToken();
      const file = join(cleanup.tempDir('stead-fuzz-tokens-'), 'tokens.json');
      const scopes = ['admin:read', 'admin:write', 'ingress:invoke', 'ingress:attach'];
      writeFileSync(file, JSON.stringify({ tokens: [{ name: 'fuzz', hash: hashToken(token), scopes }] }));
      args.push('--auth-tokens-file', file);
      auth = { authorization: `Bearer ${token}` };
    }
    server = await startStead(cleanup, args);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    const registered = await register(svc.uri);
    // A few invocations, so that generated paths also name ids that exist.
    const invocationIds: string[] = [];
    for (const path of ['/Echo/echo/send', '/Box/k1/put/send', '/Flow/w1/run/send', '/Echo/echo/send?delay=1s']) {
      const res = await fetch(`${server.ingressUrl}${path}`, {
        method: 'POST',
        body: 'x',
        headers: { ...auth, ...OCTETS },
      });
      expect(res.status).toBeLessThan(300);
      invocationIds.push(((await res.json()) as { invocationId: string }).invocationId);
    }
    known = {
      invocationIds,
      deploymentId: registered.id,
      serviceUri: svc.uri,
      adminUrl: server.adminUrl,
      ingressUrl: server.ingressUrl,
    };
  }, 120_000);
  afterAll(() => cleanup.run());

  it(`answers ${REQUESTS} generated requests without a 5xx other than 503 and 501, and keeps serving`, async () => {
    process.stdout.write(`http fuzz: seed ${SEED} (HTTP_FUZZ_SEED=${SEED} replays it), ${REQUESTS} requests\n`);
    const requests = fc.sample(requestArb(known), { seed: SEED, numRuns: REQUESTS });
    // With tokens, seven requests in ten carry the good one (the others keep their generated headers).
    if (withTokens) for (const [i, r] of requests.entries()) if (i % 10 < 7) r.headers = { ...r.headers, ...auth };
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    // In rounds: before each, the service is registered again, as a generated DELETE may have removed it (a fair
    // request), and the rest would then only meet 404s.
    for (let round = 0; round * ROUND < requests.length; round++) {
      await register(known.serviceUri);
      // A removed deployment leaves the invocations pinned to it retrying until it comes back (as in Restate): the
      // removals of a round go last, so that no request of the round waits on such an invocation, and what they
      // left behind is killed before the next round (else a call there could wait on a key held by one of them).
      const batch = requests.slice(round * ROUND, (round + 1) * ROUND).map((r, j) => ({ r, i: round * ROUND + j }));
      const removes = ({ r }: { r: FuzzRequest }) =>
        r.server === 'admin' && r.method === 'DELETE' && /^\/(v\d\/)?deployments\//.test(r.path);
      for (const phase of [batch.filter((x) => !removes(x)), batch.filter(removes)]) {
        await pool(phase, async ({ r, i }) => {
          const base = r.server === 'admin' ? server.adminUrl : server.ingressUrl;
          const what = `#${i} ${r.server} ${r.h2 ? 'h2' : 'h1'} ${r.method} ${r.path.slice(0, 200)} ${JSON.stringify(r.headers).slice(0, 200)} body ${r.body?.length ?? 'none'}`;
          try {
            const a = await (r.h2 ? sendH2(base, r) : sendH1(base, r));
            statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
            const deliberate = a.status === 503 || (a.status === 501 && /"message":"Stead has no /.test(a.body));
            if (a.status >= 500 && !deliberate) failures.push(`${what} -> ${a.status} ${a.body.slice(0, 300)}`);
          } catch (e) {
            failures.push(`${what} -> no answer: ${(e as Error).message}`);
          }
        });
      }
      if (batch.some(removes)) await killUnfinished(server.adminUrl, auth);
    }
    process.stdout.write(
      `http fuzz: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}\n`,
    );
    if (failures.length > 0) {
      // What was still running, to tell a stuck invocation from a request the server never answered.
      const res = await fetch(`${server.adminUrl}/query`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({
          query:
            "SELECT id, target, status, retry_count, last_failure, pinned_deployment_id FROM sys_invocation WHERE status NOT IN ('completed', 'scheduled')",
        }),
      });
      process.stdout.write(`http fuzz: invocations not completed: ${await res.text()}\n`);
    }
    expect(failures.slice(0, 10)).toEqual([]);
    // The requests reached the routes: most answers are not the parser's 400 or a 404 for an unknown path.
    const handled = [...statuses].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0);
    expect(handled).toBeGreaterThan(REQUESTS / 20);

    const raws = fc.sample(rawArb, { seed: SEED, numRuns: RAW_CONNECTIONS });
    await pool(raws, (bytes, i) => sendRaw(i % 2 === 0 ? server.adminUrl : server.ingressUrl, bytes));

    // Still up, healthy, and serving a normal invocation and a normal admin request.
    expect(server.running()).toBe(true);
    await waitFor(() => server.healthy(), { timeoutMs: 30_000, what: 'the processes to answer their health checks' });
    await register(known.serviceUri);
    const echo = await waitFor(
      async () => {
        const res = await fetch(`${server.ingressUrl}/Echo/echo`, {
          method: 'POST',
          body: 'still here',
          headers: { ...auth, ...OCTETS },
        });
        return res.status === 200 ? res.text() : undefined;
      },
      { timeoutMs: 30_000, what: 'a normal invocation to answer' },
    );
    expect(echo).toBe('still here');
    expect((await fetch(`${server.adminUrl}/health`)).status).toBe(200);
  }, 600_000);
});
