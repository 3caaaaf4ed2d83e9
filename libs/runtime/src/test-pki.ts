import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { GrpcTls } from './grpc-tls.ts';

/**
 * Test support (`@stead/runtime/test-pki`): real certificates made with the `openssl` CLI — a CA, and node
 * certificates it signs that name their node in a URI SAN `stead://node/<id>` (or none), for the mTLS tests.
 */

export interface TestCa {
  name: string;
  certFile: string;
  keyFile: string;
}

/** A node's files: CA, certificate, key (what the `--grpc-tls-*-file` settings take). */
export interface TestNodeCert {
  caFile: string;
  certFile: string;
  keyFile: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA (EC P-256) in `dir/<name>-ca.{crt,key}`. */
export function createTestCa(dir: string, name: string): TestCa {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${name}-ca.crt`);
  const keyFile = join(dir, `${name}-ca.key`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    keyFile,
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=${name} CA`,
    '-out',
    certFile,
  ]);
  return { name, certFile, keyFile };
}

/**
 * A certificate signed by `ca` for `file` (`dir/<file>.{crt,key}`), naming node `nodeId` in its SAN URI (none when
 * `nodeId` is undefined: a CA-signed certificate of no cluster member). Usable as server and client certificate.
 */
export function issueTestCert(dir: string, ca: TestCa, file: string, nodeId: string | undefined): TestNodeCert {
  const certFile = join(dir, `${file}.crt`);
  const keyFile = join(dir, `${file}.key`);
  const csr = join(dir, `${file}.csr`);
  const ext = join(dir, `${file}.ext`);
  const san = nodeId === undefined ? 'DNS:localhost' : `URI:stead://node/${nodeId},DNS:localhost`;
  writeFileSync(
    ext,
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san},IP:127.0.0.1\n`,
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${nodeId ?? file}`, '-out', csr]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    certFile,
  ]);
  return { caFile: ca.certFile, certFile, keyFile };
}

/**
 * What a gRPC listener at `address` does with a client of `tls`: calls a method no Stead service has, so that
 * `'served'` (UNIMPLEMENTED: the call got through the listener) tells apart from `'refused'` (UNAVAILABLE: no
 * connection was made — plaintext to an mTLS-only port, a certificate the listener does not trust).
 */
export function probeGrpcListener(address: string, tls: GrpcTls, timeoutMs = 3_000): Promise<'served' | 'refused'> {
  const client = new grpc.Client(address, tls.channelCredentials());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      '/stead.probe.v1.Probe/Nothing',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (e) => {
        client.close();
        if (e?.code === grpc.status.UNIMPLEMENTED) resolve('served');
        else if (e?.code === grpc.status.UNAVAILABLE) resolve('refused');
        else reject(new Error(`unexpected answer of ${address}: ${e?.code} ${e?.details}`));
      },
    );
  });
}
