import { planTrims, type ReplicaReport, safeTrimPoint, type TrimHistory } from '../src/index.ts';

type Reports = Map<string, Map<number, ReplicaReport>>;

function reports(entries: Record<string, Record<number, ReplicaReport>>): Reports {
  return new Map(
    Object.entries(entries).map(([node, ps]) => [node, new Map(Object.entries(ps).map(([p, r]) => [Number(p), r]))]),
  );
}

const p0 = { partition: 0, replicas: ['w1', 'w2'], trimPoint: 0n };

describe('safeTrimPoint', () => {
  it('without snapshots, is the lowest stored offset of every replica, a silent one counting as nothing', () => {
    const both = reports({ w1: { 0: { durableOffset: 99n } }, w2: { 0: { durableOffset: 49n } } });
    expect(safeTrimPoint(p0, both)).toEqual({ safe: 50n, limit: 'replicas' });
    const oneSilent = reports({ w1: { 0: { durableOffset: 99n } } });
    expect(safeTrimPoint(p0, oneSilent)).toEqual({ safe: 0n, limit: 'replicas' });
  });

  it('with snapshots, is just above the oldest kept snapshot, whatever silent replicas stored', () => {
    const r = reports({ w1: { 0: { durableOffset: 500n, archivedOffset: 299n } } });
    expect(safeTrimPoint(p0, r)).toEqual({ safe: 300n, limit: 'snapshots', archived: 299n });
  });

  it('with snapshots, keeps what a live replica has not stored yet', () => {
    const r = reports({
      w1: { 0: { durableOffset: 500n, archivedOffset: 299n } },
      w2: { 0: { durableOffset: 199n } },
    });
    expect(safeTrimPoint(p0, r)).toEqual({ safe: 200n, limit: 'replicas', archived: 299n });
  });

  it('with snapshots but none archived yet, trims nothing (whatever the replicas stored)', () => {
    const r = reports({ w1: { 0: { durableOffset: 500n, archivedOffset: -1n } }, w2: { 0: { durableOffset: 500n } } });
    expect(safeTrimPoint(p0, r)).toEqual({ safe: 0n, limit: 'snapshots', archived: -1n });
  });

  it('takes the newest archived offset any replica reports (a new leader may not have listed them yet)', () => {
    const r = reports({
      w1: { 0: { durableOffset: 900n, archivedOffset: 299n } },
      w2: { 0: { durableOffset: 900n, archivedOffset: 599n } },
    });
    expect(safeTrimPoint(p0, r).safe).toBe(600n);
  });

  it('is 0 for a partition without replicas', () => {
    expect(safeTrimPoint({ partition: 3, replicas: [], trimPoint: 0n }, new Map())).toEqual({
      safe: 0n,
      limit: 'unknown',
    });
  });
});

describe('planTrims', () => {
  const r = (durable: bigint, archived?: bigint) =>
    reports({
      w1: { 0: { durableOffset: durable, ...(archived === undefined ? {} : { archivedOffset: archived }) } },
      w2: { 0: { durableOffset: durable } },
    });

  it('without snapshots, trims nothing unless asked to trim below what every replica synced', () => {
    const plan = (trimWithoutSnapshots?: boolean) =>
      planTrims({
        nowMs: 0,
        trimDelayMs: 0,
        partitions: [p0],
        reports: r(99n),
        history: new Map(),
        trimWithoutSnapshots,
      });
    expect(plan().trims).toEqual([]);
    expect(plan().safe).toEqual([{ partition: 0, safe: 0n, limit: 'no-snapshots' }]);
    expect(plan(true).trims).toEqual([{ partition: 0, upTo: 100n }]);
  });

  it('trims a point only once it has been safe for the delay', () => {
    const history: TrimHistory = new Map();
    const round = (nowMs: number, reps: Reports, trimPoint = 0n) =>
      planTrims({
        nowMs,
        trimDelayMs: 1000,
        partitions: [{ ...p0, trimPoint }],
        reports: reps,
        history,
        trimWithoutSnapshots: true,
      }).trims;
    expect(round(0, r(99n))).toEqual([]);
    expect(round(500, r(199n))).toEqual([]);
    expect(round(1000, r(199n))).toEqual([{ partition: 0, upTo: 100n }]);
    expect(round(1500, r(299n), 100n)).toEqual([{ partition: 0, upTo: 200n }]);
    // Already trimmed there: nothing more until the next point has waited its delay.
    expect(round(1600, r(299n), 200n)).toEqual([]);
    expect(round(2500, r(299n), 200n)).toEqual([{ partition: 0, upTo: 300n }]);
  });

  it('never trims above what is safe now, even a point that was safe long enough', () => {
    const history: TrimHistory = new Map();
    const partitions = [p0];
    planTrims({ nowMs: 0, trimDelayMs: 1000, partitions, reports: r(999n), history, trimWithoutSnapshots: true });
    // A replica fell back (wiped, restoring): only what it has counts.
    const plan = planTrims({
      nowMs: 2000,
      trimDelayMs: 1000,
      partitions,
      reports: r(99n),
      history,
      trimWithoutSnapshots: true,
    });
    expect(plan.trims).toEqual([{ partition: 0, upTo: 100n }]);
    expect(plan.safe).toEqual([{ partition: 0, safe: 100n, limit: 'replicas' }]);
  });

  it('with no delay trims at once, and never below the current trim point', () => {
    const history: TrimHistory = new Map();
    const plan = (trimPoint: bigint) =>
      planTrims({ nowMs: 0, trimDelayMs: 0, partitions: [{ ...p0, trimPoint }], reports: r(9n, 4n), history }).trims;
    expect(plan(0n)).toEqual([{ partition: 0, upTo: 5n }]);
    expect(plan(5n)).toEqual([]);
    expect(plan(7n)).toEqual([]);
  });

  it('forgets the history of partitions no longer planned', () => {
    const history: TrimHistory = new Map();
    planTrims({ nowMs: 0, trimDelayMs: 1000, partitions: [p0], reports: r(9n), history });
    expect(history.has(0)).toBe(true);
    planTrims({ nowMs: 1, trimDelayMs: 1000, partitions: [], reports: r(9n), history });
    expect(history.size).toBe(0);
  });
});
