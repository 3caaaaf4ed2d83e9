// The admin app is run through src/main.ts; the one-process server starts it in its own process when it grows
// into a cluster.
export { startAdmin } from './app.ts';
export { parseConfigPatch } from './operations.ts';
export { type AdminSettings, adminSettings } from './settings.ts';
export { mountSnapshotRoutes, renderSnapshot } from './snapshots.ts';
