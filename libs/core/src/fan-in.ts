/**
 * Reads several batch streams at once (at most `parallel` open), yielding their batches as they arrive, with one
 * item limit over all of them. Each stream is started with a signal that aborts when the merge ends for any
 * reason (limit reached, the caller's abort, a stream's error, the caller stopping early), so that the streams
 * still open are cancelled at once rather than read to their end.
 */

/** Starts one stream; it must end (reject) soon after `signal` aborts. */
export type StreamStart<T> = (signal: AbortSignal) => AsyncIterator<T[]>;

interface Open<T> {
  it: AsyncIterator<T[]>;
  next: Promise<{ index: number; r: IteratorResult<T[]> }>;
}

export async function* fanIn<T>(
  starts: readonly StreamStart<T>[],
  opts: { parallel: number; limit: number; signal?: AbortSignal },
): AsyncGenerator<T[]> {
  const inner = new AbortController();
  const onAbort = () => inner.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const aborted = new Promise<never>((_, reject) =>
    inner.signal.addEventListener('abort', () => reject(inner.signal.reason), { once: true }),
  );
  aborted.catch(() => {});
  const open = new Map<number, Open<T>>();
  const pull = (index: number, it: AsyncIterator<T[]>) =>
    open.set(index, { it, next: it.next().then((r) => ({ index, r })) });
  let started = 0;
  let left = opts.limit;
  try {
    opts.signal?.throwIfAborted();
    for (;;) {
      while (open.size < opts.parallel && started < starts.length) pull(started, starts[started++](inner.signal));
      if (open.size === 0 || left <= 0) return;
      const { index, r } = await Promise.race([aborted, ...[...open.values()].map((o) => o.next)]);
      const o = open.get(index) as Open<T>;
      if (r.done) {
        open.delete(index);
        continue;
      }
      pull(index, o.it);
      const batch = r.value.length > left ? r.value.slice(0, left) : r.value;
      left -= batch.length;
      if (batch.length > 0) yield batch;
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    inner.abort(new Error('the merged read ended'));
    for (const o of open.values()) o.next.catch(() => {});
  }
}
