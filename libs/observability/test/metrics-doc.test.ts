/**
 * docs/METRICS.md and the code cannot drift apart: every `stead_*` metric name the apps and libraries register
 * is listed in the doc's tables, and every metric the doc names is registered somewhere (in the code, or among
 * the default process metrics every registry has).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { createRegistry } from '../src/metrics.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const DOC = readFileSync(join(ROOT, 'docs/METRICS.md'), 'utf8');

/** The TypeScript sources of the apps and libraries (not their tests, not the test tooling). */
function sources(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.ts')) out.push(path);
    }
  };
  for (const top of ['apps', 'libs'])
    for (const pkg of readdirSync(join(ROOT, top), { withFileTypes: true })) {
      if (!pkg.isDirectory() || (top === 'libs' && pkg.name === 'testing')) continue;
      const src = join(ROOT, top, pkg.name, 'src');
      try {
        walk(src);
      } catch {
        // a package without src/
      }
    }
  return out;
}

/** Metric names as the code registers them: string literals `'stead_…'` (names are always written out in full). */
function registeredInCode(): Set<string> {
  const names = new Set<string>();
  for (const file of sources())
    for (const [, name] of readFileSync(file, 'utf8').matchAll(/['"](stead_[a-z0-9_]+)['"]/g)) names.add(name!);
  return names;
}

/** The names in the first column of the doc's tables. */
function listedInTables(): Set<string> {
  const names = new Set<string>();
  for (const [, cell] of DOC.matchAll(/^\| ([^|]+) \|/gm))
    for (const [, name] of cell!.matchAll(/`(stead_[a-z0-9_]+)`/g)) names.add(name!);
  return names;
}

const HISTOGRAM_SERIES = /_(bucket|sum|count)$/;

describe('docs/METRICS.md', () => {
  const code = registeredInCode();
  const defaults = new Set(
    createRegistry()
      .getMetricsAsArray()
      .map((m) => m.name),
  );

  it('lists every metric the apps and libraries register', () => {
    expect(code.size).toBeGreaterThan(50);
    const listed = listedInTables();
    expect([...code].filter((n) => !listed.has(n)).sort()).toEqual([]);
  });

  it('names only metrics that exist: registered in the code, or default process metrics', () => {
    const known = (name: string) =>
      code.has(name) ||
      defaults.has(name) ||
      (HISTOGRAM_SERIES.test(name) && code.has(name.replace(HISTOGRAM_SERIES, '')));
    const named = new Set<string>();
    const prefixes = new Set<string>();
    for (const [token] of DOC.matchAll(/stead_[a-z0-9_]*[a-z0-9](_\*)?/g)) {
      if (token.endsWith('_*')) prefixes.add(token.slice(0, -1));
      else named.add(token);
    }
    expect(named.size).toBeGreaterThan(50);
    expect([...named].filter((n) => !known(n)).sort()).toEqual([]);
    // A family named with a wildcard (`stead_nodejs_*`) matches some metric.
    const all = [...code, ...defaults];
    expect([...prefixes].filter((p) => !all.some((n) => n.startsWith(p))).sort()).toEqual([]);
  });
});
