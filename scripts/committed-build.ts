// Shared by the generators whose output is committed (proto-gen.ts, ui-build.ts): their `--check` builds into a
// temp dir and compares it with the committed tree.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Every file below `dir` (none when it does not exist). */
export function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** The files, relative and sorted, that differ between two trees (present in one only, or with other bytes). */
export function differences(a: string, b: string): string[] {
  const names = new Set([...walk(a).map((p) => relative(a, p)), ...walk(b).map((p) => relative(b, p))]);
  return [...names].sort().filter((f) => {
    const x = existsSync(join(a, f)) ? readFileSync(join(a, f)) : undefined;
    const y = existsSync(join(b, f)) ? readFileSync(join(b, f)) : undefined;
    return x === undefined || y === undefined || !x.equals(y);
  });
}
