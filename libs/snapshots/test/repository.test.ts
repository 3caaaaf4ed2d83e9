import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Cleanup, freePort, S3Server } from '@stead/testing';
import {
  CorruptSnapshotError,
  DirectorySnapshotRepository,
  S3SnapshotRepository,
  type SnapshotRepository,
  SnapshotRepositoryError,
} from '../src/index.ts';
import { buildListing } from '../src/repository.ts';
import { manifest, rawClient, s3Repository } from './helpers.ts';

const cleanup = new Cleanup();
let server: S3Server;
let tmp: string;
beforeAll(async () => {
  server = await S3Server.start(cleanup, 'snapshots');
  tmp = cleanup.tempDir('stead-snaprepo-');
}, 30_000);
afterAll(() => cleanup.run());

let prefixes = 0;
const kinds: [string, () => SnapshotRepository][] = [
  ['s3', () => s3Repository(server, `run/${prefixes++}`)],
  ['directory', () => new DirectorySnapshotRepository(cleanup.tempDir('stead-snapdir-'))],
];

describe.each(kinds)('%s repository', (_kind, make) => {
  test('put, list newest first, fetch, delete', async () => {
    const repo = make();
    const file = join(tmp, `data-${prefixes}-${Math.random()}`);
    writeFileSync(file, 'snapshot bytes');
    const older = manifest(3, 100n, { createdAt: '2026-01-01T00:00:00.000Z' });
    const sameOffsetLater = manifest(3, 100n, { id: 'later', createdAt: '2026-01-02T00:00:00.000Z' });
    const newest = manifest(3, 5000n);
    for (const m of [older, newest, sameOffsetLater]) await repo.put(m, file);
    await repo.put(manifest(12, 1n), file);

    const listing = await repo.list(3);
    expect(listing.snapshots.map((m) => `${m.appliedOffset}/${m.id}`)).toEqual([
      '5000/id5000',
      '100/later',
      '100/id100',
    ]);
    expect(listing.snapshots[0]).toEqual(newest);
    expect(listing.incomplete).toEqual([]);
    expect(listing.unreadable).toEqual([]);
    expect(await repo.listPartitions()).toEqual([3, 12]);
    expect((await repo.list(4)).snapshots).toEqual([]);

    const out = join(tmp, `fetched-${Math.random()}`);
    await repo.fetch(newest, out);
    expect(readFileSync(out, 'utf8')).toBe('snapshot bytes');

    await repo.delete(newest);
    expect((await repo.list(3)).snapshots.map((m) => m.appliedOffset)).toEqual(['100', '100']);
    await expect(repo.fetch(newest, out)).rejects.toThrow(CorruptSnapshotError);
    expect(repo.describe()).not.toMatch(/S3RVER/);
  });
});

describe('s3 repository', () => {
  test('data without a manifest is an incomplete upload; a manifest that does not parse is reported and skipped', async () => {
    const repo = s3Repository(server, 'odd');
    const raw = rawClient(server);
    await raw.putObject(server.bucket, 'odd/partition-1/00000000000000000042-abc/snapshot.bin', Buffer.from('x'));
    await raw.putObject(server.bucket, 'odd/partition-1/00000000000000000043-def/snapshot.bin', Buffer.from('x'));
    await raw.putObject(
      server.bucket,
      'odd/partition-1/00000000000000000043-def/manifest.json',
      Buffer.from('{"format":9}'),
    );
    // A manifest in the wrong place (partition 2's in partition 1's folder) is not trusted either.
    const elsewhere = manifest(2, 44n, { id: 'ghi' });
    await raw.putObject(
      server.bucket,
      'odd/partition-1/00000000000000000044-ghi/manifest.json',
      Buffer.from(JSON.stringify(elsewhere)),
    );
    await raw.putObject(server.bucket, 'odd/partition-1/stray.txt', Buffer.from('x'));

    const listing = await repo.list(1);
    expect(listing.snapshots).toEqual([]);
    expect(listing.incomplete.map((u) => `${u.appliedOffset}-${u.id}`)).toEqual(['42-abc']);
    expect(listing.incomplete[0].modifiedAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(listing.unreadable.map((u) => u.reason).sort()).toEqual([
      expect.stringMatching(/00000000000000000043-def\/manifest.json at http.*: manifest has format 9/),
      expect.stringMatching(/00000000000000000044-ghi\/manifest.json.*manifest of partition 2/),
    ]);
  });

  test('the layout in the bucket', async () => {
    const repo = s3Repository(server, '/layout/');
    const file = join(tmp, 'layout');
    writeFileSync(file, 'x');
    await repo.put(manifest(7, 123n, { id: 'Zz9' }), file);
    const names: string[] = [];
    for await (const o of rawClient(server).listObjectsV2(server.bucket, 'layout/', true)) names.push(o.name!);
    expect(names.sort()).toEqual([
      'layout/partition-7/00000000000000000123-Zz9/manifest.json',
      'layout/partition-7/00000000000000000123-Zz9/snapshot.bin',
    ]);
    expect(repo.describe()).toBe(`s3://snapshots/layout at ${server.endpoint}`);
  });

  test('a stopped endpoint rejects within seconds naming it, and works again after a restart', async () => {
    const repo = s3Repository(server, 'down');
    const file = join(tmp, 'down');
    writeFileSync(file, 'x');
    await repo.put(manifest(1, 1n), file);
    await server.stop();
    try {
      for (const op of [() => repo.list(1), () => repo.put(manifest(1, 2n), file), () => repo.listPartitions()]) {
        const started = Date.now();
        const err = await op().catch((e: unknown) => e);
        expect(Date.now() - started).toBeLessThan(3000);
        expect(err).toBeInstanceOf(SnapshotRepositoryError);
        expect((err as Error).message).toContain(`s3://snapshots/down at ${server.endpoint}`);
        expect((err as Error).message).toMatch(/ECONNREFUSED/);
      }
    } finally {
      await server.restart();
    }
    expect((await repo.list(1)).snapshots.map((m) => m.appliedOffset)).toEqual(['1']);
  });

  test('an endpoint that accepts connections and never answers rejects after the request timeout', async () => {
    const sockets: Socket[] = [];
    const hung = createServer((s) => sockets.push(s));
    const port = await freePort();
    await new Promise<void>((resolve) => hung.listen(port, '127.0.0.1', resolve));
    cleanup.add(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          hung.close(() => resolve());
        }),
    );
    const repo = new S3SnapshotRepository({
      endpoint: `http://127.0.0.1:${port}`,
      bucket: 'hung-bucket',
      accessKey: 'a',
      secretKey: 's',
      requestTimeoutMs: 500,
    });
    const started = Date.now();
    const err = await repo.list(1).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2500);
    expect((err as Error).message).toMatch(
      new RegExp(`s3://hung-bucket/ at http://127.0.0.1:${port}: list partition-1/: no progress in 500 ms`),
    );
    expect(sockets.length).toBeGreaterThan(0);
  });

  test('an endpoint that is not a URL is refused at once', () => {
    expect(() => new S3SnapshotRepository({ endpoint: 'localhost:9000', bucket: 'b' })).toThrow(
      /http or https|not a URL/,
    );
  });
});

describe('a listing that races a prune', () => {
  it('leaves out a snapshot whose manifest was deleted after the objects were listed', async () => {
    const folder = '00000000000000000007-abcdefghijk';
    const listing = await buildListing(
      3,
      [
        { folder, file: 'snapshot.bin', modifiedAt: new Date() },
        { folder, file: 'manifest.json', modifiedAt: new Date() },
      ],
      async () => undefined,
      (_key, file) => `partition-3/${folder}/${file}`,
    );
    expect(listing).toEqual({ snapshots: [], incomplete: [], unreadable: [] });
  });
});
