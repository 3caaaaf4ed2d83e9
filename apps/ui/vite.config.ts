// The web UI's build: one hashed script and stylesheet under dist/assets, loaded from /ui/ (where the admin API
// serves dist/). The output is committed; `npm run ui:check` rebuilds it and compares, so it must not depend on
// the machine (no source maps, no absolute paths, no timestamps).
//
// `npx vite` in apps/ui serves the sources with live reload and proxies the admin API to STEAD_ADMIN_URL
// (default http://127.0.0.1:9070).
import { defineConfig } from 'vite';

const admin = process.env.STEAD_ADMIN_URL ?? 'http://127.0.0.1:9070';

export default defineConfig({
  base: '/ui/',
  root: import.meta.dirname,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    proxy: Object.fromEntries(
      ['/query', '/services', '/deployments', '/invocations', '/version', '/health'].map((p) => [p, admin]),
    ),
  },
});
