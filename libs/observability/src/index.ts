export * from './logging.ts';
export * from './metrics.ts';
