import { partitionKeyOf, partitionOf } from '../src/index.ts';

describe('partition keys', () => {
  it('is stable and spreads keys over all partitions', () => {
    expect(partitionKeyOf('abc')).toBe(partitionKeyOf('abc'));
    expect(partitionKeyOf('abc')).not.toBe(partitionKeyOf('abd'));
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(partitionOf(partitionKeyOf(`k${i}`), 8));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
  it('maps the extremes of the key space', () => {
    expect(partitionOf(0n, 8)).toBe(0);
    expect(partitionOf((1n << 64n) - 1n, 8)).toBe(7);
    expect(() => partitionOf(1n, 0)).toThrow(RangeError);
  });
});
