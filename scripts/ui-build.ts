// Builds the web UI (apps/ui) into apps/ui/dist, which is committed so that `npm start` serves the UI from a fresh
// clone without a build step. `--check` builds into a temp dir and fails when the committed build differs (a
// source changed without `npm run ui:build`).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { differences, walk } from './committed-build.ts';

const root = new URL('..', import.meta.url).pathname;
const app = join(root, 'apps/ui');
const committed = join(app, 'dist');
const check = process.argv.includes('--check');

/** Vite's command line as installed for apps/ui (wherever npm placed it). */
const viteBin = join(dirname(createRequire(join(app, 'package.json')).resolve('vite/package.json')), 'bin/vite.js');

function build(outDir: string): void {
  execFileSync(process.execPath, [viteBin, 'build', '--outDir', outDir, '--emptyOutDir'], {
    cwd: app,
    stdio: 'inherit',
  });
}

if (check) {
  const out = mkdtempSync(join(tmpdir(), 'stead-ui-'));
  try {
    build(out);
    const stale = differences(committed, out);
    if (stale.length > 0) {
      console.error(`the committed web UI build (apps/ui/dist) is stale (run npm run ui:build): ${stale.join(', ')}`);
      // Not process.exit: the temp dir is removed below first.
      process.exitCode = 1;
    } else console.log(`ui: ${walk(out).length} built files, apps/ui/dist up to date`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
} else {
  build(committed);
  console.log(`ui: built ${walk(committed).length} files into apps/ui/dist`);
}
