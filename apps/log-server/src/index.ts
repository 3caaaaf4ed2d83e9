export * from './app.ts';
export * from './settings.ts';
