import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { metadata as pb } from '@stead/proto';
import { GrpcTls, type GrpcTlsMode, grpcChannelCredentials } from '@stead/runtime';
import { createTestCa, issueTestCert, type TestNodeCert } from '@stead/runtime/test-pki';
import { GrpcMetadataClient } from '../src/client.ts';
import { metadataRule } from '../src/grpc.ts';
import { Precondition } from '../src/state.ts';
import { createMetadataStore, type MetadataStore } from '../src/store.ts';
import { bytes, freePort, tempDir, text, until } from './helpers.ts';

// Metadata members and clients with real certificates: a cluster CA, node certificates, a CA-signed certificate
// that names no node (not a member), and a certificate of another CA.
const pki = tempDir('stead-md-pki-');
const ca = createTestCa(pki.path, 'cluster');
const otherCa = createTestCa(pki.path, 'other');
const cert = (name: string, nodeId: string | undefined, by = ca): TestNodeCert =>
  issueTestCert(pki.path, by, name, nodeId);
const tlsObjects: GrpcTls[] = [];
const tlsOf = (mode: GrpcTlsMode, c: TestNodeCert) => {
  const t = GrpcTls.fromFiles({ mode, ...c });
  tlsObjects.push(t);
  return t;
};
afterAll(() => {
  for (const t of tlsObjects) t.close();
  pki.remove();
});

describe('metadata store in require mode', () => {
  const dirs = [tempDir(), tempDir(), tempDir()];
  const stores: MetadataStore[] = [];
  let peers: { id: string; addr: string }[] = [];
  const clients: GrpcMetadataClient[] = [];
  const client = (tls: GrpcTls) => {
    const c = new GrpcMetadataClient({ addresses: peers.map((p) => p.addr), timeoutMs: 3_000, tls });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    peers = ports.map((p, i) => ({ id: `md-${i + 1}`, addr: `127.0.0.1:${p}` }));
    for (const [i, p] of peers.entries()) {
      stores.push(
        await createMetadataStore({
          dataDir: dirs[i].path,
          nodeId: p.id,
          peers,
          address: p.addr,
          grpcHost: '127.0.0.1',
          grpcPort: ports[i],
          tickMs: 20,
          electionTicks: 10,
          tls: tlsOf('require', cert(p.id, p.id)),
        }),
      );
    }
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    for (const s of stores) await s.close();
    for (const d of dirs) d.remove();
  });

  it('elects a leader over mTLS Raft and serves a member certificate', async () => {
    await until(() => stores.find((s) => s.node.isLeader()), 10_000, 'leader');
    const member = client(tlsOf('require', cert('worker-1', 'worker-1')));
    const v = await member.put('cfg', bytes('one'), Precondition.doesNotExist);
    const got = await member.get('cfg');
    expect(got && text(got.value)).toBe('one');
    expect(got?.version).toBe(v);
  });

  it('refuses a plaintext client and a client with a certificate of another CA', async () => {
    await expect(client(GrpcTls.off()).get('cfg')).rejects.toMatchObject({ code: 'unavailable' });
    const foreign = client(tlsOf('require', cert('foreign', 'worker-1', otherCa)));
    await expect(foreign.get('cfg')).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('a certificate that names no node reads, but may not write or change the membership', async () => {
    await until(() => stores.find((s) => s.node.isLeader()), 10_000, 'leader');
    const outsider = client(tlsOf('require', cert('operator', undefined)));
    expect(await outsider.get('cfg')).toBeDefined();
    await expect(outsider.put('cfg', bytes('evil'), Precondition.none)).rejects.toMatchObject({
      code: 'permission-denied',
      message: expect.stringMatching(/metadata put: the client certificate names no node/),
    });
    await expect(outsider.addMember('md-9', '127.0.0.1:1')).rejects.toMatchObject({ code: 'permission-denied' });
    await expect(outsider.removeMember('md-3')).rejects.toMatchObject({ code: 'permission-denied' });
    expect(
      stores[0].node
        .status()
        .members.map((m) => m.id)
        .sort(),
    ).toEqual(['md-1', 'md-2', 'md-3']);
  });

  it('Raft traffic is taken only from the node the certificate names', async () => {
    const raft = new pb.RaftServiceClient(
      peers[0].addr,
      grpcChannelCredentials(tlsOf('require', cert('worker-2', 'worker-2'))),
    );
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      raft.send({ clusterName: 'stead', from: 'md-2', fromAddress: peers[1].addr, messages: [], clusterId: '' }, (e) =>
        resolve(e),
      ),
    );
    raft.close();
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err?.details).toMatch(/only node 'md-2' may, the client certificate names 'worker-2'/);
  });
});

describe('metadata store in allow mode', () => {
  const dir = tempDir();
  let store: MetadataStore;
  let addr = '';
  beforeAll(async () => {
    const port = await freePort();
    addr = `127.0.0.1:${port}`;
    store = await createMetadataStore({
      dataDir: dir.path,
      nodeId: 'md-1',
      address: addr,
      grpcHost: '127.0.0.1',
      grpcPort: port,
      tls: tlsOf('allow', cert('allow-md-1', 'md-1')),
    });
  });
  afterAll(async () => {
    await store.close();
    dir.remove();
  });

  it('serves plaintext and mTLS clients on the same port; plaintext keeps its rights during the switch', async () => {
    const plain = new GrpcMetadataClient({ addresses: [addr], timeoutMs: 5_000, tls: GrpcTls.off() });
    const mtls = new GrpcMetadataClient({
      addresses: [addr],
      timeoutMs: 5_000,
      tls: tlsOf('allow', cert('allow-worker', 'worker-1')),
    });
    try {
      await plain.put('a', bytes('plain'), Precondition.doesNotExist);
      await mtls.put('b', bytes('mtls'), Precondition.doesNotExist);
      expect(text((await mtls.get('a'))!.value)).toBe('plain');
      expect(text((await plain.get('b'))!.value)).toBe('mtls');
    } finally {
      await plain.close();
      await mtls.close();
    }
  });
});

describe('metadataRule', () => {
  it('members for writes and membership, the named node for Raft, anyone for reads', () => {
    expect(metadataRule('put', {})).toEqual({ member: true, what: 'metadata put' });
    expect(metadataRule('addMember', {})).toEqual({ member: true, what: 'metadata addMember' });
    expect(metadataRule('raft.send', { from: 'md-2' })).toEqual({ node: 'md-2', what: 'raft messages' });
    expect(metadataRule('get', {})).toBeUndefined();
    expect(metadataRule('watch', {})).toBeUndefined();
  });
});
