// The simulation toolkit shared by every deterministic simulation (raft, log, …): see ../../README.md.
export { type Clock, SimClock, type SimTimer, type Timers } from './clock.ts';
export {
  SimMetadataClient,
  SimMetadataStore,
  type SimMetadataStoreOptions,
  type SimMetadataWrite,
} from './metadata.ts';
export { SimNetwork, type SimNetworkOptions } from './network.ts';
export { type NightlyOptions, type NightlyReport, runNightly } from './nightly.ts';
export { Prng } from './prng.ts';
export { parseSeed, replaySeed } from './seed.ts';
export { replayCommand, type SeedOutcome, type Simulation } from './simulation.ts';
