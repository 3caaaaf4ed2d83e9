/**
 * @stead/ui: the web UI (Preact, built by Vite). Its production build is committed in dist/ so that a fresh clone
 * serves it without a build step; `npm run ui:build` rebuilds it and `npm run ui:check` fails when it is stale.
 * The admin server serves this directory under /ui (`uiDir` of startAdminServer).
 */
import { fileURLToPath } from 'node:url';

/** The built UI: index.html and hashed assets. */
export const UI_DIST_DIR = fileURLToPath(new URL('./dist', import.meta.url));
