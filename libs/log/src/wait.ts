/** Settles a pending wait; either call also drops the wait's abort listener. */
export interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * Waits until the owner settles the waiter that `add` registers, or until `signal` aborts (then the function
 * `add` returned unregisters the waiter). The abort listener goes away with the waiter: callers reuse one
 * long-lived signal for many waits.
 */
export function abortableWait<T>(signal: AbortSignal | undefined, add: (w: Waiter<T>) => () => void): Promise<T> {
  if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      remove();
      reject(signal?.reason ?? new Error('aborted'));
    };
    const remove = add({
      resolve: (v) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      },
      reject: (e) => {
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      },
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
