import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { hashToken, TokenAuthenticator } from '@stead/core';
import { Cleanup, makeTestCa, requestWithContinue, type TestCa, waitFor } from '@stead/testing';
import {
  ADMIN_ROUTE_SCOPES,
  type AdminServer,
  adminRouteScope,
  SchemaRegistry,
  startAdminServer,
} from '../src/index.ts';
import { request } from './helpers.ts';

const READ = 'tok-read';
const WRITE = 'tok-write';
const INGRESS = 'tok-ingress';
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('admin route scopes (the table)', () => {
  test('reads need admin:read (POST /query too), everything else admin:write; health and version are open', () => {
    const cases: [string, string, string][] = [
      ['GET', '/health', 'open'],
      ['HEAD', '/health', 'open'],
      ['GET', '/version', 'open'],
      ['GET', '/openapi', 'admin:read'],
      ['GET', '/deployments', 'admin:read'],
      ['HEAD', '/deployments', 'admin:read'],
      ['GET', '/deployments/dp_1abc', 'admin:read'],
      ['GET', '/services/Greeter/handlers', 'admin:read'],
      ['GET', '/invocations/inv_1abc', 'admin:read'],
      ['GET', '/cluster', 'admin:read'],
      ['GET', '/schedules', 'admin:read'],
      ['GET', '/schedules/nightly', 'admin:read'],
      ['POST', '/query', 'admin:read'],
      ['POST', '/query/', 'admin:read'],
      ['POST', '/deployments', 'admin:write'],
      ['DELETE', '/deployments/dp_1abc', 'admin:write'],
      ['PATCH', '/services/Greeter', 'admin:write'],
      ['POST', '/services/Greeter/state', 'admin:write'],
      ['PATCH', '/invocations/inv_1abc/cancel', 'admin:write'],
      ['DELETE', '/invocations/inv_1abc', 'admin:write'],
      ['POST', '/cluster/nodes/n1/prestop', 'admin:write'],
      ['POST', '/schedules', 'admin:write'],
      ['PATCH', '/schedules/nightly/pause', 'admin:write'],
      ['PATCH', '/schedules/nightly/resume', 'admin:write'],
      ['DELETE', '/schedules/nightly', 'admin:write'],
      ['PUT', '/cluster/metadata/x', 'admin:write'],
      ['POST', '/health', 'admin:write'],
    ];
    expect(cases.map(([m, p]) => [m, p, adminRouteScope(m, p)])).toEqual(cases);
    expect(ADMIN_ROUTE_SCOPES.at(-1)).toEqual({ method: '*', pattern: '*', scope: 'admin:write' });
  });
});

describe('admin API with bearer tokens', () => {
  const cleanup = new Cleanup();
  let admin: AdminServer;
  let discovered = 0;
  let queried = 0;

  beforeAll(async () => {
    const dir = cleanup.tempDir();
    writeFileSync(
      join(dir, 'tokens.json'),
      JSON.stringify({
        tokens: [
          { name: 'reader', hash: hashToken(READ), scopes: ['admin:read'] },
          { name: 'writer', hash: hashToken(WRITE), scopes: ['admin:read', 'admin:write'] },
          { name: 'client', hash: hashToken(INGRESS), scopes: ['ingress:invoke'] },
        ],
      }),
    );
    const auth = TokenAuthenticator.open(join(dir, 'tokens.json'));
    cleanup.add(() => auth.close());
    const registry = await SchemaRegistry.open({
      dataDir: dir,
      discover: async () => {
        discovered++;
        throw new Error('no deployment here');
      },
    });
    cleanup.add(() => registry.close());
    admin = await startAdminServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      auth,
      onError: () => {},
      extend: (router) =>
        router.post('/query', () => {
          queried++;
          return { status: 200, json: { rows: [] } };
        }),
    });
    cleanup.add(() => admin.close());
  });
  afterAll(() => cleanup.run());

  test('no token or a bad one: 401 with a Bearer challenge and a JSON message', async () => {
    const none = await request(admin.port, { path: '/services' });
    expect([none.status, none.headers['www-authenticate'], none.json.message]).toEqual([
      401,
      'Bearer',
      'authentication required: missing the header Authorization: Bearer <token>',
    ]);
    const bad = await request(admin.port, { path: '/v2/deployments', headers: bearer('nope') });
    expect([bad.status, bad.json.message]).toEqual([401, 'authentication failed: the bearer token is not valid']);
    const basic = await request(admin.port, { path: '/services', headers: { authorization: 'Basic eDp5' } });
    expect(basic.json.message).toMatch(/not of the form: Bearer <token>/);
  });

  test('health and version stay open', async () => {
    expect((await request(admin.port, { path: '/health' })).status).toBe(200);
    expect((await request(admin.port, { path: '/v2/health', method: 'HEAD' })).status).toBe(200);
    expect((await request(admin.port, { path: '/version' })).json.max_admin_api_version).toBe(4);
  });

  test('a read token reads (POST /query included) but cannot change anything: 403 naming admin:write', async () => {
    expect((await request(admin.port, { path: '/services', headers: bearer(READ) })).json).toEqual({ services: [] });
    const q = await request(admin.port, {
      method: 'POST',
      path: '/query',
      headers: { ...bearer(READ), 'content-type': 'application/json' },
      body: '{"query": "SELECT 1"}',
    });
    expect([q.status, queried]).toEqual([200, 1]);
    const reg = await request(admin.port, {
      method: 'POST',
      path: '/deployments',
      headers: { ...bearer(READ), 'content-type': 'application/json' },
      body: '{"uri": "http://127.0.0.1:1"}',
    });
    expect([reg.status, reg.json.message]).toEqual([
      403,
      "the token 'reader' lacks the scope admin:write, which this request requires",
    ]);
    expect(discovered).toBe(0);
    const ingressOnly = await request(admin.port, { path: '/deployments', headers: bearer(INGRESS) });
    expect([ingressOnly.status, ingressOnly.json.message]).toEqual([
      403,
      "the token 'client' lacks the scope admin:read, which this request requires",
    ]);
  });

  test('a write token reaches the handler; unknown paths are 401 without a token, 404 with one', async () => {
    const reg = await request(admin.port, {
      method: 'POST',
      path: '/v2/deployments',
      headers: { ...bearer(WRITE), 'content-type': 'application/json' },
      body: '{"uri": "http://127.0.0.1:1"}',
    });
    expect(reg.status).not.toBe(403);
    expect(discovered).toBe(1);
    expect((await request(admin.port, { path: '/no/such/thing' })).status).toBe(401);
    expect((await request(admin.port, { path: '/no/such/thing', headers: bearer(INGRESS) })).status).toBe(404);
    expect((await request(admin.port, { method: 'PUT', path: '/services', headers: bearer(READ) })).status).toBe(405);
  });

  test('Expect: 100-continue without the scope is refused before the body is sent', async () => {
    const answer = await requestWithContinue(
      (o: http.RequestOptions) => http.request(o),
      {
        host: '127.0.0.1',
        port: admin.port,
        method: 'POST',
        path: '/deployments',
        headers: { ...bearer(READ), 'content-type': 'application/json' },
      },
      '{}',
    );
    expect(answer).toEqual({ status: 403, continued: false });
  });
});

function httpsGet(port: number, ca: Buffer | undefined): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', servername: 'localhost', port, path: '/health', ca, agent: false },
      (res) => {
        res.resume();
        resolve({
          status: res.statusCode ?? 0,
          serial: (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? '',
        });
      },
    );
    req.on('error', reject);
  });
}

describe('admin API over HTTPS', () => {
  const cleanup = new Cleanup();
  let ca: TestCa;
  let admin: AdminServer;
  let certFile: string;
  let keyFile: string;

  beforeAll(async () => {
    const dir = cleanup.tempDir();
    ca = makeTestCa(dir);
    ({ certFile, keyFile } = ca.issue('admin'));
    const registry = await SchemaRegistry.open({ dataDir: dir });
    cleanup.add(() => registry.close());
    admin = await startAdminServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      tls: { certFile, keyFile },
      onError: () => {},
    });
    cleanup.add(() => admin.close());
  });
  afterAll(() => cleanup.run());

  test('answers with the CA trusted; plain HTTP and untrusting clients fail', async () => {
    const ok = await httpsGet(admin.port, ca.cert);
    expect(ok).toEqual({ status: 200, serial: new X509Certificate(readFileSync(certFile)).serialNumber });
    await expect(httpsGet(admin.port, undefined)).rejects.toMatchObject({
      code: expect.stringMatching(/UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE/),
    });
    const plain = await request(admin.port, { path: '/health' }).then(
      (r) => `answered ${r.status}`,
      (err: Error) => `failed: ${err.message}`,
    );
    expect(plain).toBe('failed: socket hang up');
  });

  test('replaced certificate files: a new connection sees the new certificate', async () => {
    const next = ca.issue('renewed');
    const serial = new X509Certificate(next.cert).serialNumber;
    copyFileSync(next.keyFile, `${keyFile}.tmp`);
    copyFileSync(next.certFile, `${certFile}.tmp`);
    renameSync(`${keyFile}.tmp`, keyFile);
    renameSync(`${certFile}.tmp`, certFile);
    await waitFor(async () => (await httpsGet(admin.port, ca.cert)).serial === serial, {
      what: 'the renewed certificate to be served',
    });
  });
});
