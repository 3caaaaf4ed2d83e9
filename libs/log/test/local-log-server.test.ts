import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChainStore } from '../src/bifrost/bifrost.ts';
import { decodeChain } from '../src/bifrost/chain.ts';
import { adoptLocalLog, LocalLogServer } from '../src/local/local-log-server.ts';
import { LocalLogStore } from '../src/local/local-log-store.ts';
import { LogSealedError } from '../src/types.ts';

// The local logs of a one-process server as sealed segment 0 of virtual logs: the chain written for them, and
// the read-only log service the log rebalancer copies them from.

/** A metadata store in memory, with conditional writes. */
function memoryStore(): ChainStore & { values: Map<string, { value: Uint8Array; version: number }> } {
  const values = new Map<string, { value: Uint8Array; version: number }>();
  return {
    values,
    async get(key) {
      return values.get(key);
    },
    async put(key, value, precondition) {
      const cur = values.get(key);
      const ok = precondition.kind === 'does-not-exist' ? !cur : cur?.version === precondition.version;
      if (!ok) throw Object.assign(new Error('precondition failed'), { code: 'precondition-failed' });
      const version = (cur?.version ?? 0) + 1;
      values.set(key, { value, version });
      return version;
    },
  };
}

describe('local logs adopted as segment 0', () => {
  let dir: string;
  let store: LocalLogStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stead-local-ls-'));
    store = await LocalLogStore.open(dir);
  });
  afterEach(async () => {
    await store.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('seals the local log and writes a chain whose sealed segment 0 is it, once', async () => {
    const log = await store.loglet(3);
    for (let i = 0; i < 5; i++) await log.append([Buffer.from(`r${i}`)]);
    const metadata = memoryStore();
    const chain = await adoptLocalLog(metadata, 'partition-3', log, 'local');
    expect(chain.segments).toEqual([
      expect.objectContaining({
        index: 0,
        base: 0n,
        logletId: 'partition-3.0',
        nodeset: [{ id: 'local' }],
        replication: { scope: 'node', count: 1 },
        sealedTail: 5n,
      }),
    ]);
    await expect(log.append([Buffer.from('late')])).rejects.toBeInstanceOf(LogSealedError);
    expect(decodeChain(metadata.values.get('logs/partition-3')!.value)).toEqual(chain);
    // Again (a restart after the switch): the chain stays as it was.
    expect(await adoptLocalLog(metadata, 'partition-3', log, 'local')).toEqual(chain);
    expect(metadata.values.get('logs/partition-3')!.version).toBe(1);
  });

  it('answers reads, digests and tail waits of the adopted loglets read-only; other loglets are empty', async () => {
    const log = await store.loglet(0);
    for (let i = 0; i < 10; i++) await log.append([Buffer.from(`r${i}`)]);
    await log.seal();
    const server = new LocalLogServer(store, (id) => (id === 'partition-0.0' ? 0 : undefined));
    const records = await server.getRecords({ logletId: 'partition-0.0', from: 2n, to: 20n });
    expect(records.records.map((r) => Buffer.from(r.payload).toString())).toEqual(
      Array.from({ length: 8 }, (_, i) => `r${i + 2}`),
    );
    expect(records).toMatchObject({ localTail: 10n, knownGlobalTail: 10n, sealed: true, next: 20n });
    const limited = await server.getRecords({ logletId: 'partition-0.0', from: 0n, to: 10n, maxBytes: 4 });
    expect(limited.records.map((r) => r.offset)).toEqual([0n, 1n]);
    expect(limited.next).toBe(2n);
    expect((await server.getDigest({ logletId: 'partition-0.0', from: 8n, to: 12n })).offsets).toEqual([8n, 9n]);
    expect(await server.waitForTail({ logletId: 'partition-0.0', above: 100n })).toMatchObject({ sealed: true });
    const store1 = await server.store({
      logletId: 'partition-0.0',
      firstOffset: 10n,
      payloads: [Buffer.from('x')],
      knownGlobalTail: 10n,
    });
    expect(store1.status).toBe('sealed');
    expect(await server.getDigest({ logletId: 'stead.probe', from: 0n, to: 0n })).toMatchObject({
      offsets: [],
      sealed: false,
    });
    await server.trim({ logletId: 'partition-0.0', upTo: 4n });
    expect((await server.getRecords({ logletId: 'partition-0.0', from: 0n, to: 10n })).records[0]!.offset).toBe(4n);
  });
});
