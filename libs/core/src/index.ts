export * from './config.ts';
export * from './deployable.ts';
export * from './hash.ts';
export * from './ids.ts';
export * from './invocation.ts';
export * from './invocation-options.ts';
export * from './schema.ts';
