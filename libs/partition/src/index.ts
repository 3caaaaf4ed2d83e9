/**
 * @stead/partition — a partition's log, the state machine that applies it, and the leader and invoker that
 * carry out its effects; `Engine` wires N of them in one process (see README.md). The public surface is what
 * the server needs, plus the Clock and Timers a simulation implements to drive the engine in virtual time.
 */
export { type Clock, systemClock, systemTimers, type TimerHandle, type Timers } from './clock.ts';
export { Engine, type EngineOptions } from './engine.ts';
export { type EpochSource, fixPartitionCount, metadataEpochs, PartitionCountMismatch } from './epochs.ts';
