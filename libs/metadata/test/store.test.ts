import { afterEach, describe, expect, it } from '@jest/globals';
import { GrpcMetadataClient } from '../src/client.ts';
import { MetadataError } from '../src/errors.ts';
import { type ChangeEvent, Precondition } from '../src/state.ts';
import { createMetadataStore, type MetadataStore } from '../src/store.ts';
import { bytes, freePort, tempDir, text, until } from './helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function open(dir: string, extra: Record<string, unknown> = {}): Promise<MetadataStore> {
  const s = await createMetadataStore({ dataDir: dir, nodeId: '1', tickMs: 10, ...extra });
  cleanups.push(() => s.close());
  return s;
}

describe('single-member metadata store (in process)', () => {
  it('puts, gets and deletes with preconditions', async () => {
    const d = tempDir();
    cleanups.push(d.remove);
    const { client } = await open(d.path);
    const v1 = await client.put('nodes', bytes('a'), Precondition.doesNotExist);
    expect(v1).toBeGreaterThan(0);
    await expect(client.put('nodes', bytes('b'), Precondition.doesNotExist)).rejects.toMatchObject({
      code: 'precondition-failed',
      currentVersion: v1,
    });
    const v2 = await client.put('nodes', bytes('b'), Precondition.matchesVersion(v1));
    expect(v2).toBeGreaterThan(v1);
    await expect(client.put('nodes', bytes('c'), Precondition.matchesVersion(v1))).rejects.toThrow(
      /precondition failed: key 'nodes' is at version/,
    );
    const got = await client.get('nodes');
    expect(got && text(got.value)).toBe('b');
    expect(got?.version).toBe(v2);
    expect(await client.get('unknown')).toBeUndefined();
    expect(await client.delete('nodes', Precondition.matchesVersion(v2))).toBe(true);
    expect(await client.delete('nodes')).toBe(false);
    expect(await client.get('nodes')).toBeUndefined();
  });

  it('rejects bad input with clear errors', async () => {
    const d = tempDir();
    cleanups.push(d.remove);
    const { client } = await open(d.path, { maxValueBytes: 100 });
    await expect(client.put('k', new Uint8Array(101))).rejects.toThrow(/101 bytes, more than the limit of 100/);
    await expect(client.put('', bytes('x'))).rejects.toThrow(/key must not be empty/);
    await expect(client.put('a\u0001', bytes('x'))).rejects.toThrow(/control characters/);
    await expect(client.put('k'.repeat(2000), bytes('x'))).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(client.put('k', bytes('x'), Precondition.matchesVersion(-1))).rejects.toMatchObject({
      code: 'invalid-argument',
    });
  });

  it('keeps data across restarts and snapshots, and watches from a version', async () => {
    const d = tempDir();
    cleanups.push(d.remove);
    let s = await open(d.path, { snapshotEvery: 10 });
    const seen: ChangeEvent[] = [];
    const w = s.client.watch('counter', 0, (e) => seen.push(e));
    let version = 0;
    for (let i = 0; i < 35; i++) {
      version = await s.client.put(
        'counter',
        bytes(String(i)),
        i === 0 ? Precondition.doesNotExist : Precondition.matchesVersion(version),
      );
    }
    await until(() => seen.length === 35, 5000, 'watch events');
    expect(text(seen[34].value)).toBe('34');
    w.close();
    expect(s.node.status().snapshotIndex).toBeGreaterThan(10);
    await s.close();
    cleanups.pop();
    s = await open(d.path, { snapshotEvery: 10 });
    const got = await s.client.get('counter');
    expect(got && text(got.value)).toBe('34');
    expect(got?.version).toBe(version);
    // resume a watch from an older version: only the current value comes
    const later: ChangeEvent[] = [];
    s.client.watch('counter', seen[20].version, (e) => later.push(e));
    await until(() => later.length === 1, 2000, 'resumed watch');
    expect(later[0].version).toBe(version);
    await s.client.delete('counter');
    await until(() => later.length === 2, 2000, 'delete event');
    expect(later[1].deleted).toBe(true);
  });

  it('refuses a data dir of another cluster or member and says why', async () => {
    const d = tempDir();
    cleanups.push(d.remove);
    const s = await createMetadataStore({ dataDir: d.path, nodeId: '1', clusterName: 'alpha' });
    await s.client.put('k', bytes('v'));
    await s.close();
    await expect(createMetadataStore({ dataDir: d.path, nodeId: '1', clusterName: 'beta' })).rejects.toThrow(
      /belongs to metadata cluster 'alpha'.*configured for cluster 'beta'; refusing to start/,
    );
    await expect(createMetadataStore({ dataDir: d.path, nodeId: '2', clusterName: 'alpha' })).rejects.toThrow(
      /belongs to member '1'/,
    );
    const again = await createMetadataStore({ dataDir: d.path, nodeId: '1', clusterName: 'alpha' });
    expect((await again.client.get('k'))?.version).toBeGreaterThan(0);
    await again.close();
  });

  it('answers a retried write with the first outcome (request ids)', async () => {
    const d = tempDir();
    cleanups.push(d.remove);
    const { node } = await open(d.path);
    await node.waitForLeader();
    const rid = { clientId: 'c', seq: 1, ackedBelow: 1 };
    const a = await node.put('k', bytes('v'), Precondition.doesNotExist, rid);
    const b = await node.put('k', bytes('v'), Precondition.doesNotExist, rid);
    expect(b).toEqual(a);
    await expect(node.put('k', bytes('v'), Precondition.doesNotExist, { ...rid, seq: 2 })).rejects.toBeInstanceOf(
      MetadataError,
    );
  });

  it('AddMember for an unreachable address adds a learner: writes go on and the store restarts alone', async () => {
    const d = tempDir();
    cleanups.push(d.remove);
    const port = await freePort();
    const opts = { grpcHost: '127.0.0.1', grpcPort: port, address: `127.0.0.1:${port}`, writeTimeoutMs: 3000 };
    let s = await open(d.path, opts);
    await s.client.put('before', bytes('1'));
    const admin = new GrpcMetadataClient({ addresses: [`127.0.0.1:${port}`], timeoutMs: 5000 });
    cleanups.push(() => admin.close());
    const nobody = `127.0.0.1:${await freePort()}`; // nothing listens there
    const members = await admin.addMember('2', nobody);
    expect(members.map((m) => ({ id: m.nodeId, learner: m.learner }))).toEqual([
      { id: '1', learner: false },
      { id: '2', learner: true },
    ]);
    // Over several election timeouts and heartbeats, the learner never answers: it stays a learner and the single
    // voter keeps committing on its own.
    for (let i = 0; i < 5; i++) expect(await s.client.put(`during-${i}`, bytes('x'))).toBeGreaterThan(0);
    const sent = s.node.stats.messagesSent;
    await until(() => s.node.stats.messagesSent >= sent + 20, 5000, 'the leader keeps contacting the learner');
    expect((await admin.status()).members.map((m) => `${m.nodeId}${m.learner ? ' (learner)' : ''}`)).toEqual([
      '1',
      '2 (learner)',
    ]);
    expect(await admin.put('via-grpc', bytes('y'))).toBeGreaterThan(0);

    await s.close();
    s = await open(d.path, opts);
    await s.client.put('after-restart', bytes('z'));
    expect(s.node.status()).toMatchObject({ role: 'leader', leaderId: '1' });
    expect(text((await s.client.get('during-4'))!.value)).toBe('x');
    // A learner can be removed again.
    expect((await admin.removeMember('2')).map((m) => m.nodeId)).toEqual(['1']);
    await s.client.put('after-remove', bytes('w'));
  }, 30_000);
});
