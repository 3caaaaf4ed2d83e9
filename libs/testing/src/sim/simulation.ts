import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** What one seed of a simulation did: a failure message if it broke a property, and numbers worth printing. */
export interface SeedOutcome {
  readonly failure?: string;
  readonly summary: Record<string, unknown>;
}

/**
 * A simulation the seed replayer and the nightly runner can drive. A package's sim entry exports one as
 * `simulation`; `run` must depend on the seed only.
 */
export interface Simulation {
  /** The npm workspace whose `sim:seed` script replays a seed, e.g. `@stead/raft`. */
  readonly workspace: string;
  run(seed: number, opts: { readonly trace?: (line: string) => void }): SeedOutcome | Promise<SeedOutcome>;
}

/** The command line that replays one seed with a trace. */
export function replayCommand(sim: Simulation, seed: number): string {
  return `npm run sim:seed -w ${sim.workspace} -- ${seed}`;
}

/** Loads the `simulation` export of a module given by path (relative to the working directory) or URL. */
export async function loadSimulation(module: string | undefined): Promise<Simulation> {
  if (!module) throw new Error('name the module that exports `simulation` as the first argument');
  const url = /^[a-z]+:/.test(module) ? module : pathToFileURL(resolve(module)).href;
  const mod = (await import(url)) as { simulation?: Simulation };
  if (!mod.simulation) throw new Error(`${module} does not export \`simulation\``);
  return mod.simulation;
}
