import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import {
  authorizePeer,
  certificateNames,
  GrpcTls,
  type GrpcTlsMode,
  grpcChannelCredentials,
  listenGrpc,
  nodesOfCertificate,
  peerOf,
  type ServingGrpc,
  StartupError,
} from '../src/index.ts';
import { createTestCa, issueTestCert, type TestNodeCert } from '../src/test-pki.ts';

// A one-method service that answers who called it (as the server's authorisation sees the peer).
const identity = (b: Buffer) => b;
const WHO: grpc.ServiceDefinition = {
  who: {
    path: '/stead.test.Who/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const WhoClient = grpc.makeGenericClientConstructor(WHO, 'Who');

const dir = mkdtempSync(join(tmpdir(), 'stead-grpc-tls-'));
const ca = createTestCa(dir, 'cluster');
const other = createTestCa(dir, 'other');
const certs = {
  server: issueTestCert(dir, ca, 'server', 'server-1'),
  client: issueTestCert(dir, ca, 'client', 'node-7'),
  anonymous: issueTestCert(dir, ca, 'anonymous', undefined),
  foreign: issueTestCert(dir, other, 'foreign', 'node-7'),
};
const open: Array<{ close(): unknown }> = [];
afterAll(async () => {
  for (const o of open.reverse()) await o.close();
  rmSync(dir, { recursive: true, force: true });
});

function tlsOf(mode: GrpcTlsMode, c: TestNodeCert, reloadMs?: number): GrpcTls {
  const t = GrpcTls.fromFiles({ mode, ...c, reloadMs });
  open.push(t);
  return t;
}

async function serve(t: GrpcTls): Promise<ServingGrpc> {
  const server = new grpc.Server();
  server.addService(WHO, {
    who: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, Buffer.from(JSON.stringify(peerOf(call)))),
  });
  const s = await listenGrpc(server, '127.0.0.1', 0, 500, t);
  open.push(s);
  return s;
}

/** One call on a new client; the peer as the server saw it, or the gRPC error. */
function who(port: number, t: GrpcTls): Promise<unknown> {
  const c = new WhoClient(`127.0.0.1:${port}`, grpcChannelCredentials(t));
  return new Promise((resolve, reject) =>
    c.who(Buffer.alloc(0), { deadline: Date.now() + 3_000 }, (e: grpc.ServiceError | null, r: Buffer) => {
      c.close();
      if (e) reject(e);
      else resolve(JSON.parse(r.toString()));
    }),
  ).catch((e: grpc.ServiceError) => ({ error: e.code }));
}

describe('gRPC mTLS listeners and clients', () => {
  test('require: refuses plaintext and another CA, serves a good certificate and sees its node', async () => {
    const s = await serve(tlsOf('require', certs.server));
    expect(await who(s.port, GrpcTls.off())).toEqual({ error: grpc.status.UNAVAILABLE });
    expect(await who(s.port, tlsOf('require', certs.foreign))).toEqual({ error: grpc.status.UNAVAILABLE });
    expect(await who(s.port, tlsOf('require', certs.client))).toEqual({ secure: true, nodes: ['node-7'] });
    expect(await who(s.port, tlsOf('require', certs.anonymous))).toEqual({ secure: true, nodes: [] });
  });

  test('allow: plaintext and mTLS clients on the same port', async () => {
    const s = await serve(tlsOf('allow', certs.server));
    expect(await who(s.port, GrpcTls.off())).toEqual({ secure: false });
    expect(await who(s.port, tlsOf('require', certs.client))).toEqual({ secure: true, nodes: ['node-7'] });
    expect(await who(s.port, tlsOf('allow', certs.client))).toEqual({ secure: true, nodes: ['node-7'] });
    // A client whose certificate the listener refuses falls back to plaintext: an unauthenticated peer.
    expect(await who(s.port, tlsOf('allow', certs.foreign))).toEqual({ secure: false });
  });

  test('an allow client falls back to plaintext with a peer still off; a require client does not', async () => {
    const s = await serve(GrpcTls.off());
    expect(await who(s.port, tlsOf('allow', certs.client))).toEqual({ secure: false });
    expect(await who(s.port, tlsOf('require', certs.client))).toEqual({ error: grpc.status.UNAVAILABLE });
  });

  test('reload: new connections use replaced certificates; an invalid file keeps the last good ones', async () => {
    const live = { caFile: join(dir, 'live-ca.crt'), certFile: join(dir, 'live.crt'), keyFile: join(dir, 'live.key') };
    const install = (c: TestNodeCert) => {
      copyFileSync(c.caFile, live.caFile);
      copyFileSync(c.certFile, live.certFile);
      copyFileSync(c.keyFile, live.keyFile);
    };
    install(certs.client);
    const errors: string[] = [];
    const clientTls = GrpcTls.fromFiles({
      mode: 'require',
      ...live,
      reloadMs: 50,
      log: (level, msg) => level === 'error' && errors.push(msg),
    });
    open.push(clientTls);
    const serverTls = tlsOf('require', certs.server, 50);
    const s = await serve(serverTls);
    expect(await who(s.port, clientTls)).toEqual({ secure: true, nodes: ['node-7'] });

    install(issueTestCert(dir, ca, 'rotated', 'node-8'));
    await waitUntil(async () => ((await who(s.port, clientTls)) as { nodes?: string[] }).nodes?.[0] === 'node-8');

    writeFileSync(live.certFile, 'not a certificate');
    await waitUntil(async () => errors.length > 0);
    expect(errors[0]).toMatch(/keeping the last good/);
    expect(await who(s.port, clientTls)).toEqual({ secure: true, nodes: ['node-8'] });
  });

  test('reload on the server side: a new handshake sees the new server certificate', async () => {
    const live = { caFile: join(dir, 'srv-ca.crt'), certFile: join(dir, 'srv.crt'), keyFile: join(dir, 'srv.key') };
    const install = (c: TestNodeCert) => {
      copyFileSync(c.caFile, live.caFile);
      copyFileSync(c.keyFile, live.keyFile);
      copyFileSync(c.certFile, live.certFile);
    };
    install(certs.server);
    const serverTls = GrpcTls.fromFiles({ mode: 'require', ...live, reloadMs: 50 });
    open.push(serverTls);
    const s = await serve(serverTls);
    expect(await serverNodeId(s.port)).toBe('server-1');
    install(issueTestCert(dir, ca, 'server-rotated', 'server-2'));
    await waitUntil(async () => (await serverNodeId(s.port)) === 'server-2');
  });

  test('startup: missing files and a certificate from another CA are refused with what to fix', () => {
    expect(() => GrpcTls.fromFiles({ mode: 'require', caFile: 'none', certFile: 'none', keyFile: 'none' })).toThrow(
      /--grpc-tls-mode require needs --grpc-tls-ca-file .*STEAD_GRPC_TLS_KEY_FILE/,
    );
    expect(() => GrpcTls.fromFiles({ mode: 'allow', ...certs.foreign, caFile: ca.certFile })).toThrow(
      /not signed by the CA/,
    );
    expect(() => GrpcTls.fromFiles({ mode: 'allow', ...certs.client, certFile: join(dir, 'missing.crt') })).toThrow(
      StartupError,
    );
    expect(GrpcTls.fromFiles({ mode: 'off', caFile: 'none', certFile: 'none', keyFile: 'none' }).mode).toBe('off');
  });
});

describe('authorizePeer', () => {
  const member = { secure: true as const, nodes: ['seq-1'] };
  const rule = { member: true as const, what: 'put' };
  test('plaintext peers keep their rights until require', () => {
    expect(authorizePeer('off', { secure: false }, rule)).toBeUndefined();
    expect(authorizePeer('allow', { secure: false }, { node: 'seq-1', what: 'store' })).toBeUndefined();
    expect(authorizePeer('require', { secure: false }, rule)?.code).toBe(grpc.status.UNAUTHENTICATED);
  });
  test('members, non-members and one node', () => {
    expect(authorizePeer('require', member, rule)).toBeUndefined();
    expect(authorizePeer('allow', { secure: true, nodes: [] }, rule)?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(authorizePeer('require', member, { node: 'seq-1', what: 'store' })).toBeUndefined();
    const denied = authorizePeer('allow', member, { node: 'seq-2', what: 'store' });
    expect(denied).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      details: "store: only node 'seq-2' may, the client certificate names 'seq-1'",
    });
  });
  test('node id from the SAN', () => {
    expect(nodesOfCertificate('DNS:localhost, URI:stead://node/n-1, IP Address:127.0.0.1')).toEqual(['n-1']);
    expect(nodesOfCertificate('URI:stead://node/n-1, URI:stead://node/seq-*')).toEqual(['n-1', 'seq-*']);
    expect(nodesOfCertificate('DNS:localhost, URI:https://node/n-1')).toEqual([]);
    expect(nodesOfCertificate(undefined)).toEqual([]);
  });
  test('a certificate naming `prefix*` names every node whose id starts so', () => {
    const pods = { secure: true as const, nodes: ['stead-sequencer-*'] };
    expect(authorizePeer('require', pods, { node: 'stead-sequencer-7f9c-x2', what: 'store' })).toBeUndefined();
    expect(authorizePeer('require', pods, { node: 'stead-worker-0', what: 'store' })?.code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    expect(certificateNames('seq-1', 'seq-10')).toBe(false);
    expect(certificateNames('seq-1*', 'seq-10')).toBe(true);
  });
});

/** The node id in the certificate a listener presents to a new TLS connection. */
function serverNodeId(port: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      {
        host: '127.0.0.1',
        port,
        ca: readFileSync(ca.certFile),
        cert: readFileSync(certs.client.certFile),
        key: readFileSync(certs.client.keyFile),
        ALPNProtocols: ['h2'],
        checkServerIdentity: () => undefined,
      },
      () => {
        const id = nodesOfCertificate(s.getPeerCertificate().subjectaltname)[0];
        s.destroy();
        resolve(id);
      },
    );
    s.once('error', reject);
  });
}

async function waitUntil(cond: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
