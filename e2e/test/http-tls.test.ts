/**
 * Issue 17: HTTPS on the ingress (HTTP/1.1 and h2 on one port) and the admin API of a running Stead (one-process
 * server, or a cluster with STEAD_E2E_TOPOLOGY=cluster), with a CA and certificate generated here and bearer
 * tokens on; and the server refusing to start with settings it cannot use.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { hashToken } from '@stead/core';
import {
  Cleanup,
  makeTestCa,
  NODE,
  Proc,
  REPO,
  ServiceProcess,
  type SteadUnderTest,
  startStead,
  steadEnv,
  type TestCa,
  TOPOLOGY,
} from '@stead/testing';

const HEADERS_SERVICE = new URL('../services/headers.ts', import.meta.url).pathname;
const TOKEN = 'e2e-tls-token';
const RESTATE = createRequire(import.meta.url).resolve(`@restatedev/restate-${platform()}-${arch()}/bin/restate`);

interface Answer {
  status: number;
  text: string;
}

/** One HTTPS/1.1 request to 127.0.0.1 (certificate checked for `localhost`), trusting `ca`. */
function httpsRequest(url: string, ca: Buffer, method: string, body?: string): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: u.port,
        path: u.pathname,
        method,
        ca,
        agent: false,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function h2Request(
  url: string,
  ca: Buffer,
  path: string,
  body: string | undefined,
  method = 'POST',
): Promise<Answer & { alpn: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://localhost:${u.port}`, { ca });
    session.on('error', reject);
    const stream = session.request({
      ':method': method,
      ':path': path,
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'x-keep': 'h2',
    });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const alpn = String(session.alpnProtocol);
      session.close();
      resolve({ status, text: Buffer.concat(chunks).toString(), alpn });
    });
    stream.on('error', reject);
    stream.end(body);
  });
}

function plainRequest(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: u.port, path: '/health', agent: false }, (res) => {
      res.resume();
      resolve(`answered ${res.statusCode}`);
    });
    req.on('error', (err) => resolve(`failed: ${err.message}`));
  });
}

describe(`HTTPS on the ingress and the admin API (${TOPOLOGY})`, () => {
  const cleanup = new Cleanup();
  let ca: TestCa;
  let server: SteadUnderTest;
  let svc: ServiceProcess;
  const https_ = (url: string) => url.replace(/^http:/, 'https:');

  beforeAll(async () => {
    const dir = cleanup.tempDir('stead-tls-');
    ca = makeTestCa(dir);
    const cert = ca.issue('stead', ['localhost', '127.0.0.1']);
    const tokens = join(dir, 'tokens.json');
    writeFileSync(
      tokens,
      JSON.stringify({
        tokens: [{ name: 'e2e', hash: hashToken(TOKEN), scopes: ['admin:read', 'admin:write', 'ingress:invoke'] }],
      }),
    );
    server = await startStead(cleanup, [
      '--http-tls-cert-file',
      cert.certFile,
      '--http-tls-key-file',
      cert.keyFile,
      '--auth-tokens-file',
      tokens,
    ]);
    svc = await ServiceProcess.start(cleanup, HEADERS_SERVICE);
  });
  afterAll(() => cleanup.run());

  it('registers through the admin API over HTTPS (HTTP/1.1, h2 reads it back), calls over HTTPS/1.1 and h2 on the one ingress port', async () => {
    const uri = svc.uri.replace(/\/\/127\.0\.0\.1(?=:)/, `//${server.cluster?.host ?? '127.0.0.1'}`);
    const reg = await httpsRequest(`${https_(server.adminUrl)}/deployments`, ca.cert, 'POST', JSON.stringify({ uri }));
    expect([reg.status, JSON.parse(reg.text).services.map((s: { name: string }) => s.name)]).toEqual([
      201,
      ['Headers'],
    ]);
    const listed = await h2Request(server.adminUrl, ca.cert, '/services', undefined, 'GET');
    expect([listed.status, listed.alpn, JSON.parse(listed.text).services.map((s: { name: string }) => s.name)]).toEqual(
      [200, 'h2', ['Headers']],
    );
    const h1 = await httpsRequest(`${https_(server.ingressUrl)}/Headers/seen`, ca.cert, 'POST', 'null');
    expect(h1.status).toBe(200);
    expect(JSON.parse(h1.text)).not.toHaveProperty('authorization');
    const h2 = await h2Request(server.ingressUrl, ca.cert, '/Headers/seen', 'null');
    expect([h2.status, h2.alpn, JSON.parse(h2.text)['x-keep']]).toEqual([200, 'h2', 'h2']);
  });

  it('the restate CLI works over HTTPS when it trusts the CA (SSL_CERT_FILE), and fails when it does not', async () => {
    const home = cleanup.tempDir('restate-cli-home-');
    const list = (env: NodeJS.ProcessEnv) =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile(
          RESTATE,
          ['services', 'list'],
          {
            env: {
              PATH: process.env.PATH,
              HOME: home,
              RESTATE_CLI_CONFIG_HOME: join(home, 'config'),
              RESTATE_ADMIN_URL: https_(server.adminUrl),
              RESTATE_AUTH_TOKEN: TOKEN,
              NO_COLOR: '1',
              ...env,
            },
            timeout: 30_000,
          },
          (err, out, errOut) => resolve({ code: err ? Number(err.code) || -1 : 0, out: out + errOut }),
        ),
      );
    const trusted = await list({ SSL_CERT_FILE: ca.certFile });
    expect([trusted.code, trusted.out]).toEqual([0, expect.stringMatching(/\[public\]\s+Headers\s+1\s+HTTP/)]);
    const untrusted = await list({});
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.out).not.toMatch(/Headers/);
  });

  it('plain HTTP to either port fails', async () => {
    expect(await plainRequest(server.adminUrl)).toMatch(/^failed: /);
    expect(await plainRequest(server.ingressUrl)).toMatch(/^failed: /);
  });

  it('a client that does not trust the CA fails', async () => {
    const other = makeTestCa(cleanup.tempDir('stead-other-ca-'), 'another CA');
    await expect(httpsRequest(`${https_(server.adminUrl)}/services`, other.cert, 'GET')).rejects.toThrow(
      /certificate|issuer/i,
    );
  });
});

describe('the server refuses HTTP security settings it cannot use', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  /** Starts the one-process server with `args` and returns its exit status and output once it exits. */
  async function startFails(args: string[]): Promise<{ code: number | null; output: string }> {
    const dir = cleanup.tempDir('stead-refuse-');
    const proc = new Proc(
      'stead-server',
      NODE,
      [
        '--disable-warning=ExperimentalWarning',
        join(REPO, 'apps/server/src/main.ts'),
        '--data-dir',
        join(dir, 'data'),
        '--bind-address',
        '127.0.0.1',
        ...['--ingress-port', '--grpc-ingress-port', '--admin-port', '--node-port', '--metrics-port'].flatMap((f) => [
          f,
          '0',
        ]),
        ...args,
      ],
      { env: steadEnv(process.env) },
    );
    cleanup.add(() => proc.stop());
    const code = await proc.exited;
    return { code, output: proc.lines.join('\n') };
  }

  it('a certificate without its key, and a token file with problems, each stop the start with the reason', async () => {
    const dir = cleanup.tempDir('stead-bad-');
    const ca = makeTestCa(dir);
    const cert = ca.issue('s');
    const noKey = await startFails(['--http-tls-cert-file', cert.certFile]);
    expect(noKey.code).toBe(1);
    expect(noKey.output).toContain('--http-tls-cert-file and --http-tls-key-file go together');
    const bad = join(dir, 'tokens.json');
    writeFileSync(bad, JSON.stringify({ tokens: [{ name: 'x', hash: 'plain-token', scopes: ['admin:root'] }] }));
    const badTokens = await startFails(['--auth-tokens-file', bad]);
    expect(badTokens.code).toBe(1);
    expect(badTokens.output).toContain('tokens[0] (\\"x\\"): hash: expected sha256:');
    expect(badTokens.output).toContain('unknown scope \\"admin:root\\"');
  });
});
