import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { DataDirError, LevelDbLogServerStorage } from '../src/cluster/leveldb-storage.ts';
import { GrpcLogServerClient, serveLogServer } from '../src/cluster/log-server-grpc.ts';
import { LogServerCore } from '../src/replicated/log-server-core.ts';
import { type LogServerApi, LogUnavailableError } from '../src/replicated/types.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'stead-log-server-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const id = { clusterName: 'test', nodeId: 'ls1' };
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('log server over LevelDB', () => {
  test('records, tails, seal and trim survive a reopen', async () => {
    const dir = tempDir();
    let storage = await LevelDbLogServerStorage.open(dir, id);
    let core = new LogServerCore(storage);
    expect(
      (
        await core.store({
          logletId: 'a.0',
          firstOffset: 0n,
          payloads: [bytes('r0'), bytes('r1')],
          knownGlobalTail: 0n,
        })
      ).status,
    ).toBe('ok');
    expect(
      (await core.store({ logletId: 'a.0', firstOffset: 5n, payloads: [bytes('r5')], knownGlobalTail: 2n })).localTail,
    ).toBe(6n);
    await core.store({ logletId: 'b.0', firstOffset: 0n, payloads: [bytes('b0')], knownGlobalTail: 0n });
    await core.trim({ logletId: 'a.0', upTo: 1n });
    const sealed = await core.seal({ logletId: 'a.0' });
    expect(sealed).toEqual({ localTail: 6n, knownGlobalTail: 2n, trimPoint: 1n, sealed: true });
    await storage.close();

    storage = await LevelDbLogServerStorage.open(dir, id);
    core = new LogServerCore(storage);
    const r = await core.getRecords({ logletId: 'a.0', from: 0n, to: 10n });
    expect(r.records.map((x) => [x.offset, text(x.payload)])).toEqual([
      [1n, 'r1'],
      [5n, 'r5'],
    ]);
    expect(r.sealed).toBe(true);
    expect(r.trimPoint).toBe(1n);
    expect((await core.getDigest({ logletId: 'a.0', from: 0n, to: 10n })).offsets).toEqual([1n, 5n]);
    expect((await core.getDigest({ logletId: 'b.0', from: 0n, to: 10n })).offsets).toEqual([0n]);
    // Sealed: new stores are refused, repair stores are taken (and do not move the tail).
    expect(
      (await core.store({ logletId: 'a.0', firstOffset: 6n, payloads: [bytes('x')], knownGlobalTail: 0n })).status,
    ).toBe('sealed');
    const repaired = await core.store({
      logletId: 'a.0',
      firstOffset: 3n,
      payloads: [bytes('r3')],
      knownGlobalTail: 0n,
      repair: true,
    });
    expect(repaired).toEqual({ status: 'ok', localTail: 6n, sealed: true });
    expect((await core.getDigest({ logletId: 'a.0', from: 0n, to: 10n })).offsets).toEqual([1n, 3n, 5n]);
    // Stores wholly below the trim point are refused as trimmed; malformed ones as malformed.
    expect((await core.store({ logletId: 'b.0', firstOffset: 0n, payloads: [], knownGlobalTail: 0n })).status).toBe(
      'malformed',
    );
    await storage.close();
  });

  test('group commit: concurrent stores share synced batches', async () => {
    const storage = await LevelDbLogServerStorage.open(tempDir(), id);
    const core = new LogServerCore(storage);
    const all = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        core.store({ logletId: 'g.0', firstOffset: BigInt(i), payloads: [bytes(`r${i}`)], knownGlobalTail: 0n }),
      ),
    );
    expect(all.every((r) => r.status === 'ok')).toBe(true);
    expect(core.stats.stores).toBe(200);
    expect(core.stats.batches).toBeLessThan(20);
    expect((await core.getDigest({ logletId: 'g.0', from: 0n, to: 1000n })).offsets.length).toBe(200);
    await storage.close();
  });

  test('a seal is ordered after stores queued before it, and stores after it are refused', async () => {
    const storage = await LevelDbLogServerStorage.open(tempDir(), id);
    const core = new LogServerCore(storage);
    const before = Array.from({ length: 50 }, (_, i) =>
      core.store({ logletId: 's.0', firstOffset: BigInt(i), payloads: [bytes('x')], knownGlobalTail: 0n }),
    );
    const seal = core.seal({ logletId: 's.0' });
    const after = core.store({ logletId: 's.0', firstOffset: 50n, payloads: [bytes('y')], knownGlobalTail: 0n });
    expect((await Promise.all(before)).every((r) => r.status === 'ok')).toBe(true);
    expect((await seal).localTail).toBe(50n);
    expect((await after).status).toBe('sealed');
    await storage.close();
  });

  test('a data dir of another node or cluster, or a corrupt one, is refused with the reason', async () => {
    const dir = tempDir();
    await (await LevelDbLogServerStorage.open(dir, id)).close();
    await expect(LevelDbLogServerStorage.open(dir, { clusterName: 'test', nodeId: 'ls2' })).rejects.toThrow(
      /belongs to log server 'ls1' of cluster 'test', not to 'ls2'/,
    );
    await expect(LevelDbLogServerStorage.open(dir, { clusterName: 'other', nodeId: 'ls1' })).rejects.toThrow(
      DataDirError,
    );
    writeFileSync(join(dir, 'CURRENT'), 'MANIFEST-999999\n');
    await expect(LevelDbLogServerStorage.open(dir, id)).rejects.toThrow(/corrupt or unreadable/);
  });
  test('a trim deletes the records and compacts their range, so the space comes back', async () => {
    const storage = await LevelDbLogServerStorage.open(tempDir(), id);
    const core = new LogServerCore(storage);
    for (let batch = 0; batch < 20; batch++) {
      const firstOffset = BigInt(batch * 100);
      await core.store({
        logletId: 'big.0',
        firstOffset,
        payloads: Array.from({ length: 100 }, () => randomBytes(4096)), // incompressible
        knownGlobalTail: firstOffset,
      });
    }
    const size = () => storage.db.approximateSize('r', 's');
    // Written to table files, so that sizes are measurable.
    await storage.db.compactRange('r', 's');
    const before = await size();
    expect(before).toBeGreaterThan(4 << 20);
    await core.trim({ logletId: 'big.0', upTo: 1900n });
    await storage.compacted();
    expect(storage.compactions).toBeGreaterThan(0);
    const after = await size();
    expect(after).toBeLessThan(before / 5);
    // What is above the trim point is still there; a second trim starts where the first stopped.
    expect((await core.getDigest({ logletId: 'big.0', from: 0n, to: 2000n })).offsets).toHaveLength(100);
    await core.trim({ logletId: 'big.0', upTo: 1950n });
    expect((await core.getDigest({ logletId: 'big.0', from: 0n, to: 2000n })).offsets).toHaveLength(50);
    await storage.close();
  });
});

describe('log server over gRPC', () => {
  test('pipelined stores, reads, digests, tail waits, seal and trim', async () => {
    const storage = await LevelDbLogServerStorage.open(tempDir(), id);
    const core = new LogServerCore(storage);
    const server = await serveLogServer(core, { host: '127.0.0.1', port: 0, identity: id });
    const client = new GrpcLogServerClient(`127.0.0.1:${server.port}`);
    try {
      expect(await client.identify()).toEqual({ nodeId: 'ls1', clusterName: 'test' });
      const n = 1000;
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          client.store({
            logletId: 'p.0',
            firstOffset: BigInt(i),
            payloads: [bytes(`rec-${i}`)],
            knownGlobalTail: BigInt(i),
          }),
        ),
      );
      expect(results.every((r) => r.status === 'ok')).toBe(true);
      expect(core.stats.batches).toBeLessThan(n);
      const page = await client.getRecords({ logletId: 'p.0', from: 10n, to: 20n });
      expect(page.records.map((r) => text(r.payload))).toEqual(Array.from({ length: 10 }, (_, i) => `rec-${i + 10}`));
      expect(page.localTail).toBe(BigInt(n));
      const limited = await client.getRecords({ logletId: 'p.0', from: 0n, to: BigInt(n), maxBytes: 30 });
      expect(limited.records.length).toBeLessThan(n);
      expect(limited.next).toBe(limited.records.at(-1)!.offset + 1n);
      expect((await client.getDigest({ logletId: 'p.0', from: 995n, to: 2000n })).offsets).toEqual([
        995n,
        996n,
        997n,
        998n,
        999n,
      ]);
      // waitForTail resolves when a later store moves the known global tail.
      const waiting = client.waitForTail({ logletId: 'p.0', above: 1500n });
      await client.store({ logletId: 'p.0', firstOffset: 1000n, payloads: [bytes('late')], knownGlobalTail: 1501n });
      expect((await waiting).knownGlobalTail).toBe(1501n);
      const sealed = await client.seal({ logletId: 'p.0' });
      expect(sealed.sealed).toBe(true);
      expect(
        (await client.store({ logletId: 'p.0', firstOffset: 1001n, payloads: [bytes('no')], knownGlobalTail: 0n }))
          .status,
      ).toBe('sealed');
      expect((await client.trim({ logletId: 'p.0', upTo: 500n })).trimPoint).toBe(500n);
      expect((await client.getRecords({ logletId: 'p.0', from: 0n, to: 502n })).records.map((r) => r.offset)).toEqual([
        500n,
        501n,
      ]);
      await expect(client.getRecords({ logletId: '', from: 0n, to: 1n })).rejects.toThrow(/loglet id missing/);
      await expect(client.getDigest({ logletId: 'p.0', from: 5n, to: 1n })).rejects.toThrow(/from 5 is above to 1/);
    } finally {
      client.close();
      await server.close();
      await storage.close();
    }
    // A server that went away: calls fail with a retryable error instead of hanging.
    const gone = new GrpcLogServerClient(`127.0.0.1:${server.port}`, { timeoutMs: 1_000 });
    await expect(
      gone.store({ logletId: 'p.0', firstOffset: 0n, payloads: [bytes('x')], knownGlobalTail: 0n }),
    ).rejects.toThrow(LogUnavailableError);
    await expect(gone.seal({ logletId: 'p.0' })).rejects.toThrow(LogUnavailableError);
    gone.close();
  }, 30_000);

  test('close ends the open store stream and tail waits at once, not at the 2 s deadline', async () => {
    const storage = await LevelDbLogServerStorage.open(tempDir(), id);
    const core = new LogServerCore(storage);
    // The core, telling when a wait for the tail has reached it.
    const reached = Promise.withResolvers<void>();
    const api: LogServerApi = {
      store: (r) => core.store(r),
      getRecords: (r) => core.getRecords(r),
      getDigest: (r) => core.getDigest(r),
      waitForTail: (r, signal) => {
        reached.resolve();
        return core.waitForTail(r, signal);
      },
      seal: (r) => core.seal(r),
      trim: (r) => core.trim(r),
    };
    const server = await serveLogServer(api, { host: '127.0.0.1', port: 0, identity: id });
    const client = new GrpcLogServerClient(`127.0.0.1:${server.port}`);
    try {
      // The store stream stays open after its store is answered; the wait has nothing to wait for.
      const stored = await client.store({
        logletId: 'p.0',
        firstOffset: 0n,
        payloads: [bytes('a')],
        knownGlobalTail: 0n,
      });
      expect(stored.status).toBe('ok');
      const waiting = client.waitForTail({ logletId: 'p.0', above: 10n }).catch((e: unknown) => e);
      await reached.promise;
      const started = Date.now();
      await server.close();
      expect(Date.now() - started).toBeLessThan(1_500);
      const ended = await waiting;
      expect(ended).toBeInstanceOf(LogUnavailableError);
      expect(String(ended)).toMatch(/shutting down/);
    } finally {
      client.close();
      await storage.close();
    }
  }, 30_000);
});
