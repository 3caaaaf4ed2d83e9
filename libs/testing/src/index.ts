export * from './process.ts';
export * from './servers.ts';
