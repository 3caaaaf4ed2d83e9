/**
 * Disk faults for tests, for real: a small tmpfs that a filler file makes full (ENOSPC), and an LD_PRELOAD
 * shim that makes fsync/fdatasync/sync_file_range fail with EIO while a trigger file exists. Both need root
 * (mount) and gcc, as on the development and CI machines; they throw when either is missing, never skip.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Cleanup } from './process.ts';

/**
 * A tmpfs of a fixed size mounted on a fresh temp dir (or on `at`, created if missing); `cleanup` unmounts it
 * and removes the temp dir.
 */
export class Tmpfs {
  readonly path: string;
  private readonly fillers: string[] = [];

  private constructor(path: string) {
    this.path = path;
  }

  static mount(cleanup: Cleanup, sizeBytes: number, at?: string): Tmpfs {
    const dir = at ?? cleanup.tempDir('stead-tmpfs-');
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
    const fs = new Tmpfs(dir);
    cleanup.add(() => fs.unmount());
    return fs;
  }

  /**
   * Writes `name` until the file system is full (a write fails with ENOSPC), in smaller and smaller chunks so
   * that no page is left. Returns the bytes written.
   */
  fill(name = 'filler'): number {
    const file = join(this.path, name);
    this.fillers.push(file);
    const fd = openSync(file, 'a');
    let total = 0;
    try {
      for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
        const chunk = Buffer.alloc(size, 0x5a);
        for (;;) {
          try {
            const n = writeSync(fd, chunk);
            total += n;
            if (n < size) break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
      }
    } finally {
      closeSync(fd);
    }
    return total;
  }

  /** Removes the files `fill` wrote, freeing their space. */
  unfill(): void {
    for (const f of this.fillers.splice(0)) rmSync(f, { force: true });
  }

  /** Unmounts (lazily if something still holds it open, so that nothing stays mounted). Idempotent. */
  unmount(): void {
    try {
      execFileSync('umount', [this.path], { stdio: 'pipe' });
    } catch {
      try {
        execFileSync('umount', ['-l', this.path], { stdio: 'pipe' });
      } catch {
        // not mounted (any more)
      }
    }
  }
}

/** The environment variable naming the trigger file of the fsync shim. */
export const FAIL_SYNC_ENV = 'FSYNC_SHIM_FAIL_IF';

const SHIM_C = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The trigger path is read once at load time: getenv is not safe against a concurrent setenv in a thread. */
static char *trigger;
static int reported;

__attribute__((constructor)) static void init(void) {
  const char *t = getenv("${FAIL_SYNC_ENV}");
  if (t && *t) trigger = strdup(t);
}

static int failing(const char *call, int fd) {
  if (!trigger || access(trigger, F_OK) != 0) return 0;
  if (reported < 20) {
    reported++;
    char line[128];
    int n = snprintf(line, sizeof line, "fsync-shim: %s(%d) -> EIO\\n", call, fd);
    if (n > 0) (void)!write(2, line, (size_t)n);
  }
  errno = EIO;
  return 1;
}

int fsync(int fd) {
  static int (*real)(int);
  if (failing("fsync", fd)) return -1;
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (failing("fdatasync", fd)) return -1;
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
  static int (*real)(int, off64_t, off64_t, unsigned int);
  if (failing("sync_file_range", fd)) return -1;
  if (!real) real = (int (*)(int, off64_t, off64_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
  return real(fd, offset, nbytes, flags);
}
`;

/**
 * Compiles the fsync shim into `dir` and returns the environment that loads it into a process: while
 * `trigger` exists, fsync, fdatasync and sync_file_range fail with EIO (and say so on stderr).
 */
export function buildFsyncShim(dir: string, trigger: string): NodeJS.ProcessEnv {
  const src = join(dir, 'fsync-shim.c');
  const lib = join(dir, 'fsync-shim.so');
  writeFileSync(src, SHIM_C);
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Werror', '-o', lib, src, '-ldl'], { stdio: 'pipe' });
  return { LD_PRELOAD: lib, [FAIL_SYNC_ENV]: trigger };
}
