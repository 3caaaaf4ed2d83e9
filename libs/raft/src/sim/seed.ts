// Replays one seed with a trace: `SEED=1234 npm run sim:seed -w @stead/raft`.
import { runSimulation, SimFailure } from './sim.ts';

const seed = Number(process.env.SEED ?? process.argv[2]);
const steps = process.env.STEPS ? Number(process.env.STEPS) : undefined;
try {
  console.log(JSON.stringify(runSimulation({ seed, steps, trace: true })));
} catch (e) {
  if (!(e instanceof SimFailure)) throw e;
  console.log(e.trace.join('\n'));
  console.error(e.message);
  process.exit(1);
}
