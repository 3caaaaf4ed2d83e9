// Runs many seeds of the replicated-log simulation: `SEEDS=50000 START=1 npm run sim:nightly -w @stead/log`.
import { runLogSimulation } from './log-sim.ts';

const seeds = Number(process.env.SEEDS ?? 20_000);
const start = Number(process.env.START ?? 1);
const t0 = Date.now();
let failed = 0;
for (let seed = start; seed < start + seeds; seed++) {
  const r = await runLogSimulation(seed);
  if (r.violations.length > 0) {
    failed++;
    console.log(`seed ${seed} FAILED (${r.scenario}): ${r.violations.join('; ')}`);
  }
  if ((seed - start + 1) % 1000 === 0)
    console.log(`${seed - start + 1}/${seeds} seeds, ${failed} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
console.log(`log simulation: ${seeds} seeds from ${start}, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
