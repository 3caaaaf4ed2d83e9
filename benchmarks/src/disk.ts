// Bytes on disk of a target's data dirs, grouped in columns (one-process: the top-level entries of its data dir;
// cluster: one column per role), and the plateau verdict `npm run bench:soak` draws from them.
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A data dir of a target and the column its bytes count in. `split`: one column per top-level entry of `dir`
 * (its subdirectories and files, e.g. `partitions`, `log`, `metadata`) instead of one column `part` for all.
 */
export interface DataDir {
  part: string;
  dir: string;
  split?: boolean;
}

/** Whether `err` says the file or directory is gone (LevelDB compactions delete files while we walk). */
const vanished = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/** Bytes of the files under `path` (its own size when it is a file; 0 when it is gone). Links are not followed. */
export async function pathBytes(path: string): Promise<number> {
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return fileBytes(path);
    if (vanished(err)) return 0;
    throw err;
  }
  let total = 0;
  for (const e of entries) {
    const p = join(path, e.name);
    total += e.isDirectory() ? await pathBytes(p) : await fileBytes(p);
  }
  return total;
}

async function fileBytes(path: string): Promise<number> {
  try {
    return (await lstat(path)).size;
  } catch (err) {
    if (vanished(err)) return 0;
    throw err;
  }
}

/** Bytes per column of `dirs` (columns in first-seen order; a dir that does not exist yet counts 0). */
export async function diskUsage(dirs: readonly DataDir[]): Promise<Record<string, number>> {
  const bytes: Record<string, number> = {};
  const add = (part: string, n: number) => {
    bytes[part] = (bytes[part] ?? 0) + n;
  };
  for (const d of dirs) {
    if (!d.split) {
      add(d.part, await pathBytes(d.dir));
      continue;
    }
    let names: string[];
    try {
      names = (await readdir(d.dir)).sort();
    } catch (err) {
      if (vanished(err)) continue;
      throw err;
    }
    for (const name of names) add(d.part === '' ? name : `${d.part}/${name}`, await pathBytes(join(d.dir, name)));
  }
  return bytes;
}

/** Growth of the total over the second half below this share of the total at the midpoint is a plateau … */
export const PLATEAU_SHARE = 0.15;
/** … and so is growth below this many bytes, so that tiny sizes do not flap. */
export const PLATEAU_FLOOR_BYTES = 5 * 2 ** 20;

export interface Plateau {
  /** Sample times (s) and total bytes at the midpoint of the run and at its end. */
  midS: number;
  midBytes: number;
  endS: number;
  endBytes: number;
  /** endBytes - midBytes, and that as a share of midBytes. */
  growthBytes: number;
  growthShare: number;
  plateau: boolean;
}

/**
 * Compares the total bytes at the end of the run with those at its midpoint (the sample nearest to half of
 * `durationS`): a plateau when the second half grew by less than PLATEAU_SHARE of the midpoint's size or by less
 * than PLATEAU_FLOOR_BYTES. Undefined with fewer than two samples that have a size.
 */
export function plateau(
  samples: readonly { atS: number; diskBytes: number }[],
  durationS: number,
): Plateau | undefined {
  const sized = samples.filter((s) => Number.isFinite(s.diskBytes));
  if (sized.length < 2) return undefined;
  const end = sized.at(-1)!;
  const before = sized.slice(0, -1);
  const mid = before.reduce((a, s) => (Math.abs(s.atS - durationS / 2) < Math.abs(a.atS - durationS / 2) ? s : a));
  const growthBytes = end.diskBytes - mid.diskBytes;
  return {
    midS: mid.atS,
    midBytes: mid.diskBytes,
    endS: end.atS,
    endBytes: end.diskBytes,
    growthBytes,
    growthShare: mid.diskBytes > 0 ? growthBytes / mid.diskBytes : Number.NaN,
    plateau: growthBytes < PLATEAU_FLOOR_BYTES || growthBytes < PLATEAU_SHARE * mid.diskBytes,
  };
}
