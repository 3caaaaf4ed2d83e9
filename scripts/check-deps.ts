// Checks that every workspace package declares the @stead/* packages it imports: those imported from its
// sources (src/, or the package's own top-level scripts) in "dependencies", those imported only from its tests
// in "dependencies" or "devDependencies". Prints each missing declaration and exits 1 when there is one.
//
//   node scripts/check-deps.ts
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  workspaces?: string[];
}

function readJson(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

/** The workspace package directories named by the root package.json (`dir/*` or `dir` patterns). */
function workspaceDirs(): string[] {
  const dirs: string[] = [];
  for (const pattern of readJson(join(ROOT, 'package.json')).workspaces ?? []) {
    if (!pattern.endsWith('/*')) {
      dirs.push(join(ROOT, pattern));
      continue;
    }
    const parent = join(ROOT, pattern.slice(0, -2));
    for (const name of readdirSync(parent)) {
      const dir = join(parent, name);
      if (statSync(dir).isDirectory() && statSync(join(dir, 'package.json'), { throwIfNoEntry: false })) dirs.push(dir);
    }
  }
  return dirs;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'gen' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry.name)) out.push(path);
  }
  return out;
}

const IMPORT = /(?:from|import)\s*\(?\s*['"](@stead\/[a-z0-9-]+)(?:\/[^'"]*)?['"]/g;

function isTest(file: string, pkgDir: string): boolean {
  const rel = relative(pkgDir, file);
  return /(^|\/)(test|tests|__tests__)\//.test(rel) || /\.test\.[mc]?[jt]s$/.test(rel);
}

const problems: string[] = [];
for (const dir of workspaceDirs()) {
  const manifest = readJson(join(dir, 'package.json'));
  const deps = new Set(Object.keys(manifest.dependencies ?? {}));
  const devDeps = new Set(Object.keys(manifest.devDependencies ?? {}));
  const missing = new Map<string, string>();
  for (const file of tsFiles(dir)) {
    const test = isTest(file, dir);
    for (const [, name] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      if (name === manifest.name || missing.has(name)) continue;
      const declared = deps.has(name) || (test && devDeps.has(name));
      if (!declared) {
        const where = test ? 'dependencies or devDependencies' : 'dependencies';
        missing.set(
          name,
          `${relative(ROOT, dir)}: imports ${name} (${relative(ROOT, file)}) but its ${where} do not declare it`,
        );
      }
    }
  }
  problems.push(...missing.values());
}

if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n${problems.length} undeclared @stead/* imports\n`);
  process.exit(1);
}
process.stdout.write('every workspace package declares the @stead/* packages it imports\n');
