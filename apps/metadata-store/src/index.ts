export * from './app.ts';
export * from './metrics.ts';
export * from './settings.ts';
