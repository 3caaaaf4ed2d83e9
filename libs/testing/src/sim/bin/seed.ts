// Replays one seed of a simulation with a trace:
//   node libs/testing/src/sim/bin/seed.ts <module exporting `simulation`> [--seed N | N]   (or SEED=N in the env)
// Packages wire it as `npm run sim:seed -w @stead/raft -- 1234`.
import { parseSeed, replaySeed } from '../seed.ts';
import { loadSimulation } from '../simulation.ts';

const [module, ...rest] = process.argv.slice(2);
let seed: number;
try {
  seed = parseSeed(rest);
} catch (e) {
  console.error(`${(e as Error).message}\nusage: node seed.ts <sim module> --seed N`);
  process.exit(2);
}
const outcome = await replaySeed(await loadSimulation(module), seed);
process.exit(outcome.failure ? 1 : 0);
