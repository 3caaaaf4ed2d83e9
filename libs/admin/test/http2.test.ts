/**
 * The admin API over HTTP/2 on its one port: h2c (prior knowledge) in plaintext and h2 negotiated by ALPN over TLS,
 * next to HTTP/1.1 on the same port. Real sockets, a CA made for the run, node:http2 clients.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import http2, { type ClientHttp2Session } from 'node:http2';
import https from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import { corsPolicy, hashToken, TokenAuthenticator } from '@stead/core';
import { Cleanup, type ContinueAnswer, makeTestCa, requestWithContinue, type TestCa, waitFor } from '@stead/testing';
import { type AdminServer, SchemaRegistry, startAdminServer } from '../src/index.ts';
import { jsonOf, request } from './helpers.ts';

const READ = 'tok-read';
const WRITE = 'tok-write';
const LIMIT_BYTES = 1024;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

interface H2Result {
  status: number;
  headers: http2.IncomingHttpHeaders;
  text: string;
  json: any;
  /** Whether the server sent 100 Continue. */
  continued: boolean;
}

interface H2Request {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Send `expect: 100-continue` and the body only after a 100 (none after a final answer). */
  expectContinue?: boolean;
}

/** One request on `session`; the answer's status, headers and body. */
function h2Request(session: ClientHttp2Session, opts: H2Request): Promise<H2Result> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': opts.method ?? 'GET',
      ':path': opts.path,
      ...opts.headers,
    };
    if (opts.expectContinue) headers.expect = '100-continue';
    const stream = session.request(headers, { endStream: opts.body === undefined });
    let continued = false;
    if (opts.body !== undefined && !opts.expectContinue) stream.end(opts.body);
    stream.on('continue', () => {
      continued = true;
      stream.end(opts.body);
    });
    let status = 0;
    let answerHeaders: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      answerHeaders = h;
    });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ status, headers: answerHeaders, text, json: jsonOf(text), continued });
      if (!stream.destroyed) stream.close();
    });
    stream.on('error', reject);
  });
}

function connectH2(url: string, ca?: Buffer): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, ca === undefined ? {} : { ca, servername: 'localhost' });
    session.once('connect', () => {
      session.off('error', reject);
      resolve(session);
    });
    session.once('error', reject);
  });
}

/** An HTTP/1.1 request over TLS: status, body and the protocol version the server answered with. */
function https1(
  port: number,
  ca: Buffer,
  opts: { path: string; headers?: Record<string, string>; ALPNProtocols?: string[] },
): Promise<{ status: number; httpVersion: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', servername: 'localhost', port, ca, agent: false, ...opts }, (res) => {
      res.resume();
      const alpn = (res.socket as tls.TLSSocket).alpnProtocol;
      res.on('end', () => resolve({ status: res.statusCode ?? 0, httpVersion: res.httpVersion, alpn }));
    });
    req.on('error', reject);
  });
}

/** A POST over HTTPS/1.1 with `Expect: 100-continue`: the status, and whether the server sent 100 first. */
function https1Continue(port: number, ca: Buffer, token: string): Promise<ContinueAnswer> {
  return requestWithContinue(
    (o: https.RequestOptions) => https.request(o),
    {
      host: '127.0.0.1',
      servername: 'localhost',
      port,
      ca,
      method: 'POST',
      path: '/deployments',
      headers: { ...bearer(token), 'content-type': 'application/json' },
    },
    '{}',
  );
}

/** The answer to raw bytes written on a fresh TLS connection, up to the server closing it. */
function rawTls(port: number, ca: Buffer, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    const chunks: Buffer[] = [];
    socket.on('secureConnect', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });
}

/** The checks every h2 transport (h2c, h2 over TLS) must pass against an admin server with tokens. */
function h2Checks(connect: () => Promise<ClientHttp2Session>, cleanup: Cleanup) {
  let session: ClientHttp2Session;
  beforeAll(async () => {
    session = await connect();
    cleanup.add(() => session.destroy());
  });

  test('no token: 401 with the Bearer challenge; a read token: 200; health stays open', async () => {
    const none = await h2Request(session, { path: '/services' });
    expect([none.status, none.headers['www-authenticate'], none.json.message]).toEqual([
      401,
      'Bearer',
      'authentication required: missing the header Authorization: Bearer <token>',
    ]);
    const ok = await h2Request(session, { path: '/v2/services', headers: bearer(READ) });
    expect([ok.status, ok.json]).toEqual([200, { services: [] }]);
    expect((await h2Request(session, { path: '/health', method: 'HEAD' })).status).toBe(200);
    const head = await h2Request(session, { path: '/deployments', method: 'HEAD', headers: bearer(READ) });
    expect([head.status, head.headers['content-type'], head.text]).toEqual([200, 'application/json', '']);
  });

  test('a body over the limit: 413 (the session keeps serving)', async () => {
    const big = await h2Request(session, {
      method: 'POST',
      path: '/deployments',
      headers: { ...bearer(WRITE), 'content-type': 'application/json' },
      body: JSON.stringify({ uri: `http://127.0.0.1:1/${'x'.repeat(LIMIT_BYTES)}` }),
    });
    expect([big.status, big.json.message]).toEqual([413, `request body larger than the limit of ${LIMIT_BYTES} bytes`]);
    expect((await h2Request(session, { path: '/deployments', headers: bearer(READ) })).status).toBe(200);
  });

  test('Expect: 100-continue is refused before the body without the scope or over the limit, else continued', async () => {
    const post = (token: string, body: string) =>
      h2Request(session, {
        method: 'POST',
        path: '/deployments',
        headers: { ...bearer(token), 'content-type': 'application/json', 'content-length': String(body.length) },
        body,
        expectContinue: true,
      });
    const refused = await post(READ, '{}');
    expect([refused.status, refused.continued]).toEqual([403, false]);
    const tooBig = await post(WRITE, `"${'x'.repeat(LIMIT_BYTES)}"`);
    expect([tooBig.status, tooBig.continued]).toEqual([413, false]);
    const admittedPost = await post(WRITE, '{}');
    expect([admittedPost.status, admittedPost.continued, admittedPost.json.message]).toEqual([
      422,
      true,
      'Failed to deserialize the JSON body into the target type: missing field `uri`',
    ]);
  });

  test('CORS: a preflight from the allowed origin gets 204 with its headers', async () => {
    const pre = await h2Request(session, {
      method: 'OPTIONS',
      path: '/deployments',
      headers: { origin: 'https://ui.example.com', 'access-control-request-method': 'POST' },
    });
    expect([pre.status, pre.headers['access-control-allow-origin']]).toEqual([204, 'https://ui.example.com']);
  });

  test('the web UI under /ui is served without a token', async () => {
    const page = await h2Request(session, { path: '/ui/' });
    expect([page.status, page.headers['content-type'], page.text]).toEqual([
      200,
      'text/html; charset=utf-8',
      '<!doctype html><title>ui</title>',
    ]);
  });
}

describe('admin API over HTTP/2 and HTTP/1.1 on one port', () => {
  const cleanup = new Cleanup();
  let ca: TestCa;
  let plain: AdminServer;
  let secure: AdminServer;

  beforeAll(async () => {
    const dir = cleanup.tempDir();
    writeFileSync(
      join(dir, 'tokens.json'),
      JSON.stringify({
        tokens: [
          { name: 'reader', hash: hashToken(READ), scopes: ['admin:read'] },
          { name: 'writer', hash: hashToken(WRITE), scopes: ['admin:read', 'admin:write'] },
        ],
      }),
    );
    const auth = TokenAuthenticator.open(join(dir, 'tokens.json'));
    cleanup.add(() => auth.close());
    const uiDir = join(dir, 'ui');
    mkdirSync(uiDir);
    writeFileSync(join(uiDir, 'index.html'), '<!doctype html><title>ui</title>');
    ca = makeTestCa(dir);
    const registry = await SchemaRegistry.open({ dataDir: dir });
    cleanup.add(() => registry.close());
    const common = {
      port: 0,
      host: '127.0.0.1',
      registry,
      auth,
      uiDir,
      maxBodyBytes: LIMIT_BYTES,
      cors: corsPolicy('https://ui.example.com'),
      onError: () => {},
    };
    plain = await startAdminServer(common);
    cleanup.add(() => plain.close());
    secure = await startAdminServer({ ...common, tls: ca.issue('admin'), onTlsReload: () => {} });
    cleanup.add(() => secure.close());
  });
  afterAll(() => cleanup.run());

  describe('h2c (plaintext, prior knowledge)', () => {
    h2Checks(() => connectH2(`http://127.0.0.1:${plain.port}`), cleanup);
  });

  describe('h2 over TLS (ALPN)', () => {
    h2Checks(async () => {
      const session = await connectH2(`https://127.0.0.1:${secure.port}`, ca.cert);
      expect((session.socket as tls.TLSSocket).alpnProtocol).toBe('h2');
      return session;
    }, cleanup);
  });

  test('HTTP/1.1 still answers on the same ports, plaintext and TLS (ALPN http/1.1)', async () => {
    const none = await request(plain.port, { path: '/services' });
    const ok = await request(plain.port, { path: '/services', headers: bearer(READ) });
    expect([none.status, ok.status, ok.json]).toEqual([401, 200, { services: [] }]);
    const big = await request(plain.port, {
      method: 'POST',
      path: '/deployments',
      headers: { ...bearer(WRITE), 'content-type': 'application/json' },
      body: 'x'.repeat(LIMIT_BYTES + 1),
    });
    expect([big.status, big.headers.connection]).toEqual([413, 'close']);
    // A client that offers http/1.1 by ALPN, and one that offers nothing (Node's https): both get HTTP/1.1.
    const alpn = ['http/1.1'];
    expect(await https1(secure.port, ca.cert, { path: '/services', ALPNProtocols: alpn })).toEqual({
      status: 401,
      httpVersion: '1.1',
      alpn: 'http/1.1',
    });
    expect(
      await https1(secure.port, ca.cert, { path: '/services', headers: bearer(READ), ALPNProtocols: alpn }),
    ).toEqual({ status: 200, httpVersion: '1.1', alpn: 'http/1.1' });
    expect(await https1(secure.port, ca.cert, { path: '/services', headers: bearer(READ) })).toEqual({
      status: 200,
      httpVersion: '1.1',
      alpn: false,
    });
  });

  test('HTTPS/1.1 with Expect: 100-continue: refused before the body without the scope, continued with it', async () => {
    expect(await https1Continue(secure.port, ca.cert, READ)).toEqual({ status: 403, continued: false });
    expect(await https1Continue(secure.port, ca.cert, WRITE)).toEqual({ status: 422, continued: true });
  });

  test('malformed HTTP/1.1 gets 400 over TLS as in plaintext', async () => {
    expect(await rawTls(secure.port, ca.cert, 'NOT HTTP\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });
});

describe('admin h2 sessions: idle timeout and close()', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  test('an idle h2c session is closed after the idle timeout; close() ends the open ones', async () => {
    const registry = await SchemaRegistry.open({ dataDir: cleanup.tempDir() });
    cleanup.add(() => registry.close());
    const admin = await startAdminServer({ port: 0, host: '127.0.0.1', registry, idleTimeoutMs: 300 });
    cleanup.add(() => admin.close());
    const url = `http://127.0.0.1:${admin.port}`;
    const idle = await connectH2(url);
    cleanup.add(() => idle.destroy());
    expect((await h2Request(idle, { path: '/health' })).status).toBe(200);
    await waitFor(() => idle.closed || idle.destroyed, { what: 'the idle session to be closed' });

    const busy = await connectH2(url);
    cleanup.add(() => busy.destroy());
    // A request in flight (its body never ends): close() ends its stream and the session.
    const pending = busy.request({ ':method': 'POST', ':path': '/deployments', 'content-type': 'application/json' });
    pending.on('error', () => {});
    const ended = new Promise<void>((resolve) => pending.once('close', () => resolve()));
    await admin.close();
    await ended;
    await waitFor(() => busy.destroyed, { what: 'the open session to be ended by close()' });
  });
});
