export * from './engine.ts';
export * from './invoker-driver.ts';
export * as journal from './journal.ts';
export * from './leader.ts';
export * from './processor.ts';
export * from './state-machine.ts';
export * from './types.ts';
