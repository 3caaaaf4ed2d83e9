// The worker app is run through src/main.ts; the one-process server starts it in its own process when it grows
// into a cluster.
export { startWorker } from './app.ts';
export { type WorkerSettings, workerSettings } from './settings.ts';
