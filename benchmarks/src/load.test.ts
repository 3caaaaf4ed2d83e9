import { percentile, summarize } from './load.ts';

describe('percentiles of the benchmark', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);

  it('uses the nearest rank', () => {
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 90)).toBe(90);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarizes a run', () => {
    const s = summarize({ latencies: sorted, errors: 2, seconds: 4 });
    expect(s).toMatchObject({ requests: 100, errors: 2, throughput: 25, p50: 50, p99: 99, max: 100, mean: 50.5 });
  });
});
