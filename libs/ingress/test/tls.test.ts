import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { Cleanup, makeTestCa, type TestCa, waitFor } from '@stead/testing';
import { type IngressServer, startIngressServer } from '../src/index.ts';
import { RecordingBackend, SERVICES, StaticSchema } from './helpers.ts';

interface TlsAnswer {
  status: number;
  text: string;
  /** Serial number of the certificate the server presented. */
  serial: string;
  protocol: string;
}

function httpsCall(port: number, ca: Buffer | undefined, path = '/Greeter/greet'): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
        ca,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const socket = res.socket as TLSSocket;
        const serial = socket.getPeerX509Certificate()?.serialNumber ?? '';
        const protocol = String(socket.alpnProtocol);
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), serial, protocol }),
        );
      },
    );
    req.on('error', reject);
    req.end('"tls"');
  });
}

function h2Call(port: number, ca: Buffer): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://localhost:${port}`, { ca });
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/Greeter/greet',
      'content-type': 'application/json',
    });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const socket = session.socket as TLSSocket;
      const answer = {
        status,
        text: Buffer.concat(chunks).toString(),
        serial: socket.getPeerX509Certificate()?.serialNumber ?? '',
        protocol: String(session.alpnProtocol),
      };
      session.close();
      resolve(answer);
    });
    stream.on('error', reject);
    stream.end('"h2"');
  });
}

/** A plaintext HTTP/1.1 request: settles with the status, or rejects when the connection fails. */
function plainCall(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'GET', path: '/restate/health', agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('ingress over HTTPS', () => {
  const cleanup = new Cleanup();
  let ca: TestCa;
  let server: IngressServer;
  let backend: RecordingBackend;
  let certFile: string;
  let keyFile: string;
  const reloads: (Error | undefined)[] = [];

  beforeAll(async () => {
    const dir = cleanup.tempDir();
    ca = makeTestCa(dir);
    ({ certFile, keyFile } = ca.issue('ingress'));
    backend = new RecordingBackend();
    server = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend,
      schema: new StaticSchema(SERVICES),
      tls: { certFile, keyFile },
      onTlsReload: (err) => reloads.push(err),
    });
    cleanup.add(() => server.close());
  });
  afterAll(() => cleanup.run());

  test('HTTP/1.1 and h2 (by ALPN) succeed on the one port with the CA trusted', async () => {
    const h1 = await httpsCall(server.port, ca.cert);
    expect([h1.status, h1.protocol]).toEqual([200, 'false']); // no ALPN offered by the https client: HTTP/1.1
    expect(JSON.parse(h1.text)).toEqual({ echo: '"tls"' });
    const h2 = await h2Call(server.port, ca.cert);
    expect([h2.status, h2.protocol, JSON.parse(h2.text)]).toEqual([200, 'h2', { echo: '"h2"' }]);
    expect(backend.calls).toHaveLength(2);
  });

  test('plaintext HTTP and h2c to the TLS port fail; a client that does not trust the CA fails', async () => {
    await expect(plainCall(server.port)).rejects.toThrow();
    const h2c = await new Promise<string>((resolve) => {
      const session = http2.connect(`http://127.0.0.1:${server.port}`);
      session.on('error', (err) => resolve(`error: ${err.message}`));
      session.on('close', () => resolve('closed'));
      const stream = session.request({ ':path': '/restate/health' });
      stream.on('response', () => resolve('answered'));
      stream.on('error', (err) => resolve(`error: ${err.message}`));
      stream.end();
    });
    expect(h2c).not.toBe('answered');
    await expect(httpsCall(server.port, undefined)).rejects.toMatchObject({
      code: expect.stringMatching(/UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED/),
    });
    const other = makeTestCa(cleanup.tempDir(), 'another CA');
    await expect(h2Call(server.port, other.cert)).rejects.toThrow(/certificate|issuer/i);
    expect(backend.calls).toHaveLength(2);
  });

  test('replaced certificate files: a new connection sees the new certificate', async () => {
    const before = await httpsCall(server.port, ca.cert);
    expect(before.serial).toBe(new X509Certificate(readFileSync(certFile)).serialNumber);
    const next = ca.issue('renewed');
    const nextSerial = new X509Certificate(next.cert).serialNumber;
    expect(nextSerial).not.toBe(before.serial);
    // Half a renewal: the new key with the old certificate does not load; the old pair stays in use.
    copyFileSync(next.keyFile, `${keyFile}.tmp`);
    renameSync(`${keyFile}.tmp`, keyFile);
    await waitFor(() => reloads.some((r) => r !== undefined), { what: 'the mismatched pair to be reported' });
    expect(reloads.find((r) => r !== undefined)?.message).toMatch(/not usable together/);
    expect((await httpsCall(server.port, ca.cert)).serial).toBe(before.serial);
    // The rest of it lands.
    copyFileSync(next.keyFile, `${keyFile}.tmp`);
    copyFileSync(next.certFile, `${certFile}.tmp`);
    renameSync(`${keyFile}.tmp`, keyFile);
    renameSync(`${certFile}.tmp`, certFile);
    const after = await waitFor(
      async () => {
        const a = await httpsCall(server.port, ca.cert);
        return a.serial === nextSerial ? a : undefined;
      },
      { what: 'the renewed certificate to be served' },
    );
    expect(after.status).toBe(200);
    const h2 = await h2Call(server.port, ca.cert);
    expect(h2.serial).toBe(nextSerial);
  });
});
