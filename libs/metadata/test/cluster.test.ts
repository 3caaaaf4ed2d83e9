import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { checkLinearizable, HistoryRecorder, type KvInput, type KvOutput, kvModel } from '@stead/raft/sim';
import { GrpcMetadataClient } from '../src/client.ts';
import { MetadataError } from '../src/errors.ts';
import { Precondition } from '../src/state.ts';
import { createMetadataStore, type MetadataStore } from '../src/store.ts';
import { bytes, freePort, tempDir, text, until } from './helpers.ts';

// Three members in this process, talking gRPC over loopback.
describe('three-member metadata store over gRPC', () => {
  const dirs = [tempDir(), tempDir(), tempDir()];
  const stores = new Map<string, MetadataStore>();
  let peers: { id: string; addr: string }[] = [];
  let client: GrpcMetadataClient;

  const start = (id: string, extra: Record<string, unknown> = {}) => {
    const p = peers.find((x) => x.id === id)!;
    return createMetadataStore({
      dataDir: dirs[Number(id) - 1].path,
      nodeId: id,
      peers,
      address: p.addr,
      grpcHost: '127.0.0.1',
      grpcPort: Number(p.addr.split(':')[1]),
      tickMs: 20,
      electionTicks: 10,
      ...extra,
    });
  };

  beforeAll(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    peers = ports.map((p, i) => ({ id: String(i + 1), addr: `127.0.0.1:${p}` }));
    for (const p of peers) stores.set(p.id, await start(p.id));
    client = new GrpcMetadataClient({ addresses: peers.map((p) => p.addr), timeoutMs: 8000 });
  });

  afterAll(async () => {
    await client.close();
    for (const s of stores.values()) await s.close();
    for (const d of dirs) d.remove();
  });

  const leader = () => [...stores.values()].find((s) => s.node.isLeader());

  it('elects a leader and serves writes through any member', async () => {
    await until(leader, 10_000, 'leader');
    const v = await client.put('cfg', bytes('one'), Precondition.doesNotExist);
    const follower = [...stores.values()].find((s) => !s.node.isLeader())!;
    const direct = new GrpcMetadataClient({ addresses: [`127.0.0.1:${follower.grpcPort}`] });
    const got = await direct.get('cfg');
    expect(got && text(got.value)).toBe('one');
    expect(got?.version).toBe(v);
    await expect(direct.put('cfg', bytes('two'), Precondition.doesNotExist)).rejects.toMatchObject({
      code: 'precondition-failed',
    });
    await direct.close();
    for (const s of stores.values()) await until(() => s.node.status().appliedIndex >= v, 5000, 'replication');
  });

  it('maps bad requests to clear gRPC errors, malformed payloads included', async () => {
    await expect(client.put('big', new Uint8Array(2 << 20))).rejects.toMatchObject({ code: 'invalid-argument' });
    expect(await client.get('no-such-key')).toBeUndefined();
    const raw = new grpc.Client(peers[0].addr, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      raw.makeUnaryRequest(
        '/stead.metadata.v1.MetadataService/Put',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff]),
        (e) => resolve(e!),
      ),
    );
    raw.close();
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/malformed request payload/);
  });

  it('survives the loss of the leader, with a linearizable history and a resumed watch', async () => {
    const rec = new HistoryRecorder<KvInput, KvOutput>();
    const events: number[] = [];
    const w = client.watch('w', 0, (e) => events.push(e.version));
    let stop = false;
    const workers = [0, 1, 2].map(async (c) => {
      const cl = new GrpcMetadataClient({ addresses: peers.map((p) => p.addr), timeoutMs: 8000 });
      let seq = 0;
      let seen: string | undefined;
      while (!stop) {
        const key = c === 2 ? 'w' : 'x';
        const value = `c${c}.${++seq}`;
        const pre = seen && seq % 2 === 0 ? Precondition.matchesVersion(Number(seen)) : Precondition.none;
        const input: KvInput = {
          kind: 'put',
          key,
          value,
          pre: pre.kind === 'matches-version' ? { kind: 'version', version: String(pre.version) } : { kind: 'none' },
        };
        const done = rec.begin(c, input);
        try {
          const v = await cl.put(key, bytes(value), pre);
          done({ kind: 'write', ok: true, version: String(v) });
          seen = String(v);
        } catch (e) {
          if (e instanceof MetadataError && e.code === 'precondition-failed') done({ kind: 'write', ok: false });
          else done(undefined);
        }
        const g = rec.begin(c, { kind: 'get', key });
        try {
          const r = await cl.get(key);
          g({ kind: 'get', value: r ? text(r.value) : null, version: r ? String(r.version) : null });
          if (r) seen = String(r.version);
        } catch {
          g(undefined);
        }
      }
      await cl.close();
    });
    await new Promise((r) => setTimeout(r, 300));
    const old = leader()!;
    const oldId = old.node.nodeId;
    const killedAt = Date.now();
    const closing = old.close(); // abrupt: no hand-over
    stores.delete(oldId);
    const next = await until(leader, 5000, 'new leader');
    await closing;
    const elapsed = Date.now() - killedAt;
    expect(next.node.nodeId).not.toBe(oldId);
    expect(elapsed).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 300));
    // bring the old leader back; it catches up
    stores.set(oldId, await start(oldId));
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(workers);
    const h = rec.history();
    const res = checkLinearizable(kvModel(h), h);
    expect(res.result).toBe('ok');
    expect(h.filter((o) => o.output).length).toBeGreaterThan(20);
    const last = await client.get('w');
    await until(() => events.at(-1) === last?.version, 5000, 'watch caught up');
    w.close();
    for (let i = 1; i < events.length; i++) expect(events[i]).toBeGreaterThan(events[i - 1]);
  }, 30_000);

  it('changes membership one member at a time and transfers leadership', async () => {
    const d4 = tempDir();
    dirs.push(d4);
    const addr4 = `127.0.0.1:${await freePort()}`;
    peers.push({ id: '4', addr: addr4 });
    const s4 = await start('4', { join: true });
    stores.set('4', s4);
    const members = await client.addMember('4', addr4);
    // The new member joins as a learner; the leader promotes it once it has caught up.
    expect(members.map((m) => `${m.nodeId}${m.learner ? ' (learner)' : ''}`)).toEqual(['1', '2', '3', '4 (learner)']);
    const v = await client.put('after-add', bytes('x'));
    await until(() => s4.node.status().appliedIndex >= v, 5000, 'new member caught up');
    await until(
      async () => (await client.status()).members.every((m) => !m.learner),
      5000,
      'member 4 promoted to voter',
    );
    const st = await client.transferLeadership('4');
    expect(st.leaderId === '4' || st.role === 'follower').toBe(true);
    await until(() => s4.node.isLeader(), 5000, 'member 4 leads');
    const after = await client.removeMember('1');
    expect(after.map((m) => m.nodeId)).toEqual(['2', '3', '4']);
    await client.put('after-remove', bytes('y'));
    expect((await client.status()).members.map((m) => m.nodeId)).toEqual(['2', '3', '4']);
  }, 30_000);

  it('names itself with a cluster id and refuses a data dir written by another cluster', async () => {
    const st = await client.status();
    expect(st.clusterId).toMatch(/^[0-9a-f-]{36}$/);
    // A single-member cluster elsewhere, with the same (default) cluster name and a member id '3'.
    const foreign = tempDir();
    dirs.push(foreign);
    const other = await createMetadataStore({ dataDir: foreign.path, nodeId: '3', tickMs: 10 });
    await other.client.put('k', bytes('v'));
    await until(() => other.node.clusterId !== '' && other.node.status().appliedIndex > 2, 5000, 'cluster id');
    const otherId = other.node.clusterId;
    await other.close();
    expect(otherId).not.toBe(st.clusterId);
    const running = st.members.filter((m) => m.nodeId !== '3').map((m) => ({ id: m.nodeId, addr: m.address }));
    const addr = `127.0.0.1:${await freePort()}`;
    await expect(
      createMetadataStore({
        dataDir: foreign.path,
        nodeId: '3',
        peers: [{ id: '3', addr }, ...running],
        address: addr,
      }),
    ).rejects.toThrow(
      new RegExp(
        `belongs to metadata cluster id ${otherId}, but member .* cluster id ${st.clusterId}; refusing to start`,
      ),
    );
  }, 20_000);
});
