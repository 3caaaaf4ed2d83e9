// Builds the web UI (apps/ui) into apps/ui/dist, which is committed so that `npm start` serves the UI from a fresh
// clone without a build step. `--check` builds into a temp dir and fails when the committed build differs (a
// source changed without `npm run ui:build`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const app = join(root, 'apps/ui');
const committed = join(app, 'dist');
const check = process.argv.includes('--check');

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** Vite's command line as installed for apps/ui (wherever npm placed it). */
const viteBin = join(dirname(createRequire(join(app, 'package.json')).resolve('vite/package.json')), 'bin/vite.js');

function build(outDir: string): void {
  execFileSync(process.execPath, [viteBin, 'build', '--outDir', outDir, '--emptyOutDir'], {
    cwd: app,
    stdio: 'inherit',
  });
}

/** The files that differ between two builds (present in one only, or with other bytes). */
function differences(a: string, b: string): string[] {
  const names = new Set([...walk(a).map((p) => relative(a, p)), ...walk(b).map((p) => relative(b, p))]);
  return [...names].sort().filter((f) => {
    const x = existsSync(join(a, f)) ? readFileSync(join(a, f)) : undefined;
    const y = existsSync(join(b, f)) ? readFileSync(join(b, f)) : undefined;
    return x === undefined || y === undefined || !x.equals(y);
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
