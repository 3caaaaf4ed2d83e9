export * from './linearizability.ts';
export * from './raft.ts';
export { Prng } from './sim/prng.ts';
export { runSimulation, SimFailure, type SimOptions, type SimResult } from './sim/sim.ts';
export * from './types.ts';
