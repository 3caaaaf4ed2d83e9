import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { StorageEngine } from '../src/store.ts';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'stead-store-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('reads see unflushed writes, commits persist them with the applied offset, partitions are separate', async () => {
  const dir = temp();
  let engine = await StorageEngine.open(dir);
  const a = engine.partition(0);
  const b = engine.partition(1);
  a.put('x', { n: 1 });
  a.put('j/1/00', 'e0');
  a.put('j/1/01', 'e1');
  b.put('x', 'other');
  expect(await a.get('x')).toEqual({ n: 1 });
  await a.commit(10n);
  await b.commit(3n);
  a.put('j/1/02', 'e2');
  a.del('j/1/00');
  expect((await a.scan('j/1/')).map(([k]) => k)).toEqual(['j/1/01', 'j/1/02']);
  await a.commit(11n);
  await engine.close();

  engine = await StorageEngine.open(dir);
  const a2 = engine.partition(0);
  expect(await a2.get('x')).toEqual({ n: 1 });
  expect(await engine.partition(1).get('x')).toBe('other');
  expect(await a2.appliedOffset()).toBe(11n);
  await a2.delPrefix('j/1/');
  await a2.commit(12n);
  expect(await a2.scan('j/')).toEqual([]);
  await engine.close();
});

test('the read cache stays coherent with writes and deletes, and is bounded', async () => {
  const engine = await StorageEngine.open(temp());
  const s = engine.partition(0);
  expect(await s.get('k')).toBeUndefined(); // cached as absent
  s.put('k', 1);
  expect(await s.get('k')).toBe(1);
  await s.commit(1n);
  expect(await s.get('k')).toBe(1);
  s.del('k');
  expect(await s.get('k')).toBeUndefined();
  await s.commit(2n);
  expect(await s.get('k')).toBeUndefined();
  s.put('k', 2);
  await s.commit(3n);
  expect(await s.get('k')).toBe(2);
  // Many more values than the cache holds: every read still answers from LevelDB correctly.
  const big = 'v'.repeat(64 * 1024);
  for (let i = 0; i < 800; i++) s.put(`big/${i}`, `${i}:${big}`);
  await s.commit(4n);
  for (const i of [0, 1, 399, 799]) expect(((await s.get<string>(`big/${i}`)) ?? '').startsWith(`${i}:`)).toBe(true);
  await engine.close();
});
