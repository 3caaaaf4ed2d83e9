import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskUsage, pathBytes, plateau } from './disk.ts';

describe('bytes on disk of data dirs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stead-disk-test-'));
    mkdirSync(join(dir, 'a/partitions/ordered'), { recursive: true });
    writeFileSync(join(dir, 'a/partitions/ordered/000001.ldb'), Buffer.alloc(1000));
    writeFileSync(join(dir, 'a/partitions/CURRENT'), Buffer.alloc(16));
    mkdirSync(join(dir, 'a/log'));
    writeFileSync(join(dir, 'a/log/000002.log'), Buffer.alloc(300));
    writeFileSync(join(dir, 'a/schema.json'), Buffer.alloc(7));
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'b/x'), Buffer.alloc(50));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sums the files under a path, and counts a missing path as 0', async () => {
    expect(await pathBytes(join(dir, 'a'))).toBe(1323);
    expect(await pathBytes(join(dir, 'a/schema.json'))).toBe(7);
    expect(await pathBytes(join(dir, 'gone'))).toBe(0);
  });

  it('splits a dir by its top-level entries, or sums dirs per part', async () => {
    expect(await diskUsage([{ part: '', dir: join(dir, 'a'), split: true }])).toEqual({
      log: 300,
      partitions: 1016,
      'schema.json': 7,
    });
    expect(
      await diskUsage([
        { part: 'worker', dir: join(dir, 'a') },
        { part: 'worker', dir: join(dir, 'b') },
        { part: 'log-server', dir: join(dir, 'not-yet') },
      ]),
    ).toEqual({ worker: 1373, 'log-server': 0 });
    expect(await diskUsage([{ part: '', dir: join(dir, 'not-yet'), split: true }])).toEqual({});
  });
});

describe('plateau verdict', () => {
  const MiB = 2 ** 20;
  const run = (sizesMiB: number[]) => sizesMiB.map((m, i) => ({ atS: (i + 1) * 20, diskBytes: m * MiB }));

  it('compares the end with the midpoint', () => {
    // 6 samples over 120 s: the midpoint is the sample at 60 s.
    const flat = plateau(run([10, 40, 60, 62, 65, 66]), 120)!;
    expect(flat).toMatchObject({ midS: 60, endS: 120, midBytes: 60 * MiB, endBytes: 66 * MiB, plateau: true });
    expect(flat.growthShare).toBeCloseTo(0.1);
    expect(plateau(run([10, 40, 60, 70, 80, 90]), 120)).toMatchObject({ plateau: false, growthBytes: 30 * MiB });
  });

  it('calls growth below the absolute floor a plateau, and needs two sizes', () => {
    expect(plateau(run([1, 2, 3, 4, 5, 7]), 120)).toMatchObject({ plateau: true });
    expect(plateau(run([1, 2, 3, 4, 5, 9]), 120)).toMatchObject({ plateau: false });
    expect(plateau(run([5]), 20)).toBeUndefined();
    expect(plateau([{ atS: 20, diskBytes: Number.NaN }, ...run([5])], 40)).toBeUndefined();
  });
});
