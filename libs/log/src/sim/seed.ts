// Replays one seed of the replicated-log simulation with a trace: `npm run sim:seed -w @stead/log -- 1234`.
import { runLogSimulation } from './log-sim.ts';

const seed = Number(process.argv[2]);
if (!Number.isInteger(seed)) {
  console.error('usage: npm run sim:seed -w @stead/log -- <seed>');
  process.exit(2);
}
const r = await runLogSimulation(seed, { trace: (line) => console.log(line) });
console.log(JSON.stringify({ ...r }, null, 2));
process.exit(r.violations.length > 0 ? 1 : 0);
