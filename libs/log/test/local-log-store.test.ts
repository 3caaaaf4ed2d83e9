import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalLogStore, tailLog } from '../src/local/local-log-store.ts';
import { LogSealedError, LogTrimmedError } from '../src/types.ts';

const text = (b: Uint8Array) => Buffer.from(b).toString();

describe('local log store', () => {
  let dir: string;
  let store: LocalLogStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stead-log-'));
    store = await LocalLogStore.open(dir);
  });
  afterEach(async () => {
    await store.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('assigns dense offsets in append order and reads them back', async () => {
    const log = await store.loglet(1);
    const offsets = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append([Buffer.from(`r${i}`)])));
    expect(offsets).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i)));
    expect(await log.append([Buffer.from('a'), Buffer.from('b')])).toBe(50n);
    const records = await log.read(0n, 1000);
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 52 }, (_, i) => BigInt(i)));
    expect(records.slice(48).map((r) => text(r.payload))).toEqual(['r48', 'r49', 'a', 'b']);
    expect(await log.tail()).toBe(52n);
    expect((await log.read(10n, 3)).map((r) => r.offset)).toEqual([10n, 11n, 12n]);
  });

  it('bounds the in-memory window of recent records by their real cost, and still reads everything', async () => {
    const log = await store.loglet(2);
    const payload = new Uint8Array(100);
    for (let i = 0; i < 100; i++) await log.append(Array.from({ length: 1000 }, () => payload));
    const { records, bytes } = log.recentStats();
    // 4 MiB with the per-record overhead counted: far fewer than the 100,000 records appended.
    expect(bytes).toBeLessThanOrEqual(4 << 20);
    expect(records).toBeLessThan(20_000);
    expect(records).toBeGreaterThan(10_000);
    expect(bytes).toBeGreaterThan(records * 100);
    // Old records come from LevelDB, recent ones from memory; the offsets are dense either way.
    expect((await log.read(0n, 5)).map((r) => r.offset)).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect((await log.read(99_998n, 5)).map((r) => r.offset)).toEqual([99_998n, 99_999n]);
  });

  it('group-commits concurrent appends into few synced batches', async () => {
    const a = await store.loglet(1);
    const b = await store.loglet(2);
    await Promise.all(Array.from({ length: 1000 }, (_, i) => (i % 2 ? a : b).append([Buffer.from(`x${i}`)])));
    const stats = store.stats();
    expect(stats.records).toBe(1000);
    expect(stats.flushes).toBeLessThan(1000 / 5);
    expect(await a.tail()).toBe(500n);
    expect(await b.tail()).toBe(500n);
  });

  it('gives the space of trimmed records back (their range is compacted)', async () => {
    const log = await store.loglet(3);
    // Incompressible payloads, so that the sizes measure the records.
    for (let i = 0; i < 20; i++) await log.append(Array.from({ length: 100 }, () => randomBytes(4096)));
    const size = () => store.db.approximateSize(Buffer.from([0]), Buffer.from([0xff]));
    await store.db.compactRange(Buffer.from([0]), Buffer.from([0xff]));
    const before = await size();
    expect(before).toBeGreaterThan(4 << 20);
    await log.trim(1900n);
    await store.compacted();
    expect(store.compactions).toBeGreaterThan(0);
    expect(await size()).toBeLessThan(before / 5);
    expect((await log.read(1900n, 200)).length).toBe(100);
  });

  it('keeps records, tail, trim point and seal across reopen', async () => {
    const log = await store.loglet(7);
    for (let i = 0; i < 10; i++) await log.append([Buffer.from(`v${i}`)]);
    await log.trim(4n);
    const other = await store.loglet(8);
    await other.append([Buffer.from('o')]);
    await other.seal();
    await store.close();
    store = await LocalLogStore.open(dir);
    const again = await store.loglet(7);
    expect(await again.tail()).toBe(10n);
    await expect(again.read(0n)).rejects.toBeInstanceOf(LogTrimmedError);
    expect((await again.read(4n)).map((r) => text(r.payload))).toEqual(['v4', 'v5', 'v6', 'v7', 'v8', 'v9']);
    expect(await again.append([Buffer.from('v10')])).toBe(10n);
    const sealed = await store.loglet(8);
    await expect(sealed.append([Buffer.from('no')])).rejects.toBeInstanceOf(LogSealedError);
    expect(await sealed.seal()).toBe(1n);
  });

  it('wakes tail waiters on append and on abort, and tails the log in order', async () => {
    const log = await store.loglet(1);
    const ac = new AbortController();
    const seen: string[] = [];
    const reader = (async () => {
      for await (const r of tailLog(log, 0n, ac.signal)) {
        seen.push(text(r.payload));
        if (seen.length === 3) ac.abort();
      }
    })();
    const waiting = log.waitForTail(0n);
    await log.append([Buffer.from('one')]);
    expect(await waiting).toBe(1n);
    await log.append([Buffer.from('two'), Buffer.from('three')]);
    await reader;
    expect(seen).toEqual(['one', 'two', 'three']);
    const ac2 = new AbortController();
    const aborted = log.waitForTail(99n, ac2.signal);
    ac2.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
  });

  it('rejects bad input with clear errors', async () => {
    const log = await store.loglet(1);
    await expect(log.append([])).rejects.toThrow(TypeError);
    await expect(log.append(['text' as unknown as Uint8Array])).rejects.toThrow(/Uint8Array/);
    await expect(log.read(-1n)).rejects.toThrow(RangeError);
    await expect(store.loglet(-2)).rejects.toThrow(RangeError);
  });

  it('loses no acknowledged append when the writing process is killed with SIGKILL', async () => {
    await store.close();
    const node = process.execPath;
    const child = spawn(
      node,
      ['--disable-warning=ExperimentalWarning', new URL('./fixtures/append-forever.ts', import.meta.url).pathname, dir],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const acked = new Map<bigint, string>();
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('child acknowledged too few appends')), 20_000);
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          const [offset, payload] = line.split(' ');
          acked.set(BigInt(offset), payload);
        }
        if (acked.size >= 2000) {
          clearTimeout(deadline);
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('error', reject);
    });
    await new Promise((r) => child.once('exit', r));
    store = await LocalLogStore.open(dir);
    const log = await store.loglet(3);
    const records = new Map((await log.read(0n, 1_000_000)).map((r) => [r.offset, text(r.payload)]));
    for (const [offset, payload] of acked) expect(records.get(offset)).toBe(payload);
    expect(await log.tail()).toBeGreaterThanOrEqual(BigInt(acked.size));
  });
});
