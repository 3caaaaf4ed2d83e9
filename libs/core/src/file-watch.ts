import { type FSWatcher, statSync, watch } from 'node:fs';
import { dirname } from 'node:path';

/** Stops watching. */
export interface FileWatch {
  close(): void;
}

/** Default period of the stat fallback (fs.watch misses changes on some file systems and volume mounts). */
export const DEFAULT_FILE_POLL_INTERVAL_MS = 10_000;

/** What identifies a file's content cheaply: inode, size and modification time (following symlinks). */
function signature(path: string): string {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

/**
 * Calls `onChange` once after any of `paths` changed (content replaced, file swapped, removed). Watches the
 * directories rather than the files: a Kubernetes Secret volume swaps a `..data` symlink, and an editor or
 * `mv` replaces the file, both of which a watch on the old file would miss. A periodic stat catches what the
 * watches do not report.
 */
export function watchFiles(
  paths: readonly string[],
  onChange: () => void,
  opts: { pollIntervalMs?: number } = {},
): FileWatch {
  let last = paths.map(signature).join('|');
  const check = () => {
    const now = paths.map(signature).join('|');
    if (now === last) return;
    last = now;
    onChange();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(paths.map((p) => dirname(p)))) {
    try {
      const w = watch(dir, { persistent: false }, () => check());
      w.on('error', () => {}); // the periodic stat still runs
      watchers.push(w);
    } catch {
      // An unwatchable directory: the periodic stat alone notices changes.
    }
  }
  const timer = setInterval(check, opts.pollIntervalMs ?? DEFAULT_FILE_POLL_INTERVAL_MS);
  timer.unref();
  return {
    close: () => {
      clearInterval(timer);
      for (const w of watchers) w.close();
    },
  };
}
