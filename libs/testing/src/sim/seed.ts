import type { SeedOutcome, Simulation } from './simulation.ts';

/** The seed from `--seed N`, `--seed=N`, a bare `N`, or `SEED` in the environment; throws when none is an integer. */
export function parseSeed(args: readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  let raw: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--seed') raw = args[++i];
    else if (a.startsWith('--seed=')) raw = a.slice('--seed='.length);
    else if (/^-?\d+$/.test(a)) raw = a;
  }
  raw ??= env.SEED;
  const seed = Number(raw);
  if (raw === undefined || raw === '' || !Number.isSafeInteger(seed)) {
    throw new Error(`no seed: pass --seed N (or N, or SEED=N); got ${JSON.stringify(raw)}`);
  }
  return seed;
}

/** Runs one seed, printing its trace and outcome; resolves with the outcome. */
export async function replaySeed(
  sim: Simulation,
  seed: number,
  print: (line: string) => void = console.log,
): Promise<SeedOutcome> {
  const outcome = await sim.run(seed, { trace: print });
  print(JSON.stringify({ seed, ...outcome.summary }, null, 2));
  if (outcome.failure) print(`seed ${seed} FAILED: ${outcome.failure}`);
  return outcome;
}
