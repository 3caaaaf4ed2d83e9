import { checkExactlyOnce, runLogSimulation } from '@stead/log/sim';
import { Quorum } from '../src/replicated/quorum.ts';

// Deterministic simulation of sequencers + log servers + seal/reconfigure (see src/sim/log-sim.ts for the faults
// and the checks). LOG_SIM_SEEDS / LOG_SIM_START override the range; `npm run sim:nightly -w @stead/log` runs more.
const SEEDS = Number(process.env.LOG_SIM_SEEDS ?? 2000);
const START = Number(process.env.LOG_SIM_START ?? 1);

describe('replicated log simulation', () => {
  test(`${SEEDS} seeds: acknowledged appends survive crashes, loss, partitions and reconfigurations`, async () => {
    const failures: string[] = [];
    let acked = 0;
    let reconfigurations = 0;
    let zoneRuns = 0;
    let copiesDropped = 0;
    for (let seed = START; seed < START + SEEDS; seed++) {
      const r = await runLogSimulation(seed);
      acked += r.acked;
      reconfigurations += r.reconfigurations;
      copiesDropped += r.copiesDropped;
      if (r.scenario.includes('zone')) zoneRuns++;
      if (r.violations.length > 0)
        failures.push(
          `seed ${seed} (${r.scenario}): ${r.violations.slice(0, 3).join('; ')} — reproduce: npm run sim:seed -w @stead/log -- ${seed}`,
        );
    }
    expect(failures).toEqual([]);
    // The runs did real work: appends were acknowledged and the log moved across segments many times.
    expect(acked).toBeGreaterThan(SEEDS * 10);
    expect(reconfigurations).toBeGreaterThan(SEEDS / 2);
    expect(zoneRuns).toBeGreaterThan(0);
    // Retried calls did leave second copies, which the exactly-once check saw dropped.
    expect(copiesDropped).toBeGreaterThan(0);
  }, 600_000);

  test('without call numbering, the producer-order check fails when a client pipelines calls (a retried call lands after a later one)', async () => {
    const broken: string[] = [];
    for (let seed = 1; seed <= 400 && broken.length === 0; seed++) {
      const r = await runLogSimulation(seed, { maxInflightAppends: 4, numbering: false });
      broken.push(...r.violations.filter((v) => v.includes('issued after it, landed first')));
    }
    expect(broken[0]).toMatch(/^c\d+:\d+ was acknowledged, but c\d+:\d+, issued after it, landed first/);
  }, 300_000);

  test('without call numbering, the exactly-once check fails when a client pipelines calls (the retried append is dropped as a duplicate)', async () => {
    const broken: string[] = [];
    for (let seed = 1; seed <= 400 && broken.length === 0; seed++) {
      const r = await runLogSimulation(seed, { maxInflightAppends: 4, numbering: false });
      broken.push(...r.violations.filter((v) => v.includes('dropped by the deduplicating reader')));
    }
    expect(broken[0]).toMatch(/^acknowledged c\d+:\d+:\d+ is dropped by the deduplicating reader/);
  }, 300_000);

  test('the exactly-once check itself: copies are applied once, an overtaken acknowledged record is reported', () => {
    const acks = [
      { client: 0, payloads: ['c0:0:0', 'c0:0:1'] },
      { client: 0, payloads: ['c0:1:0'] },
    ];
    // A retried call left a second copy of both appends: each is applied once.
    expect(checkExactlyOnce(['c0:0:0', 'c0:0:1', 'c0:1:0', 'c0:0:0', 'c0:0:1', 'c0:1:0'], acks)).toEqual({
      violations: [],
      copiesDropped: 3,
    });
    // The first append's only copy landed after the second: the reader drops it.
    expect(checkExactlyOnce(['c0:1:0', 'c0:0:0', 'c0:0:1'], acks).violations).toEqual([
      'acknowledged c0:0:0 is dropped by the deduplicating reader (a later one landed first)',
      'acknowledged c0:0:1 is dropped by the deduplicating reader (a later one landed first)',
    ]);
  });

  test('a seed reproduces exactly', async () => {
    const a = await runLogSimulation(4242);
    const b = await runLogSimulation(4242);
    expect(b).toEqual(a);
  });
});

describe('quorum arithmetic', () => {
  const nodes = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `n${i + 1}` }));

  test('node scope: write quorum R, f-majority N-R+1', () => {
    const q = new Quorum(nodes(5), { scope: 'node', count: 2 });
    expect(q.isWriteQuorum(['n1'])).toBe(false);
    expect(q.isWriteQuorum(['n1', 'n4'])).toBe(true);
    expect(q.isFMajority(['n1', 'n2', 'n3'])).toBe(false);
    expect(q.isFMajority(['n1', 'n2', 'n3', 'n4'])).toBe(true);
  });

  test('zone scope: copies in distinct zones; f-majority leaves fewer than R zones outside', () => {
    const ns = [
      { id: 'a1', zone: 'a' },
      { id: 'a2', zone: 'a' },
      { id: 'b1', zone: 'b' },
      { id: 'b2', zone: 'b' },
      { id: 'c1', zone: 'c' },
    ];
    const q = new Quorum(ns, { scope: 'zone', count: 2 });
    expect(q.isWriteQuorum(['a1', 'a2'])).toBe(false);
    expect(q.isWriteQuorum(['a1', 'c1'])).toBe(true);
    // Outside = b1, b2, c1 spans two zones: not an f-majority.
    expect(q.isFMajority(['a1', 'a2'])).toBe(false);
    // Outside = b2, c1... spans two zones still.
    expect(q.isFMajority(['a1', 'a2', 'b1'])).toBe(false);
    // Outside = c1 only: one zone.
    expect(q.isFMajority(['a1', 'a2', 'b1', 'b2'])).toBe(true);
    const picked = q.pickCopyset(0, () => true);
    expect(new Set(picked.map((id) => q.zoneOf(id))).size).toBe(2);
  });

  test('impossible replication is refused with the reason', () => {
    expect(() => new Quorum(nodes(2), { scope: 'node', count: 3 })).toThrow(/needs 3 nodes, the nodeset has 2/);
    expect(() => new Quorum(nodes(3), { scope: 'node', count: 0 })).toThrow(/positive integer/);
    expect(() => new Quorum([{ id: 'x' }, { id: 'x' }], { scope: 'node', count: 1 })).toThrow(/twice/);
  });
});
