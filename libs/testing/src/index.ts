export * from './disk-faults.ts';
export * from './process.ts';
export * from './servers.ts';
