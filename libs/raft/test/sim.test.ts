import { describe, expect, it } from '@jest/globals';
import { runSimulation, SimFailure } from '@stead/raft/sim';

// SIM_SEEDS / SIM_START override the range (the nightly script runs many more).
const seeds = Number(process.env.SIM_SEEDS ?? 2000);
const start = Number(process.env.SIM_START ?? 1);

describe('deterministic simulation', () => {
  it(`${seeds} seeds of 3- and 5-member clusters under faults keep every invariant and stay linearizable`, () => {
    const failures: string[] = [];
    let ops = 0;
    let committed = 0;
    let members3 = 0;
    let promotions = 0;
    let unreachableLearners = 0;
    for (let seed = start; seed < start + seeds; seed++) {
      try {
        const r = runSimulation({ seed, members: seed % 2 === 0 ? 3 : 5, steps: 400 });
        ops += r.okOps;
        committed += r.committed;
        promotions += r.promotions;
        unreachableLearners += r.unreachableLearners;
        if (seed % 2 === 0) members3++;
      } catch (e) {
        failures.push(e instanceof SimFailure ? e.message : `seed ${seed}: ${String(e)}`);
        if (failures.length >= 3) break;
      }
    }
    if (failures.length > 0) console.error(failures.join('\n\n'));
    expect(failures).toEqual([]);
    expect(members3).toBeGreaterThan(0);
    expect(ops).toBeGreaterThan(seeds * 10);
    expect(committed).toBeGreaterThan(seeds * 20);
    // Membership changes exercised learners: some caught up and were promoted, some were never reachable.
    expect(promotions).toBeGreaterThan(seeds / 10);
    expect(unreachableLearners).toBeGreaterThan(seeds / 100);
  }, 240_000);

  it('reproduces a run exactly from its seed', () => {
    expect(runSimulation({ seed: 7 })).toEqual(runSimulation({ seed: 7 }));
  });

  it('catches a deliberately broken node (vote not persisted) and names the seed', () => {
    const caught: number[] = [];
    for (let seed = 1; seed <= 1200 && caught.length === 0; seed++) {
      try {
        runSimulation({ seed, bug: 'forget-vote' });
      } catch (e) {
        expect(e).toBeInstanceOf(SimFailure);
        expect((e as SimFailure).message).toMatch(/election safety|log matching|state machine safety|linearizable/);
        caught.push((e as SimFailure).seed);
      }
    }
    expect(caught.length).toBe(1);
    expect(() => runSimulation({ seed: caught[0], bug: 'forget-vote' })).toThrow(`seed ${caught[0]}`);
  }, 120_000);

  it('catches an operator that promotes learners before they catch up (an unreachable one becomes a voter)', () => {
    let caught: SimFailure | undefined;
    for (let seed = 1; seed <= 400 && !caught; seed++) {
      try {
        runSimulation({ seed, bug: 'promote-at-once' });
      } catch (e) {
        expect(e).toBeInstanceOf(SimFailure);
        caught = e as SimFailure;
      }
    }
    expect(caught?.message).toMatch(/unreachable learner n\d+ became a voter/);
  }, 60_000);
});
