import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sequencer as seqPb } from '@stead/proto';
import { GrpcTls, type GrpcTlsMode, grpcChannelCredentials } from '@stead/runtime';
import { createTestCa, issueTestCert, type TestNodeCert } from '@stead/runtime/test-pki';
import { chainKey, encodeChain, sequencerOfLoglet } from '../src/bifrost/chain.ts';
import { LevelDbLogServerStorage } from '../src/cluster/leveldb-storage.ts';
import { GrpcLogServerClient, logServerRule, serveLogServer } from '../src/cluster/log-server-grpc.ts';
import { serveSequencer } from '../src/cluster/sequencer-grpc.ts';
import { LogServerCore } from '../src/replicated/log-server-core.ts';
import { realTimers } from '../src/replicated/quorum.ts';
import { SequencerHost } from '../src/replicated/sequencer-host.ts';

// A log server and a sequencer listener with real certificates: the loglet 'a.0' is sequenced by node 'seq-1'.
const root = mkdtempSync(join(tmpdir(), 'stead-log-tls-'));
const ca = createTestCa(root, 'cluster');
const otherCa = createTestCa(root, 'other');
const cert = (name: string, nodeId: string | undefined, by = ca): TestNodeCert => issueTestCert(root, by, name, nodeId);
const closers: Array<() => unknown> = [];
const tlsOf = (mode: GrpcTlsMode, c: TestNodeCert) => {
  const t = GrpcTls.fromFiles({ mode, ...c });
  closers.push(() => t.close());
  return t;
};
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});

const bytes = (s: string) => new TextEncoder().encode(s);
const owners: Record<string, string> = { 'a.0': 'seq-1' };

async function startLogServer(mode: GrpcTlsMode): Promise<number> {
  const identity = { clusterName: 'test', nodeId: `ls-${mode}` };
  const storage = await LevelDbLogServerStorage.open(join(root, `ls-${mode}`), identity);
  const server = await serveLogServer(new LogServerCore(storage), {
    host: '127.0.0.1',
    port: 0,
    identity,
    tls: tlsOf(mode, cert(`ls-${mode}`, `ls-${mode}`)),
    sequencers: async (logletId) => owners[logletId],
  });
  closers.push(
    () => storage.close(),
    () => server.close(),
  );
  return server.port;
}

function client(port: number, tls: GrpcTls): GrpcLogServerClient {
  const c = new GrpcLogServerClient(`127.0.0.1:${port}`, { timeoutMs: 2_000, tls });
  closers.push(() => c.close());
  return c;
}

const store = (c: GrpcLogServerClient, logletId: string, firstOffset: bigint, repair = false) =>
  c.store({ logletId, firstOffset, payloads: [bytes(`r${firstOffset}`)], knownGlobalTail: 0n, repair });

describe('log server in require mode', () => {
  let port = 0;
  beforeAll(async () => {
    port = await startLogServer('require');
  });

  test('refuses a plaintext client and another CA; serves a good certificate', async () => {
    // No connection is made: the listener drops the plaintext bytes and refuses the foreign certificate.
    await expect(client(port, GrpcTls.off()).identify()).rejects.toThrow(
      /log server: .*(No connection|Connection dropped|closed)/i,
    );
    await expect(client(port, tlsOf('require', cert('ls-foreign', 'seq-1', otherCa))).identify()).rejects.toThrow(
      /log server: .*(No connection|Connection dropped|closed)/i,
    );
    expect(await client(port, tlsOf('require', cert('ls-reader', 'worker-1'))).identify()).toEqual({
      nodeId: 'ls-require',
      clusterName: 'test',
    });
  });

  test("Store of new records only from the loglet's sequencer; repair, Seal and Trim from members", async () => {
    const sequencer = client(port, tlsOf('require', cert('seq-1', 'seq-1')));
    const otherMember = client(port, tlsOf('require', cert('seq-2', 'seq-2')));
    const outsider = client(port, tlsOf('require', cert('ls-outsider', undefined)));

    expect((await store(sequencer, 'a.0', 0n)).status).toBe('ok');
    await expect(store(otherMember, 'a.0', 1n)).rejects.toThrow(
      /store to loglet a\.0 \(only its sequencer may\): only node 'seq-1' may, the client certificate names 'seq-2'/,
    );
    // A loglet no segment names takes no new records from anyone.
    await expect(store(sequencer, 'z.0', 0n)).rejects.toThrow(/no segment in the metadata store/);
    await expect(store(outsider, 'a.0', 1n, true)).rejects.toThrow(/names no node/);
    await expect(outsider.seal({ logletId: 'a.0' })).rejects.toThrow(
      /seal of loglet a\.0: the client certificate names no node/,
    );
    await expect(outsider.trim({ logletId: 'a.0', upTo: 1n })).rejects.toThrow(/names no node/);
    // Nothing the refused calls sent was stored; the records only the sequencer stored are there.
    const read = await outsider.getRecords({ logletId: 'a.0', from: 0n, to: 10n });
    expect(read.records.map((r) => r.offset)).toEqual([0n]);
    expect(read.sealed).toBe(false);
    // Members may repair, seal and trim.
    expect((await store(otherMember, 'a.0', 3n, true)).status).toBe('ok');
    expect((await otherMember.seal({ logletId: 'a.0' })).sealed).toBe(true);
    expect((await otherMember.trim({ logletId: 'a.0', upTo: 1n })).trimPoint).toBe(1n);
  });
});

describe('log server in allow mode', () => {
  test('plaintext and mTLS on the same port; plaintext peers keep their rights, mTLS peers are checked', async () => {
    const port = await startLogServer('allow');
    const plain = client(port, GrpcTls.off());
    const sequencer = client(port, tlsOf('allow', cert('allow-seq-1', 'seq-1')));
    const otherMember = client(port, tlsOf('allow', cert('allow-seq-2', 'seq-2')));
    expect((await store(plain, 'a.0', 0n)).status).toBe('ok');
    expect((await store(sequencer, 'a.0', 1n)).status).toBe('ok');
    await expect(store(otherMember, 'a.0', 2n)).rejects.toThrow(/only node 'seq-1' may/);
    expect((await plain.getRecords({ logletId: 'a.0', from: 0n, to: 10n })).records.map((r) => r.offset)).toEqual([
      0n,
      1n,
    ]);
  });
});

describe('sequencer listener', () => {
  let port = 0;
  beforeAll(async () => {
    const host = new SequencerHost({
      id: 'seq-1',
      instance: randomUUID(),
      metadata: { get: async () => undefined, put: async () => 1, delete: async () => false } as never,
      logServers: () => {
        throw new Error('no log servers in this test');
      },
      timers: realTimers,
      random: Math.random,
    });
    const server = await serveSequencer(host, {
      host: '127.0.0.1',
      port: 0,
      tls: tlsOf('require', cert('seq-listener', 'seq-1')),
    });
    closers.push(
      () => server.close(),
      () => host.close(),
    );
    port = server.port;
  });

  /** An Append with no records: the sequencer answers INVALID_ARGUMENT once the call gets through. */
  const append = (tls: GrpcTls) => {
    const c = new seqPb.SequencerServiceClient(`127.0.0.1:${port}`, grpcChannelCredentials(tls));
    return new Promise<grpc.ServiceError | null>((resolve) =>
      c.append(
        { logletId: 'a.0', payloads: [], producerId: '', callSeq: 0n, firstUnackedSeq: 0n },
        new grpc.Metadata(),
        { deadline: Date.now() + 3_000 },
        (e) => {
          c.close();
          resolve(e);
        },
      ),
    );
  };

  test('require: refuses plaintext and another CA, members get through, non-members may not append', async () => {
    expect((await append(GrpcTls.off()))?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await append(tlsOf('require', cert('seq-foreign', 'w-1', otherCa))))?.code).toBe(grpc.status.UNAVAILABLE);
    const member = await append(tlsOf('require', cert('seq-member', 'w-1')));
    expect(member?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const outsider = await append(tlsOf('require', cert('seq-outsider', undefined)));
    expect(outsider?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(outsider?.details).toMatch(/append: the client certificate names no node/);
  });
});

describe('who owns a loglet', () => {
  test('the segment of its log names its sequencer', async () => {
    const chain = {
      logId: 'p3',
      trimPoint: 0n,
      segments: [
        {
          index: 0,
          base: 0n,
          logletId: 'p3.0',
          sequencer: { id: 'w-1', instance: 'i1' },
          nodeset: [{ id: 'ls1' }],
          replication: { scope: 'node' as const, count: 1 },
          sealedTail: 4n,
        },
        {
          index: 1,
          base: 4n,
          logletId: 'p3.1',
          sequencer: { id: 'w-2', instance: 'i2' },
          nodeset: [{ id: 'ls1' }],
          replication: { scope: 'node' as const, count: 1 },
        },
      ],
    };
    const kv = new Map([[chainKey('p3'), { value: encodeChain(chain), version: 1 }]]);
    const md = { get: async (k: string) => kv.get(k) };
    expect(await sequencerOfLoglet(md, 'p3.0')).toBe('w-1');
    expect(await sequencerOfLoglet(md, 'p3.1')).toBe('w-2');
    expect(await sequencerOfLoglet(md, 'p3.2')).toBeUndefined();
    expect(await sequencerOfLoglet(md, 'q.0')).toBeUndefined();
  });

  test('logServerRule', () => {
    expect(logServerRule('store', { logletId: 'a.0' }, 'seq-1')).toMatchObject({ node: 'seq-1' });
    expect(logServerRule('store', { logletId: 'a.0', repair: true }, 'seq-1')).toMatchObject({ member: true });
    expect(logServerRule('store', { logletId: 'a.0' }, undefined)).toMatchObject({ member: true });
    expect(logServerRule('seal', { logletId: 'a.0' }, undefined)).toMatchObject({ member: true });
    expect(logServerRule('read', { logletId: 'a.0' }, undefined)).toBeUndefined();
  });
});
