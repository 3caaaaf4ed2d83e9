// Nightly simulation run: `SEEDS=100000 START=1 STEPS=800 npm run sim:nightly -w @stead/raft`.
// Prints progress and every failing seed; exits non-zero when any seed fails.
import { runSimulation, SimFailure } from './sim.ts';

const seeds = Number(process.env.SEEDS ?? 20000);
const start = Number(process.env.START ?? 1);
const steps = Number(process.env.STEPS ?? 800);
const t0 = performance.now();
const failed: number[] = [];
let ops = 0;
for (let seed = start; seed < start + seeds; seed++) {
  try {
    ops += runSimulation({ seed, steps }).okOps;
  } catch (e) {
    failed.push(seed);
    console.error(e instanceof SimFailure ? e.message : `seed ${seed}: ${String(e)}`);
  }
  if ((seed - start + 1) % 1000 === 0) {
    console.log(
      `${seed - start + 1}/${seeds} seeds, ${failed.length} failed, ${((performance.now() - t0) / 1000).toFixed(0)}s`,
    );
  }
}
console.log(
  JSON.stringify({ seeds, start, steps, failed, okOps: ops, seconds: Math.round((performance.now() - t0) / 1000) }),
);
process.exit(failed.length > 0 ? 1 : 0);
