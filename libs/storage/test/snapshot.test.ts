import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { type PartitionStore, type SnapshotEntry, StorageEngine } from '../src/store.ts';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'stead-snap-'));
  dirs.push(d);
  return d;
};
const engines: StorageEngine[] = [];
afterAll(async () => {
  for (const e of engines) await e.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** One time-ordered table `t` (8 order bytes) whose rows of every partition share one database. */
const OPTS = { orderedTables: [{ tag: 't', orderBytes: 8 }] };
const open = async (dir: string) => {
  const e = await StorageEngine.open(dir, OPTS);
  engines.push(e);
  return e;
};
const bytes = (s: string) => Buffer.from(s);
const orderedKey = (n: number, rest: string) => `t${n.toString(16).padStart(8, '0')}${rest}`;

/** Every key of a partition as the store shows it (table keys, values as text), through its scans. */
async function dump(store: PartitionStore): Promise<[string, string][]> {
  const all = [...(await store.scan('')), ...(await store.scan('t'))];
  return all.map(([k, v]) => [k, Buffer.from(v).toString()]);
}

async function collect(entries: AsyncIterable<SnapshotEntry>): Promise<SnapshotEntry[]> {
  const out: SnapshotEntry[] = [];
  for await (const e of entries) out.push(e);
  return out;
}

const printable = (entries: SnapshotEntry[]) =>
  entries.map((e) => `${e.db} ${Buffer.from(e.key).toString('latin1')}=${Buffer.from(e.value).toString()}`);

/** Fills partition `id` with `n` keys of its own and `n` rows of the ordered table, all tagged with `tag`. */
async function fill(engine: StorageEngine, id: number, n: number, tag: string): Promise<PartitionStore> {
  const store = await engine.openPartition(id);
  for (let i = 0; i < n; i++) {
    store.putRaw(`k/${String(i).padStart(5, '0')}`, bytes(`${tag}-${i}`));
    store.putRaw(orderedKey(i, `/r${i}`), bytes(`${tag}-row-${i}`));
  }
  await store.commit();
  return store;
}

test('a view holds the store as of its call; restoring it into a fresh engine gives the same keys', async () => {
  const engine = await open(temp());
  // More entries than one batch of the copy, in both databases; partition 5 shares the ordered database.
  const three = await fill(engine, 3, 2500, 'three');
  await fill(engine, 5, 1200, 'five');
  const before = await dump(three);
  expect(before).toHaveLength(5000);

  const view = engine.snapshotPartition(3);
  // Writes after the view (commits of the partition, a delete, new ordered rows) must not show in it.
  three.putRaw('k/00000', bytes('changed'));
  three.putRaw('k/new', bytes('new'));
  three.del('k/00001');
  three.putRaw(orderedKey(99_999, '/late'), bytes('late'));
  three.del(orderedKey(2, '/r2'));
  await three.commit();
  expect(await three.getRaw('k/new')).toEqual(bytes('new'));

  const entries = await collect(view.entries());
  expect(entries.filter((e) => e.db === 'main')).toHaveLength(2500);
  expect(entries.filter((e) => e.db === 'ordered')).toHaveLength(2500);
  // Ordered rows of partition 5 are not in partition 3's view; keys are as stored (with the partition prefix).
  expect(entries.every((e) => Buffer.from(e.key).includes('p0003/'))).toBe(true);
  expect(printable(entries)).toContain('main p0003/k/00000=three-0');
  expect(printable(entries)).toContain(`ordered ${orderedKey(2, 'p0003//r2')}=three-row-2`);

  const fresh = await open(temp());
  await fresh.restorePartition(3, view.entries());
  await view.release();
  const restored = await fresh.openPartition(3);
  expect(await dump(restored)).toEqual(before);
  expect(await restored.getRaw('k/00001')).toEqual(bytes('three-1'));
  expect(await restored.getRaw(orderedKey(7, '/r7'))).toEqual(bytes('three-row-7'));
  expect(await restored.getRaw('k/new')).toBeUndefined();
  // Key for key: a view of the restored store holds the same entries.
  const again = fresh.snapshotPartition(3);
  const copied = await collect(again.entries());
  await again.release();
  expect(printable(copied)).toEqual(printable(entries));
  expect(await (await fresh.openPartition(5)).scan('')).toEqual([]);
});

test('restoring over a partition replaces its keys and keeps the other partitions rows', async () => {
  const source = await open(temp());
  await fill(source, 3, 10, 'snap');
  const view = source.snapshotPartition(3);
  const entries = await collect(view.entries());
  await view.release();
  const expected = await dump(source.partition(3));

  const target = await open(temp());
  const old = await fill(target, 3, 20, 'old');
  old.putRaw(orderedKey(500, '/only-old'), bytes('x'));
  await old.commit();
  await fill(target, 5, 15, 'other');
  // The partition is open: the restore closes it first.
  await target.restorePartition(
    3,
    (async function* () {
      yield* entries;
    })(),
  );
  expect(target.openPartitions).not.toContain(3);
  expect(existsSync(join(targetDir(target), '3.restoring'))).toBe(false);
  const restored = await target.openPartition(3);
  expect(await dump(restored)).toEqual(expected);
  expect(await restored.getRaw(orderedKey(500, '/only-old'))).toBeUndefined();
  expect(await restored.getRaw('k/00015')).toBeUndefined();
  const other = await dump(target.partition(5));
  expect(other).toHaveLength(30);
  expect(other).toContainEqual([orderedKey(14, '/r14'), 'other-row-14']);
});

test('a snapshot of another partition is refused, and the half restored partition is refused until restored', async () => {
  const source = await open(temp());
  await fill(source, 3, 5, 'three');
  const view = source.snapshotPartition(3);
  const entries = await collect(view.entries());
  await view.release();

  const target = await open(temp());
  await fill(target, 5, 5, 'five');
  // Found at the first entry: the store is not touched.
  await expect(target.restorePartition(5, list(entries))).rejects.toThrow(
    /restore of partition 5: main entry p0003\/k\/00000 does not belong to partition 5/,
  );
  await expect(target.restorePartition(5, list(entries.filter((e) => e.db === 'ordered')))).rejects.toThrow(
    /ordered entry t00000000p0003\/\/r0 does not belong to partition 5/,
  );
  expect(await (await target.openPartition(5)).getRaw('k/00000')).toEqual(bytes('five-0'));
  // Found later, after the wipe: the partition is refused until a restore completes.
  const mixed = [{ db: 'main' as const, key: bytes('p0005/first'), value: bytes('x') }, ...entries];
  await expect(target.restorePartition(5, list(mixed))).rejects.toThrow(/does not belong to partition 5/);
  await expect(target.openPartition(5)).rejects.toThrow(/partition 5: its store is half restored .*restore it again/);
  expect(() => target.partition(5)).toThrow(/half restored/);
  const mine = entries.map((e) => ({
    ...e,
    key: Buffer.from(Buffer.from(e.key).toString('latin1').replace('p0003/', 'p0005/'), 'latin1'),
  }));
  await target.restorePartition(5, list(mine));
  const restored = await target.openPartition(5);
  expect(await restored.getRaw('k/00004')).toEqual(bytes('three-4'));
  expect(await dump(restored)).toHaveLength(10);
});

test('a partition whose restore did not finish (crash) is refused after a restart, other partitions open', async () => {
  const dir = temp();
  let engine = await StorageEngine.open(dir, { ...OPTS, partitions: 3 });
  await fill(engine, 1, 3, 'one');
  await fill(engine, 2, 3, 'two');
  await engine.close();
  // What a crash between the marker and the end of a restore leaves behind.
  writeFileSync(join(dir, '2.restoring'), 'restore of partition 2 started\n');

  engine = await open(dir);
  await expect(engine.openPartition(2)).rejects.toThrow(/half restored/);
  expect(await (await engine.openPartition(1)).getRaw('k/00000')).toEqual(bytes('one-0'));
  await engine.restorePartition(2, list([]));
  expect(await (await engine.openPartition(2)).scan('')).toEqual([]);
  // Rows of the ordered table went with the wipe too.
  expect(await engine.partition(2).scan('t')).toEqual([]);
  expect(await engine.partition(1).scan('t')).toHaveLength(3);
});

test('a view needs the partition database open', async () => {
  const engine = await open(temp());
  expect(() => engine.snapshotPartition(4)).toThrow(/partition 4: its database is not open/);
  await engine.openPartition(4);
  const view = engine.snapshotPartition(4);
  await view.release();
  await view.release();
  await expect(collect(view.entries())).rejects.toThrow(/after release/);
});

async function* list(entries: SnapshotEntry[]): AsyncIterable<SnapshotEntry> {
  yield* entries;
}

function targetDir(engine: StorageEngine): string {
  return (engine as unknown as { dir: string }).dir;
}
