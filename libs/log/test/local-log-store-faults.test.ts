/**
 * A failed log write is fatal, never a gap: the local log store on a real tmpfs that fills up (ENOSPC), and
 * under an LD_PRELOAD shim that makes fdatasync fail (EIO). Needs root (mount) and gcc, as on the development
 * and CI machines.
 */
import { join } from 'node:path';
import { buildFsyncShim, Cleanup, NODE, Proc, Tmpfs } from '@stead/testing';
import { type LocalLoglet, LocalLogStore } from '../src/local/local-log-store.ts';

const text = (b: Uint8Array) => Buffer.from(b).toString();

describe('local log store on a full disk', () => {
  const cleanup = new Cleanup();
  let fs: Tmpfs;
  let dir: string;
  let store: LocalLogStore | undefined;

  beforeAll(() => {
    fs = Tmpfs.mount(cleanup, 2 << 20);
    dir = join(fs.path, 'log');
  });
  afterEach(async () => {
    await store?.close().catch(() => {});
    store = undefined;
    fs.unfill();
  });
  afterAll(() => cleanup.run());

  async function seed(log: LocalLoglet, n: number): Promise<void> {
    for (let i = 0; i < n; i++) expect(await log.append([Buffer.from(`r${i}`)])).toBe(BigInt(i));
  }

  it('stops at the first failed batch: rejects it, the queued appends, tail waiters and later appends, and reports it once', async () => {
    const fatal: Error[] = [];
    store = await LocalLogStore.open(dir, { onFatal: (err) => fatal.push(err) });
    const log = await store.loglet(1);
    await seed(log, 10);
    const waiting = log.waitForTail(10n);
    waiting.catch(() => {});

    expect(fs.fill()).toBeGreaterThan(0);
    // `big` goes out in a batch of its own; `queued` waits behind it for the next batch.
    const big = log.append([Buffer.alloc(256 << 10, 0x61)]);
    const queued = log.append([Buffer.from('queued')]);
    const bigErr = await big.then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(bigErr).toBeDefined();
    expect(bigErr?.name).toBe('LogStoreFailedError');
    expect(bigErr?.code).toBe('LOG_WRITE_FAILED');
    expect(bigErr?.message).toMatch(/synced write of 1 records .*logs 1.*failed: .*No space left on device/);
    await expect(queued).rejects.toBe(bigErr);
    await expect(waiting).rejects.toBe(bigErr);
    expect(fatal).toEqual([bigErr]);
    expect(store.failure).toBe(bigErr);

    // Space comes back: still nothing is written or released past the failed batch.
    fs.unfill();
    await expect(log.append([Buffer.from('after')])).rejects.toBe(bigErr);
    await expect(store.loglet(2)).rejects.toBe(bigErr);
    expect(await log.tail()).toBe(10n);
    await expect(log.read(10n)).rejects.toBe(bigErr);
    await expect(log.waitForTail(10n)).rejects.toBe(bigErr);
    await expect(log.seal()).rejects.toBe(bigErr);
    await expect(log.trim(5n)).rejects.toBe(bigErr);
    expect(fatal).toHaveLength(1);

    // A restart recovers exactly what is durable: the dense prefix, and appends continue from its end.
    await store.close();
    store = await LocalLogStore.open(dir);
    const again = await store.loglet(1);
    expect(await again.tail()).toBe(10n);
    expect((await again.read(0n)).map((r) => text(r.payload))).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
    expect(await again.append([Buffer.from('r10')])).toBe(10n);
    expect((await again.read(9n)).map((r) => [r.offset, text(r.payload)])).toEqual([
      [9n, 'r9'],
      [10n, 'r10'],
    ]);
  });

  it('never serves the cached payload of a failed append to a reader following the log', async () => {
    store = await LocalLogStore.open(dir);
    const log = await store.loglet(3);
    const base = await log.tail();
    const served: string[] = [];
    const ac = new AbortController();
    const reader = (async () => {
      let next = base;
      while (!ac.signal.aborted) {
        const records = await log.read(next, 100);
        for (const r of records) served.push(text(r.payload));
        if (records.length > 0) next = records[records.length - 1].offset + 1n;
        else await log.waitForTail(next, ac.signal);
      }
    })();
    const readerDone = reader.then(
      () => undefined,
      (e: unknown) => e,
    );
    await log.append([Buffer.from('durable')]);
    fs.fill();
    await expect(log.append([Buffer.from('lost'), Buffer.alloc(256 << 10, 0x62)])).rejects.toThrow(
      /No space left on device/,
    );
    fs.unfill();
    await expect(log.append([Buffer.from('later')])).rejects.toThrow(/No space left on device/);
    // The reader stops with the failure instead of waiting forever or reading past it.
    const readerErr = await readerDone;
    ac.abort();
    expect(String(readerErr)).toMatch(/LogStoreFailedError.*No space left on device/);
    expect(served).toEqual(['durable']);
    expect(await log.tail()).toBe(base + 1n);
  });
});

describe('local log store when fsync fails', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  it('stops at the failed fsync: the append, the queued one and tail waiters reject, onFatal fires, and a reopen recovers a dense prefix', async () => {
    const shimDir = cleanup.tempDir('stead-fsync-shim-');
    const trigger = join(shimDir, 'fail-sync');
    const dir = cleanup.tempDir('stead-log-eio-');
    const fixture = new URL('./fixtures/append-until-sync-fails.ts', import.meta.url).pathname;
    const child = new Proc(
      'append-until-sync-fails',
      NODE,
      ['--disable-warning=ExperimentalWarning', fixture, dir, trigger],
      {
        env: { ...process.env, ...buildFsyncShim(shimDir, trigger) },
      },
    );
    cleanup.add(() => child.stop());
    const code = await child.exited;
    const report = Object.assign({}, ...child.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)));
    if (code !== 0) throw new Error(`the child exited with ${code}: ${JSON.stringify(report)}\n${child.output()}`);
    expect(child.lines.some((l) => /^fsync-shim: fdatasync\(\d+\) -> EIO$/.test(l))).toBe(true);
    const failed = { error: 'LogStoreFailedError', code: 'LOG_WRITE_FAILED', message: report.a.message };
    expect(report.a).toEqual(failed);
    expect(report.a.message).toMatch(/synced write of 1 records .*failed: .*Input\/output error/);
    expect(report.fatal).toBe(report.a.message);
    expect(report.b).toEqual(failed);
    expect(report.waiter).toEqual(failed);
    expect(report.later).toEqual(failed);
    expect(report.tail).toBe('5');

    // The failed batch may or may not have reached the disk; what a reopen finds is a dense prefix without `c`.
    const store = await LocalLogStore.open(dir);
    cleanup.add(() => store.close());
    const log = await store.loglet(1);
    const tail = await log.tail();
    const payloads = (await log.read(0n)).map((r) => text(r.payload));
    expect(payloads.slice(0, 5)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(payloads).toHaveLength(Number(tail));
    expect(['r0,r1,r2,r3,r4', 'r0,r1,r2,r3,r4,a']).toContain(payloads.join(','));
    expect(await log.append([Buffer.from('next')])).toBe(tail);
  });
});
