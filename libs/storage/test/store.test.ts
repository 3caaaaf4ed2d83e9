import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { ClassicLevel } from 'classic-level';
import { type Codec, CorruptValueError, StorageEngine } from '../src/store.ts';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'stead-store-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A strict test codec: UTF-8 text that must start with "v:". */
const text: Codec<string> = {
  encode: (s) => Buffer.from(`v:${s}`),
  decode: (b) => {
    const s = Buffer.from(b).toString();
    if (!s.startsWith('v:')) throw new Error(`not a text value: ${JSON.stringify(s.slice(0, 10))}`);
    return s.slice(2);
  },
};

test('reads see unflushed writes, commits persist them, partitions are separate', async () => {
  const dir = temp();
  let engine = await StorageEngine.open(dir);
  const a = engine.partition(0);
  const b = engine.partition(1);
  a.put('x', 'one', text);
  a.put('j/1/00', 'e0', text);
  a.put('j/1/01', 'e1', text);
  b.put('x', 'other', text);
  expect(await a.get('x', text)).toBe('one');
  await a.commit();
  await b.commit();
  a.put('j/1/02', 'e2', text);
  a.del('j/1/00');
  expect((await a.scan('j/1/')).map(([k]) => k)).toEqual(['j/1/01', 'j/1/02']);
  await a.commit();
  await engine.close();

  engine = await StorageEngine.open(dir);
  const a2 = engine.partition(0);
  expect(await a2.get('x', text)).toBe('one');
  expect(await engine.partition(1).get('x', text)).toBe('other');
  await a2.delPrefix('j/1/');
  await a2.commit();
  expect(await a2.scan('j/')).toEqual([]);
  await engine.close();
});

test('each partition has its own LevelDB, and a store of the shared layout is split into them', async () => {
  const dir = join(temp(), 'partitions');
  // The shared layout: one LevelDB at `dir`, keys prefixed with the partition id (p<hex4>/).
  const shared = new ClassicLevel<string, string>(dir);
  await shared.open();
  await shared.batch([
    { type: 'put', key: 'p0000/x', value: 'v:zero' },
    { type: 'put', key: 'p0000/y', value: 'v:zero-y' },
    { type: 'put', key: 'p000a/x', value: 'v:ten' },
  ]);
  await shared.close();

  let engine = await StorageEngine.open(dir, { partitions: 2 });
  expect(readdirSync(dir).sort()).toEqual(['0', '1', '10', 'ordered']);
  expect(existsSync(`${dir}.shared-v1`)).toBe(false);
  expect(await engine.partition(0).get('x', text)).toBe('zero');
  expect((await engine.partition(0).scan('')).map(([k]) => k)).toEqual(['x', 'y']);
  expect(await engine.partition(10).get('x', text)).toBe('ten');
  expect(await engine.partition(1).scan('')).toEqual([]);
  // Writes to one partition stay in its database; the figures add up over the databases.
  const one = engine.partition(1);
  one.put('z', 'one', text);
  await one.commit();
  expect(engine.stats().memoryBytes).toBeGreaterThan(0);
  await engine.close();

  engine = await StorageEngine.open(dir);
  expect(await engine.partition(1).get('z', text)).toBe('one');
  expect(await engine.partition(0).get('z', text)).toBeUndefined();
  await engine.close();
});

test('rows of an ordered table of all partitions share one database, in order of their order bytes', async () => {
  const dir = join(temp(), 'partitions');
  const u16 = (n: number) => String.fromCharCode(n >> 8, n & 0xff);
  let engine = await StorageEngine.open(dir, { partitions: 2, orderedTables: [{ tag: 'T', orderBytes: 2 }] });
  const [a, b] = [engine.partition(0), engine.partition(1)];
  // Times 3, 1, 2 across the partitions; "rest" after the order bytes.
  a.put(`T${u16(3)}x`, 'a3', text);
  b.put(`T${u16(1)}x`, 'b1', text);
  a.put(`T${u16(2)}y`, 'a2', text);
  a.put('k', 'main', text);
  expect(await a.get(`T${u16(2)}y`, text)).toBe('a2'); // from the overlay
  await a.commit();
  await b.commit();
  expect(await a.get(`T${u16(3)}x`, text)).toBe('a3');
  expect(await b.get(`T${u16(3)}x`, text)).toBeUndefined();
  // A prefix with the order bytes is a range; a shorter one picks this partition's rows out of all.
  expect((await a.scan(`T${u16(3)}`)).map(([k]) => k)).toEqual([`T${u16(3)}x`]);
  expect((await a.scan('T')).map(([, v]) => Buffer.from(v).toString())).toEqual(['v:a2', 'v:a3']);
  expect((await b.scan('T')).map(([k]) => k)).toEqual([`T${u16(1)}x`]);
  a.del(`T${u16(2)}y`);
  expect((await a.scan('T')).map(([k]) => k)).toEqual([`T${u16(3)}x`]); // a pending delete hides the row
  await a.commit();
  await engine.close();

  // In the shared database the key is tag, order bytes, partition, rest: time order across partitions.
  const ordered = new ClassicLevel<Buffer, string>(join(dir, 'ordered'), { keyEncoding: 'buffer' });
  await ordered.open();
  const keys = (await ordered.keys().all()).map((k) => k.toString('latin1')).filter((k) => k.startsWith('T'));
  await ordered.close();
  expect(keys).toEqual([`T${u16(1)}p0001/x`, `T${u16(3)}p0000/x`]);

  engine = await StorageEngine.open(dir, { orderedTables: [{ tag: 'T', orderBytes: 2 }] });
  expect(await engine.partition(0).get(`T${u16(3)}x`, text)).toBe('a3');
  expect(await engine.partition(0).get('k', text)).toBe('main');
  await engine.close();
});

test('keys are binary: NUL and 0xff bytes are ordinary, prefix scans include keys with 0xff after the prefix', async () => {
  const engine = await StorageEngine.open(temp());
  const s = engine.partition(0);
  const keys = ['k\u0000', 'k\u0000\u0000', 'k\u0000\u00ff', 'k\u0000\u00ff\u00ff', 'k\u0001'];
  for (const k of keys) s.putRaw(k, Buffer.from(k, 'latin1'));
  await s.commit();
  expect((await s.scan('k\u0000')).map(([k]) => k)).toEqual(keys.slice(0, 4));
  expect((await s.scan('k\u0000\u00ff')).map(([k]) => k)).toEqual(keys.slice(2, 4));
  for (const k of keys) expect(Buffer.from((await s.getRaw(k))!).toString('latin1')).toBe(k);
  await engine.close();
});

test('a value that does not decode is an error naming its key', async () => {
  const engine = await StorageEngine.open(temp());
  const s = engine.partition(0);
  s.putRaw('i\u0000bad', Buffer.from('garbage'));
  await s.commit();
  const err = await s.get('i\u0000bad', text).catch((e) => e);
  expect(err).toBeInstanceOf(CorruptValueError);
  expect(err.message).toContain('i\\x00bad');
  expect(err.message).toContain('not a text value');
  await engine.close();
});

test('the read cache stays coherent with writes and deletes, and is bounded', async () => {
  const engine = await StorageEngine.open(temp());
  const s = engine.partition(0);
  expect(await s.get('k', text)).toBeUndefined(); // cached as absent
  s.put('k', '1', text);
  expect(await s.get('k', text)).toBe('1');
  await s.commit();
  expect(await s.get('k', text)).toBe('1');
  s.del('k');
  expect(await s.get('k', text)).toBeUndefined();
  await s.commit();
  expect(await s.get('k', text)).toBeUndefined();
  s.put('k', '2', text);
  await s.commit();
  expect(await s.get('k', text)).toBe('2');
  // Many more values than the cache holds: every read still answers from LevelDB correctly.
  const big = 'v'.repeat(64 * 1024);
  for (let i = 0; i < 800; i++) s.put(`big/${i}`, `${i}:${big}`, text);
  await s.commit();
  for (const i of [0, 1, 399, 799]) expect(((await s.get(`big/${i}`, text)) ?? '').startsWith(`${i}:`)).toBe(true);
  await engine.close();
});

test('writes stay visible while their commit is in flight (values too large for the cache)', async () => {
  const engine = await StorageEngine.open(temp());
  // A tiny cache: every value below is too large to be cached, so reads during a commit cannot be answered by it.
  const s = engine.partition(0, 1024);
  const filler = Buffer.alloc(4096, 1);
  for (let round = 0; round < 5; round++) {
    // A batch large enough that LevelDB takes a while to apply it.
    for (let i = 0; i < 2000; i++) s.putRaw(`f/${i}`, filler);
    s.putRaw('big', Buffer.alloc(512, round));
    s.putRaw(`gone/${round}`, Buffer.alloc(512, round));
    if (round > 0) s.del(`gone/${round - 1}`);
    const committing = s.commit();
    // Reads issued while the batch is being written.
    const [big, gone, goneBefore, scanned] = await Promise.all([
      s.getRaw('big'),
      s.getRaw(`gone/${round}`),
      s.getRaw(`gone/${round - 1}`),
      s.scan('gone/'),
    ]);
    expect(big?.[0]).toBe(round);
    expect(gone?.[0]).toBe(round);
    expect(goneBefore).toBeUndefined();
    expect(scanned.map(([k]) => k)).toEqual([`gone/${round}`]);
    await committing;
  }
  await engine.close();
});

test('commits queue: each is written after the one before, reads see the newest, a failure stops the rest', async () => {
  const dir = temp();
  let engine = await StorageEngine.open(dir);
  const s = engine.partition(0);
  s.put('k', 'one', text);
  s.put('x', 'gone soon', text);
  const first = s.commit();
  s.put('k', 'two', text);
  s.del('x');
  const second = s.commit(); // not waiting for the first
  expect(await s.get('k', text)).toBe('two');
  expect(await s.get('x', text)).toBeUndefined();
  expect((await s.scan('')).map(([k]) => k)).toEqual(['k']);
  await Promise.all([first, second]);
  await s.flushed();
  expect(await s.get('k', text)).toBe('two');
  await engine.close();

  engine = await StorageEngine.open(dir);
  const again = engine.partition(0);
  expect(await again.get('k', text)).toBe('two');
  expect(await again.get('x', text)).toBeUndefined();
  await engine.close();
  // The database is closed under the store: the write fails, and so does every later commit.
  again.put('k', 'three', text);
  const failed = again.commit();
  again.put('k', 'four', text);
  const later = again.commit();
  const error = await failed.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(Error);
  await expect(later).rejects.toBe(error);
  await expect(again.flushed()).rejects.toBe(error);
});

test('scan limits are pushed into the LevelDB iterator and merge unflushed writes in key order', async () => {
  const engine = await StorageEngine.open(temp());
  const s = engine.partition(0);
  const key = (i: number) => `q/${String(i).padStart(5, '0')}`;
  for (let i = 0; i < 5000; i += 2) s.putRaw(key(i), Buffer.from([1]));
  await s.commit();
  s.del(key(0));
  s.putRaw(key(1), Buffer.from([2]));
  s.putRaw(key(3), Buffer.from([2]));
  const before = s.entriesScanned;
  expect((await s.scan('q/', 3)).map(([k]) => k)).toEqual([key(1), key(2), key(3)]);
  // Reads a handful of entries, not the 2500 of the range.
  expect(s.entriesScanned - before).toBeLessThanOrEqual(4);
  expect((await s.scan('q/', 1)).map(([k]) => k)).toEqual([key(1)]);
  const all = await s.scan('q/');
  expect(all.length).toBe(2500 - 1 + 2);
  expect(all.map(([k]) => k)).toEqual([...all.map(([k]) => k)].sort());
  expect(await s.scan('q/', 0)).toEqual([]);
  await engine.close();
});

test('scan after a key starts the LevelDB iterator past it and merges unflushed writes in the range', async () => {
  const engine = await StorageEngine.open(temp());
  const s = engine.partition(0);
  const key = (i: number) => `q/${String(i).padStart(5, '0')}`;
  for (let i = 0; i < 5000; i += 2) s.putRaw(key(i), Buffer.from([1]));
  s.putRaw('r/0', Buffer.from([1]));
  await s.commit();
  s.del(key(4002));
  s.putRaw(key(4001), Buffer.from([2]));
  s.putRaw(key(3999), Buffer.from([2])); // below the cursor: not part of the page
  s.putRaw(key(4000), Buffer.from([2])); // the cursor itself: excluded
  s.putRaw(key(4999), Buffer.from([2]));
  const before = s.entriesScanned;
  expect((await s.scan('q/', 3, { after: key(4000) })).map(([k]) => k)).toEqual([key(4001), key(4004), key(4006)]);
  // Starts at the cursor, not at the beginning of the range.
  expect(s.entriesScanned - before).toBeLessThanOrEqual(5);
  // The rest of the range after a cursor; keys of the next prefix are not included.
  const tail = (await s.scan('q/', Number.POSITIVE_INFINITY, { after: key(4990) })).map(([k]) => k);
  expect(tail).toEqual([key(4992), key(4994), key(4996), key(4998), key(4999)]);
  // A cursor that does not start with the prefix: below the range scans it all, above it scans nothing.
  expect(await s.scan('q/', 2, { after: 'a' })).toEqual(await s.scan('q/', 2));
  expect(await s.scan('q/', 2, { after: 'r/' })).toEqual([]);
  // Paging with the last key as cursor visits every entry once, in order.
  const paged: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await s.scan('q/', 700, after === undefined ? {} : { after });
    paged.push(...page.map(([k]) => k));
    if (page.length < 700) break;
    after = page.at(-1)![0];
  }
  expect(paged).toEqual((await s.scan('q/')).map(([k]) => k));
  expect(paged.length).toBe(2500 - 1 + 3);
  await engine.close();
});

test('a scan of ASCII keys reads what a scan of bytes reads, and fails on a key that is not ASCII', async () => {
  const engine = await StorageEngine.open(temp());
  const s = engine.partition(3);
  const key = (i: number) => `i/inv_${String(i).padStart(4, '0')}\u0000\u0001`;
  for (let i = 0; i < 300; i++) s.putRaw(key(i), Buffer.from([i % 256, 0x80, 0xff]));
  s.putRaw('j/\u00ff\u0080', Buffer.from([1])); // binary keys of the next table
  await s.commit();
  s.del(key(10));
  s.putRaw(key(20), Buffer.from([9]));
  s.putRaw(`i/inv_0020x`, Buffer.from([7]));
  for (const [limit, after] of [
    [Number.POSITIVE_INFINITY, undefined],
    [50, undefined],
    [50, key(100)],
  ] as const) {
    const bytes = await s.scan('i/', limit, { after });
    expect(await s.scan('i/', limit, { after, asciiKeys: true })).toEqual(bytes);
    expect(bytes.length).toBe(limit === Number.POSITIVE_INFINITY ? 300 : 50);
  }
  // A non-ASCII key in the range: an error, not a key read wrong.
  s.putRaw('i/\u00e9', Buffer.from([1]));
  await s.commit();
  await expect(s.scan('i/', 1000, { asciiKeys: true })).rejects.toThrow(/ASCII keys met key/);
  // A prefix that is not ASCII itself is read as bytes.
  expect(await s.scan('j/\u00ff', 10, { asciiKeys: true })).toEqual([['j/\u00ff\u0080', Buffer.from([1])]]);
  await engine.close();
});

test('rollback undoes the writes made since the savepoint, and only those', async () => {
  const engine = await StorageEngine.open(temp());
  const s = engine.partition(0);
  s.put('a', 'committed', text);
  await s.commit();
  s.put('b', 'kept', text);
  s.savepoint();
  s.put('a', 'changed', text);
  s.del('b');
  s.put('c', 'new', text);
  expect(await s.get('a', text)).toBe('changed');
  s.rollback();
  expect(await s.get('a', text)).toBe('committed');
  expect(await s.get('b', text)).toBe('kept');
  expect(await s.get('c', text)).toBeUndefined();
  await s.commit();
  expect((await s.scan('')).map(([k]) => k)).toEqual(['a', 'b']);
  await engine.close();
});

test('a worker opens only the partitions it hosts, and closes one it no longer hosts', async () => {
  const dir = temp();
  let engine = await StorageEngine.open(dir);
  const three = await engine.openPartition(3);
  const five = await engine.openPartition(5);
  expect(engine.openPartitions).toEqual([3, 5]);
  three.put('x', 'three', text);
  five.put('x', 'five', text);
  await Promise.all([three.commit(), five.commit()]);
  expect(readdirSync(dir).sort()).toEqual(['3', '5', 'ordered']);

  await engine.closePartition(3);
  expect(engine.openPartitions).toEqual([5]);
  await expect(three.getRaw('y')).rejects.toThrow(); // its database is closed
  expect(await five.get('x', text)).toBe('five');
  // Hosted again later: opened again, with what it had.
  expect(await (await engine.openPartition(3)).get('x', text)).toBe('three');
  await expect(engine.openPartition(-1)).rejects.toThrow(RangeError);
  await engine.close();

  engine = await StorageEngine.open(dir);
  expect(engine.openPartitions).toEqual([]);
  expect(await (await engine.openPartition(5)).get('x', text)).toBe('five');
  await engine.close();
});
