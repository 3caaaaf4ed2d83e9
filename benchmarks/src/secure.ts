// The cost of TLS and authentication (issue 17): Stead's one-process server with HTTPS on the ingress and the
// admin API (a certificate from a CA made for the run) and bearer-token authentication (a token file with one
// token of every scope), measured like the plain cells of bench.ts on the 3-step handler, with the same clients
// (keep-alive HTTPS connections, so the handshake is paid once per connection, as real clients do).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken, newToken } from '@stead/core';
import { type Cleanup, makeTestCa, type ServiceProcess } from '@stead/testing';
import { type Measured, measureCell } from './cells.ts';
import type { ClientOptions } from './load.ts';
import { startStead, type Target } from './targets.ts';

export interface SecureStead {
  target: Target;
  client: ClientOptions;
}

/** Starts Stead with HTTPS and token auth; `client` is what a client needs to call it (the CA, the token). */
export async function startSecureStead(cleanup: Cleanup): Promise<SecureStead> {
  const dir = cleanup.tempDir('stead-bench-tls-');
  const ca = makeTestCa(dir);
  const server = ca.issue('server', ['127.0.0.1', 'localhost']);
  const token = newToken();
  const tokensFile = join(dir, 'tokens.json');
  const scopes = ['admin:read', 'admin:write', 'ingress:invoke', 'ingress:attach'];
  writeFileSync(tokensFile, JSON.stringify({ tokens: [{ name: 'bench', hash: hashToken(token), scopes }] }));
  const t = await startStead(cleanup, {}, [
    '--auth-tokens-file',
    tokensFile,
    '--http-tls-cert-file',
    server.certFile,
    '--http-tls-key-file',
    server.keyFile,
  ]);
  const target: Target = {
    ...t,
    ingress: t.ingress.replace(/^http:/, 'https:'),
    admin: t.admin.replace(/^http:/, 'https:'),
  };
  return { target, client: { ca: ca.cert, headers: { authorization: `Bearer ${token}` } } };
}

/** One cell against the secure server: `steps` × `concurrency`, as bench.ts measures the plain ones. */
export async function measureSecureCell(
  s: SecureStead,
  service: ServiceProcess,
  o: { steps: number; concurrency: number; warmup: number; durationMs: number },
): Promise<Measured> {
  return measureCell({
    name: 'stead (TLS + auth)',
    ingress: s.target.ingress,
    serverPids: [s.target.pid],
    servicePid: service.proc!.pid,
    client: s.client,
    ...o,
  });
}
