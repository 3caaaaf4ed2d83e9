// @stead/raft/sim: the deterministic cluster simulation and the linearizability checker (tests and tools only).
import type { SeedOutcome, Simulation } from '@stead/testing/sim';
import { runSimulation, SimFailure } from './sim.ts';

export {
  type CheckResult,
  checkLinearizable,
  HistoryRecorder,
  type KvInput,
  type KvOutput,
  kvModel,
  type Model,
  type Operation,
  type Precondition,
} from '../linearizability.ts';
export { runSimulation, SimFailure, type SimOptions, type SimResult } from './sim.ts';

/**
 * The simulation as the toolkit's seed replayer and nightly runner drive it (`npm run sim:seed -w @stead/raft`,
 * `npm run sim:nightly -w @stead/raft`). `STEPS` in the environment sets the fault steps (default 800), the
 * same for the nightly run and the replay, so that a failing nightly seed replays as it failed.
 */
export const simulation: Simulation = {
  workspace: '@stead/raft',
  run(seed, { trace }): SeedOutcome {
    const steps = Number(process.env.STEPS ?? 800);
    try {
      return { summary: { ...runSimulation({ seed, steps, trace: trace !== undefined }) } };
    } catch (e) {
      if (!(e instanceof SimFailure)) throw e;
      if (trace) for (const line of e.trace) trace(line);
      return { failure: e.message, summary: { seed, step: e.step } };
    }
  },
};
