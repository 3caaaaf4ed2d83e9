import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, test } from '@jest/globals';
import type { SnapshotEntry } from '@stead/storage';
import { Cleanup } from '@stead/testing';
import { CorruptSnapshotError, readSnapshotFile, writeSnapshotFile } from '../src/index.ts';
import { parseManifest, retainedFloor, type SnapshotManifest } from '../src/manifest.ts';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());
const dir = cleanup.tempDir('stead-snapfile-');
let n = 0;
const path = () => join(dir, `f${n++}.bin`);
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function* list(entries: SnapshotEntry[]): AsyncIterable<SnapshotEntry> {
  yield* entries;
}
async function collect(entries: AsyncIterable<SnapshotEntry>): Promise<SnapshotEntry[]> {
  const out: SnapshotEntry[] = [];
  for await (const e of entries) out.push(e);
  return out;
}
const show = (entries: SnapshotEntry[]) =>
  entries.map((e) => `${e.db}:${Buffer.from(e.key).toString('hex')}:${Buffer.from(e.value).toString('hex')}`);

/** A file with `body` (already framed, uncompressed) behind a header of `version`. */
function handMade(body: Buffer, version = 1, magic = 'STEADSNP'): { file: string; sha256: string } {
  const bytes = Buffer.concat([Buffer.from(magic, 'latin1'), Buffer.from([version]), gzipSync(body)]);
  const file = path();
  writeFileSync(file, bytes);
  return { file, sha256: sha(bytes) };
}
const frame = (kind: number, key: string, value: string) => {
  const k = Buffer.from(key);
  const v = Buffer.from(value);
  const b = Buffer.alloc(9 + k.length + v.length);
  b[0] = kind;
  b.writeUInt32BE(k.length, 1);
  k.copy(b, 5);
  b.writeUInt32BE(v.length, 5 + k.length);
  v.copy(b, 9 + k.length);
  return b;
};
const end = (count: number) => {
  const b = Buffer.alloc(9);
  b[0] = 0xff;
  b.writeBigUInt64BE(BigInt(count), 1);
  return b;
};

describe('snapshot file', () => {
  test('round trip of binary keys, empty and large values; sha256 and size are those of the file', async () => {
    const entries: SnapshotEntry[] = [];
    for (let i = 0; i < 3000; i++) {
      entries.push({
        db: i % 3 === 0 ? 'ordered' : 'main',
        key: Buffer.from([0, 255, i & 255, i >> 8]),
        value: Buffer.from(`v${i}`),
      });
    }
    entries.push({ db: 'main', key: Buffer.from('empty'), value: new Uint8Array(0) });
    entries.push({ db: 'main', key: Buffer.from('big'), value: Buffer.alloc(300_000, 7) });
    const file = path();
    const info = await writeSnapshotFile(file, list(entries));
    expect(info.entries).toBe(3002);
    expect(info.sizeBytes).toBe(statSync(file).size);
    expect(info.sha256).toBe(sha(readFileSync(file)));
    expect(readFileSync(file).subarray(0, 9).toString('latin1')).toBe('STEADSNP\u0001');
    expect(show(await collect(readSnapshotFile(file, info.sha256)))).toEqual(show(entries));
  });

  test('an empty store round-trips', async () => {
    const file = path();
    const info = await writeSnapshotFile(file, list([]));
    expect(info.entries).toBe(0);
    expect(await collect(readSnapshotFile(file, info.sha256))).toEqual([]);
  });

  test('a changed byte fails the checksum before any entry is yielded', async () => {
    const file = path();
    const info = await writeSnapshotFile(file, list([{ db: 'main', key: Buffer.from('k'), value: Buffer.from('v') }]));
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] ^= 1;
    writeFileSync(file, bytes);
    const it = readSnapshotFile(file, info.sha256, 's3://b/p/snapshot.bin')[Symbol.asyncIterator]();
    const err = await it.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptSnapshotError);
    expect((err as Error).message).toMatch(
      /^corrupt snapshot s3:\/\/b\/p\/snapshot.bin: sha256 of the data is [0-9a-f]{64}, its manifest says/,
    );
  });

  test.each([
    ['bad magic', () => handMade(Buffer.concat([end(0)]), 1, 'NOTSNAPS'), /bad magic/],
    ['unknown version', () => handMade(end(0), 2), /format version 2, this reader knows 1/],
    ['truncated frame', () => handMade(frame(1, 'key', 'value').subarray(0, 12)), /truncated in entry 0/],
    ['missing end frame', () => handMade(frame(1, 'key', 'value')), /truncated in entry 1/],
    [
      'wrong count',
      () => handMade(Buffer.concat([frame(1, 'a', 'b'), frame(2, 'c', 'd'), end(3)])),
      /end frame counts 3 entries, read 2/,
    ],
    ['bytes after the end', () => handMade(Buffer.concat([end(0), Buffer.from('x')])), /bytes after the end frame/],
    ['unknown kind', () => handMade(Buffer.concat([frame(7, 'a', 'b'), end(1)])), /entry 0: unknown frame kind 7/],
  ])('%s is a CorruptSnapshotError', async (_name, make, message) => {
    const { file, sha256 } = make();
    const err = await collect(readSnapshotFile(file, sha256)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptSnapshotError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(file);
  });

  test('a truncated gzip body (checksum matching the truncated file) is a CorruptSnapshotError', async () => {
    const file = path();
    const entries = Array.from({ length: 500 }, (_, i) => ({
      db: 'main' as const,
      key: Buffer.from(`k${i}`),
      value: Buffer.from(`v${i}`.repeat(20)),
    }));
    await writeSnapshotFile(file, list(entries));
    const cut = readFileSync(file).subarray(0, 200);
    writeFileSync(file, cut);
    const err = await collect(readSnapshotFile(file, sha(cut))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptSnapshotError);
    expect((err as Error).message).toMatch(/does not decompress|truncated/);
  });
});

describe('manifest', () => {
  const good: SnapshotManifest = {
    format: 1,
    id: 'abc123XYZ',
    partition: 7,
    appliedOffset: '18446744073709551615',
    createdAt: '2026-01-02T03:04:05.000Z',
    node: 'worker-1',
    entries: 10,
    sizeBytes: 1234,
    sha256: 'a'.repeat(64),
    durationMs: 5,
  };

  test('parses what it checks, and names the object in its errors', () => {
    expect(parseManifest(JSON.stringify(good), 'm')).toEqual(good);
    const bad = (patch: Record<string, unknown>) => () =>
      parseManifest(JSON.stringify({ ...good, ...patch }), 'obj/manifest.json');
    expect(bad({ format: 2 })).toThrow(/corrupt snapshot obj\/manifest.json: manifest has format 2/);
    expect(bad({ appliedOffset: 5 })).toThrow(/field appliedOffset is 5/);
    expect(bad({ appliedOffset: '18446744073709551616' })).toThrow(/not a u64/);
    expect(bad({ appliedOffset: '007' })).toThrow(/appliedOffset/);
    expect(bad({ partition: 70000 })).toThrow(/field partition/);
    expect(bad({ sha256: 'xyz' })).toThrow(/field sha256/);
    expect(bad({ createdAt: '2026-13-45Tnope' })).toThrow(/createdAt/);
    expect(bad({ id: '../x' })).toThrow(/field id/);
    expect(() => parseManifest('{', 'm')).toThrow(CorruptSnapshotError);
    expect(() => parseManifest('[]', 'm')).toThrow(/not an object/);
  });

  test('retainedFloor: the offset of the oldest of the newest `retain` snapshots', () => {
    const at = (offset: string, createdAt = good.createdAt) => ({ ...good, appliedOffset: offset, createdAt });
    const all = [at('10'), at('300'), at('20'), at('100')];
    expect(retainedFloor(all, 1)).toBe(300n);
    expect(retainedFloor(all, 2)).toBe(100n);
    expect(retainedFloor(all, 3)).toBe(20n);
    expect(retainedFloor(all, 10)).toBe(10n);
    expect(retainedFloor([], 2)).toBeUndefined();
    // Offsets compare as numbers, not strings; beyond 2^53 too.
    expect(retainedFloor([at('9'), at('18446744073709551615'), at('18446744073709551614')], 2)).toBe(
      18446744073709551614n,
    );
    expect(() => retainedFloor(all, 0)).toThrow(RangeError);
  });
});
