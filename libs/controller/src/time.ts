/**
 * Time as an input: the lease, the controller loop and the table watcher read the clock and arm timers only
 * through these, so a simulation (`SimClock` of @stead/testing/sim fits both) drives them with virtual time.
 */

/** Milliseconds on this process's clock; only differences are used, never compared with another process. */
export interface Clock {
  now(): number;
}

export interface Timers {
  setTimeout(fn: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = { now: () => performance.timeOrigin + performance.now() };

export const systemTimers: Timers = {
  setTimeout: (fn, delayMs) => {
    const t = setTimeout(fn, delayMs);
    t.unref?.();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolves with `promise`, or with `onTimeout()` when `timeoutMs` of the given timers pass first. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, timers: Timers, onTimeout: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const handle = timers.setTimeout(() => {
      if (done) return;
      done = true;
      resolve(onTimeout());
    }, timeoutMs);
    promise.then(
      (v) => {
        if (done) return;
        done = true;
        timers.clearTimeout(handle);
        resolve(v);
      },
      (e) => {
        if (done) return;
        done = true;
        timers.clearTimeout(handle);
        reject(e);
      },
    );
  });
}
