// The gRPC ingress's own listener: TLS from the HTTP ingress's certificate files (reloaded on renewal), oversized
// payloads, bad input. The methods end to end over the real engine are in e2e/test/grpc-ingress.test.ts.
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { connect, SteadClientError } from '@stead/client';
import type { InvocationBackend } from '@stead/core';
import { Cleanup, makeTestCa, type TestCa, waitFor } from '@stead/testing';
import { type GrpcIngress, startGrpcIngress } from '../src/index.ts';
import { RecordingBackend, SERVICES, StaticSchema } from './helpers.ts';

/** The serial number of the certificate a new TLS connection (ALPN h2, as gRPC) is shown. */
function servedSerial(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', servername: 'localhost', port, ca, ALPNProtocols: ['h2'] }, () => {
      resolve(s.getPeerX509Certificate()?.serialNumber ?? '');
      s.destroy();
    });
    s.on('error', reject);
  });
}

async function failure(p: Promise<unknown>): Promise<SteadClientError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SteadClientError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

describe('gRPC ingress over TLS', () => {
  const cleanup = new Cleanup();
  let ca: TestCa;
  let server: GrpcIngress;
  let backend: RecordingBackend;
  let certFile: string;
  let keyFile: string;
  const reloads: (Error | undefined)[] = [];

  beforeAll(async () => {
    ca = makeTestCa(cleanup.tempDir());
    ({ certFile, keyFile } = ca.issue('ingress'));
    backend = new RecordingBackend();
    server = await startGrpcIngress({
      port: 0,
      host: '127.0.0.1',
      // Call and Send are all these tests use of the engine.
      backend: backend as unknown as InvocationBackend,
      schema: new StaticSchema(SERVICES),
      maxBodyBytes: 1024,
      tls: { certFile, keyFile },
      onTlsReload: (err) => reloads.push(err),
    });
    cleanup.add(() => server.close());
  });
  afterAll(() => cleanup.run());

  const client = () => {
    const c = connect({ address: `localhost:${server.port}`, tls: { ca: ca.cert }, timeoutMs: 5_000 });
    cleanup.add(async () => c.close());
    return c;
  };

  test('calls over TLS pass the payload, content type and headers (minus unjournaled ones) to the backend', async () => {
    expect(
      await client().call({ service: 'Greeter', handler: 'greet' }, 'tls', {
        headers: { 'x-app': 'a1', Authorization: 'Bearer leaked', cookie: 'c=1' },
      }),
    ).toEqual({ echo: '"tls"' });
    const req = backend.calls.at(-1);
    expect(req?.target).toEqual({ service: 'Greeter', handler: 'greet', key: undefined });
    expect(req?.headers).toEqual([
      ['x-app', 'a1'],
      ['content-type', 'application/json'],
    ]);
  });

  test('refuses a payload over the limit (RESOURCE_EXHAUSTED, 413) and a keyed call without key', async () => {
    const c = client();
    const big = await failure(c.call({ service: 'Greeter', handler: 'greet' }, 'x'.repeat(2_000)));
    expect([big.grpcCode, big.restate?.code]).toEqual([grpc.status.RESOURCE_EXHAUSTED, 413]);
    const keyless = await failure(c.call({ service: 'Counter', handler: 'add' }, 1));
    expect([keyless.grpcCode, keyless.message]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/key/)]);
    const priv = await failure(c.call({ service: 'Greeter', handler: 'priv' }, 1));
    expect([priv.grpcCode, priv.message]).toEqual([grpc.status.INVALID_ARGUMENT, 'the invoked service is not public']);
  });

  test('answers bytes that are no message INVALID_ARGUMENT, an unknown method UNIMPLEMENTED, and keeps serving', async () => {
    // A client that sends raw bytes as the request of a method.
    const Raw = grpc.makeGenericClientConstructor(
      {
        call: {
          path: '/stead.ingress.v1.Ingress/Call',
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
        nope: {
          path: '/stead.ingress.v1.Ingress/Nope',
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      'Raw',
    );
    const raw = new Raw(`localhost:${server.port}`, grpc.credentials.createSsl(ca.cert)) as any;
    cleanup.add(async () => raw.close());
    const rawCall = (method: string, bytes: Buffer) =>
      new Promise<grpc.ServiceError>((resolve, reject) =>
        raw[method](bytes, (err: grpc.ServiceError | null) => (err ? resolve(err) : reject(new Error('answered')))),
      );
    // Field 1 (target) as a length-delimited value longer than the message.
    const garbage = await rawCall('call', Buffer.from([0x0a, 0x7f, 0x01]));
    expect([garbage.code, garbage.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      expect.stringMatching(/^the request message does not decode \(\/stead.ingress.v1.Ingress\/Call: /),
    ]);
    expect(garbage.metadata.get('x-restate-error-code')).toEqual(['400']);
    expect((await rawCall('nope', Buffer.alloc(0))).code).toBe(grpc.status.UNIMPLEMENTED);
    expect(await client().call({ service: 'Greeter', handler: 'greet' }, 'after')).toEqual({ echo: '"after"' });
  });

  test('renewed certificate files: a new connection is shown the new certificate; a bad pair keeps the old', async () => {
    const before = await servedSerial(server.port, ca.cert);
    expect(before).toBe(new X509Certificate(readFileSync(certFile)).serialNumber);
    const next = ca.issue('renewed');
    const nextSerial = new X509Certificate(next.cert).serialNumber;
    // Half a renewal: the new key with the old certificate does not load; the old pair stays.
    copyFileSync(next.keyFile, `${keyFile}.tmp`);
    renameSync(`${keyFile}.tmp`, keyFile);
    await waitFor(() => reloads.some((r) => r !== undefined), { what: 'the mismatched pair to be reported' });
    expect(await servedSerial(server.port, ca.cert)).toBe(before);
    copyFileSync(next.certFile, `${certFile}.tmp`);
    renameSync(`${certFile}.tmp`, certFile);
    await waitFor(async () => (await servedSerial(server.port, ca.cert)) === nextSerial, {
      what: 'the renewed certificate to be served',
    });
    expect(await client().call({ service: 'Greeter', handler: 'greet' }, 'renewed')).toEqual({ echo: '"renewed"' });
  });
});
