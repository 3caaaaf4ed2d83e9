export * from './engine.ts';
export { type EpochSource, epochKey, fixPartitionCount, metadataEpochs, PartitionCountMismatch } from './epochs.ts';
export * from './invoker-driver.ts';
export * as journal from './journal.ts';
export * from './leader.ts';
export * from './processor.ts';
export * from './state-machine.ts';
export * from './types.ts';
