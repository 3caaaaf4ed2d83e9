// Runs many seeds of a simulation and reports the failing ones:
//   node libs/testing/src/sim/bin/nightly.ts <module exporting `simulation`>
//   env: SEEDS (default 20000), START (default 1), BUDGET_S (stop starting seeds after this many seconds)
// Packages wire it as `SEEDS=50000 START=1 npm run sim:nightly -w @stead/log`.
import { runNightly } from '../nightly.ts';
import { loadSimulation } from '../simulation.ts';

const sim = await loadSimulation(process.argv[2]);
const env = process.env;
const report = await runNightly(sim, {
  start: Number(env.START ?? 1),
  seeds: Number(env.SEEDS ?? 20_000),
  budgetMs: env.BUDGET_S ? Number(env.BUDGET_S) * 1000 : undefined,
});
console.log(JSON.stringify({ ...report, failed: report.failed.map((f) => f.seed), workspace: sim.workspace }));
if (report.failed.length > 0) {
  console.log(`failing seeds: ${report.failed.map((f) => f.seed).join(' ')}`);
}
process.exit(report.failed.length > 0 ? 1 : 0);
