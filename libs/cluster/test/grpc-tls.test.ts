/**
 * The worker's gRPC listener with mTLS (real certificates): in `require` it refuses plaintext clients and
 * certificates of another CA, serves member certificates, and refuses a CA-signed certificate that names no node
 * (unary calls and streams alike); in `allow` plaintext and mTLS clients share the port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { GrpcTls, type GrpcTlsMode } from '@stead/runtime';
import { createTestCa, issueTestCert, type TestNodeCert } from '@stead/runtime/test-pki';
import { Cleanup } from '@stead/testing';
import { serveWorker, type WorkerBackend, WorkerClient } from '../src/index.ts';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());
const root = mkdtempSync(join(tmpdir(), 'stead-worker-tls-'));
cleanup.add(() => rmSync(root, { recursive: true, force: true }));
const ca = createTestCa(root, 'cluster');
const otherCa = createTestCa(root, 'other');
const cert = (name: string, nodeId: string | undefined, by = ca): TestNodeCert => issueTestCert(root, by, name, nodeId);
const tlsOf = (mode: GrpcTlsMode, c: TestNodeCert) => {
  const t = GrpcTls.fromFiles({ mode, ...c });
  cleanup.add(() => t.close());
  return t;
};

/** A worker backend that answers Ping and scans one row; the other calls are not made here. */
const backend = {
  status: () => ({ nodeId: 'w-1', instance: 'i-1', partitions: [] }),
  scan: async function* () {
    yield [{ id: 'row-1' }];
  },
} as unknown as WorkerBackend;

async function worker(mode: GrpcTlsMode): Promise<string> {
  const server = await serveWorker(backend, { host: '127.0.0.1', port: 0, tls: tlsOf(mode, cert(`w-${mode}`, 'w-1')) });
  cleanup.add(() => server.close());
  return `127.0.0.1:${server.port}`;
}

function client(address: string, tls: GrpcTls): WorkerClient {
  const c = new WorkerClient(address, { tls });
  cleanup.add(() => c.close());
  return c;
}

describe('worker listener with mTLS', () => {
  it('require: refuses plaintext and another CA, serves a member, refuses a certificate naming no node', async () => {
    const address = await worker('require');
    // No connection is made: the listener drops the plaintext bytes and refuses the foreign certificate.
    const noConnection = /No connection established|Connection dropped|closed/i;
    await expect(client(address, GrpcTls.off()).ping(2_000)).rejects.toThrow(noConnection);
    const foreign = client(address, tlsOf('require', cert('foreign', 'w-2', otherCa)));
    await expect(foreign.ping(2_000)).rejects.toThrow(noConnection);
    expect((await client(address, tlsOf('require', cert('member', 'ingress-1'))).ping(2_000)).nodeId).toBe('w-1');
    const outsider = client(address, tlsOf('require', cert('outsider', undefined)));
    await expect(outsider.ping(2_000)).rejects.toThrow(/worker ping: the client certificate names no node/);
    const rows = async (c: WorkerClient) => {
      const out: unknown[] = [];
      for await (const batch of c.scan(0, 'sys_invocation', { limit: 10 })) out.push(...batch);
      return out;
    };
    await expect(rows(outsider)).rejects.toThrow(/worker scan: the client certificate names no node/);
  });

  it('allow: plaintext and mTLS clients on the same port', async () => {
    const address = await worker('allow');
    expect((await client(address, GrpcTls.off()).ping(2_000)).nodeId).toBe('w-1');
    expect((await client(address, tlsOf('allow', cert('allow-member', 'ingress-1'))).ping(2_000)).nodeId).toBe('w-1');
  });
});
