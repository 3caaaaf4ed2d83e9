// @stead/log/sim: the deterministic simulation of the replicated log (tests and tools only).
import type { Simulation } from '@stead/testing/sim';
import { runLogSimulation } from './log-sim.ts';

export { checkExactlyOnce, runLogSimulation, type SimOptions, type SimResult } from './log-sim.ts';

/** The simulation as the toolkit's seed replayer and nightly runner drive it (`npm run sim:seed -w @stead/log`). */
export const simulation: Simulation = {
  workspace: '@stead/log',
  async run(seed, { trace }) {
    const r = await runLogSimulation(seed, { trace });
    return {
      failure: r.violations.length > 0 ? `(${r.scenario}) ${r.violations.join('; ')}` : undefined,
      summary: { ...r },
    };
  },
};
