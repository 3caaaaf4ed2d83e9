export * from './config.ts';
export * from './cors.ts';
export * from './deployable.ts';
export * from './hash.ts';
export * from './http-idle.ts';
export * from './ids.ts';
export * from './invocation.ts';
export * from './schema.ts';
