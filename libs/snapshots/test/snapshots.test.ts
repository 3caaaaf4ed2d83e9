import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { StorageEngine } from '@stead/storage';
import { Cleanup, S3Server } from '@stead/testing';
import {
  createSnapshot,
  DirectorySnapshotRepository,
  restoreLatest,
  retainedFloor,
  type SnapshotManifest,
  type SnapshotRepository,
  SnapshotRepositoryError,
} from '../src/index.ts';
import { rawClient, s3Repository, storeLines } from './helpers.ts';

const cleanup = new Cleanup();
let server: S3Server;
beforeAll(async () => {
  server = await S3Server.start(cleanup, 'snapshots');
}, 30_000);
afterAll(() => cleanup.run());

const OPTS = { orderedTables: [{ tag: 't', orderBytes: 8 }] };
async function engine(): Promise<StorageEngine> {
  const e = await StorageEngine.open(cleanup.tempDir('stead-snapstore-'), OPTS);
  cleanup.add(() => e.close());
  return e;
}

/** Writes `n` keys and ordered rows to `partition`, values tagged `tag`; the partition stays open. */
async function write(e: StorageEngine, partition: number, n: number, tag: string): Promise<void> {
  const store = await e.openPartition(partition);
  for (let i = 0; i < n; i++) {
    store.putRaw(`k/${i}`, Buffer.from(`${tag}-${i}`));
    store.putRaw(`t${String(i).padStart(8, '0')}/${i}`, Buffer.from(`${tag}-row-${i}`));
  }
  await store.commit();
}

type LogLine = { level: string; msg: string; fields?: Record<string, unknown> };
function logger(): { lines: LogLine[]; log: (level: string, msg: string, fields?: Record<string, unknown>) => void } {
  const lines: LogLine[] = [];
  return { lines, log: (level, msg, fields) => lines.push({ level, msg, fields }) };
}

function snap(repository: SnapshotRepository, e: StorageEngine, partition: number, offset: bigint, retain = 10) {
  const tmpDir = cleanup.tempDir('stead-snaptmp-');
  const made = createSnapshot({
    repository,
    partition,
    node: 'node-a',
    tmpDir,
    retain,
    capture: async () => ({ appliedOffset: offset, view: e.snapshotPartition(partition) }),
  });
  return made.then((m) => {
    // Temp files go whatever happens.
    expect(readdirSync(tmpDir)).toEqual([]);
    return m;
  });
}

function restoreInto(
  repository: SnapshotRepository,
  e: StorageEngine,
  partition: number,
  more: { minAppliedOffset?: bigint; log?: ReturnType<typeof logger>['log'] } = {},
) {
  return restoreLatest({
    repository,
    partition,
    tmpDir: cleanup.tempDir('stead-snaptmp-'),
    restore: (entries) => e.restorePartition(partition, entries),
    ...more,
  });
}

let prefixes = 0;
const kinds: [string, () => SnapshotRepository][] = [
  ['s3', () => s3Repository(server, `e2e/${prefixes++}`)],
  ['directory', () => new DirectorySnapshotRepository(cleanup.tempDir('stead-snapdir-'))],
];

describe.each(kinds)('%s: createSnapshot and restoreLatest', (_kind, make) => {
  test('a partition store restored into a new engine equals the one snapshotted', async () => {
    const repo = make();
    const source = await engine();
    await write(source, 4, 1500, 'four');
    await write(source, 6, 50, 'six');
    const expected = await storeLines(source, 4);
    const m = await snap(repo, source, 4, 12_345n);
    expect(m).toMatchObject({ format: 1, partition: 4, appliedOffset: '12345', node: 'node-a', entries: 3000 });
    // Writes after the snapshot are not in it.
    await write(source, 4, 1600, 'later');

    const target = await engine();
    const restored = await restoreInto(repo, target, 4);
    expect(restored).toEqual(m);
    await target.openPartition(4);
    expect(await storeLines(target, 4)).toEqual(expected);
    expect(await (await target.openPartition(6)).scan('')).toEqual([]);
    expect(await restoreInto(repo, target, 9)).toBeUndefined();
  });
});

describe('s3: retention, corruption, minimum offset, outage', () => {
  test('retain 2 of 4 keeps the two newest; retainedFloor is the older of them', async () => {
    const repo = s3Repository(server, 'retain');
    const e = await engine();
    await write(e, 1, 10, 'x');
    const raw = rawClient(server);
    for (const offset of [1, 2, 3, 4]) await snap(repo, e, 1, BigInt(offset * 100), 2);
    const listing = await repo.list(1);
    expect(listing.snapshots.map((m) => m.appliedOffset)).toEqual(['400', '300']);
    expect(retainedFloor(listing.snapshots, 2)).toBe(300n);
    const names: string[] = [];
    for await (const o of raw.listObjectsV2(server.bucket, 'retain/', true)) names.push(o.name!);
    expect(names).toHaveLength(4);
  });

  test('stale incomplete uploads are pruned, fresh ones left', async () => {
    const repo = s3Repository(server, 'stale');
    const e = await engine();
    await write(e, 1, 3, 'x');
    const raw = rawClient(server);
    await raw.putObject(server.bucket, 'stale/partition-1/00000000000000000050-old/snapshot.bin', Buffer.from('x'));
    const common = { repository: repo, partition: 1, node: 'n', retain: 5 };
    const capture = async () => ({ appliedOffset: 60n, view: e.snapshotPartition(1) });
    await createSnapshot({ ...common, tmpDir: cleanup.tempDir(), capture, staleIncompleteMs: 60 * 60_000 });
    expect((await repo.list(1)).incomplete.map((u) => u.id)).toEqual(['old']);
    await createSnapshot({ ...common, tmpDir: cleanup.tempDir(), capture, staleIncompleteMs: 0 });
    const listing = await repo.list(1);
    expect(listing.incomplete).toEqual([]);
    expect(listing.snapshots).toHaveLength(2);
  });

  test('a corrupt newest snapshot is skipped for the previous one, with a warning naming it', async () => {
    const repo = s3Repository(server, 'corrupt');
    const source = await engine();
    await write(source, 2, 100, 'first');
    const expected = await storeLines(source, 2);
    const first = await snap(repo, source, 2, 1000n);
    await write(source, 2, 100, 'second');
    const second = await snap(repo, source, 2, 2000n);
    // Other bytes under the newest snapshot's data object.
    const object = `corrupt/partition-2/${'2000'.padStart(20, '0')}-${second.id}/snapshot.bin`;
    await rawClient(server).putObject(server.bucket, object, Buffer.from('not the snapshot that was taken'));

    const target = await engine();
    const { lines, log } = logger();
    const restored = await restoreInto(repo, target, 2, { log });
    expect(restored).toEqual(first);
    await target.openPartition(2);
    expect(await storeLines(target, 2)).toEqual(expected);
    const warning = lines.find((l) => l.level === 'warn');
    expect(warning?.msg).toMatch(/corrupt partition snapshot skipped/);
    expect(String(warning?.fields?.where)).toContain(object);
    expect(String(warning?.fields?.error)).toMatch(/sha256 of the data is [0-9a-f]{64}, its manifest says/);
  });

  test('with only a corrupt snapshot, nothing is restored and the store is left as it was', async () => {
    const repo = s3Repository(server, 'all-corrupt');
    const source = await engine();
    await write(source, 2, 10, 'snap');
    const only = await snap(repo, source, 2, 10n);
    const object = `all-corrupt/partition-2/${'10'.padStart(20, '0')}-${only.id}/snapshot.bin`;
    await rawClient(server).putObject(server.bucket, object, Buffer.from('garbage'));
    const target = await engine();
    await write(target, 2, 3, 'kept');
    const before = await storeLines(target, 2);
    const { lines, log } = logger();
    expect(await restoreInto(repo, target, 2, { log })).toBeUndefined();
    expect(lines.map((l) => l.msg)).toContain('corrupt partition snapshot skipped, trying an older one');
    expect(target.openPartitions).toContain(2);
    expect(await storeLines(target, 2)).toEqual(before);
  });

  test('snapshots below minAppliedOffset are not used', async () => {
    const repo = s3Repository(server, 'min');
    const e = await engine();
    await write(e, 3, 5, 'x');
    await snap(repo, e, 3, 10n);
    const at20 = await snap(repo, e, 3, 20n);
    const target = await engine();
    expect(await restoreInto(repo, target, 3, { minAppliedOffset: 20n })).toEqual(at20);
    expect(await restoreInto(repo, target, 3, { minAppliedOffset: 21n })).toBeUndefined();
  });

  test('with the bucket server down, snapshots and restores reject naming the endpoint; they work after a restart', async () => {
    const repo = s3Repository(server, 'outage');
    const e = await engine();
    await write(e, 5, 20, 'x');
    await snap(repo, e, 5, 7n);
    await server.stop();
    const tmpDir = cleanup.tempDir('stead-snaptmp-');
    try {
      const started = Date.now();
      const failed = await createSnapshot({
        repository: repo,
        partition: 5,
        node: 'n',
        tmpDir,
        retain: 2,
        capture: async () => ({ appliedOffset: 8n, view: e.snapshotPartition(5) }),
      }).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(SnapshotRepositoryError);
      expect((failed as Error).message).toContain(server.endpoint);
      expect(readdirSync(tmpDir)).toEqual([]);
      const target = await engine();
      await expect(restoreInto(repo, target, 5)).rejects.toThrow(server.endpoint);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await server.restart();
    }
    const m = await snap(repo, e, 5, 9n);
    const target = await engine();
    expect(await restoreInto(repo, target, 5)).toEqual(m);
  });
});

test('restoring one partition snapshot into another partition fails loudly', async () => {
  const repo = new DirectorySnapshotRepository(cleanup.tempDir('stead-snapdir-'));
  const e = await engine();
  await write(e, 3, 5, 'x');
  await snap(repo, e, 3, 1n);
  const target = await engine();
  const manifests: SnapshotManifest[] = (await repo.list(3)).snapshots;
  expect(manifests).toHaveLength(1);
  await expect(
    restoreLatest({
      repository: repo,
      partition: 3,
      tmpDir: cleanup.tempDir(),
      restore: (entries) => target.restorePartition(5, entries),
    }),
  ).rejects.toThrow(/does not belong to partition 5/);
  // Refused at its first entry, before the store of partition 5 is touched.
  expect(await (await target.openPartition(5)).scan('')).toEqual([]);
});
