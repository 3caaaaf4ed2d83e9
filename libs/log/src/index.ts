export * from './local/local-log-store.ts';
export * from './types.ts';
