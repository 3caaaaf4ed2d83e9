/**
 * fanIn reads several batch streams at once: at most `parallel` open, batches yielded as they come, one limit
 * over all of them, and the streams still open cancelled when the merge ends early.
 */
import { expect, it } from '@jest/globals';
import { fanIn } from '../src/fan-in.ts';

/** A stream of `batches` batches of `size` items named after stream `s`; records when it starts and is cancelled. */
function stream(s: number, batches: number, size: number, log: string[]) {
  return (signal: AbortSignal) => {
    log.push(`start ${s}`);
    signal.addEventListener('abort', () => log.push(`cancel ${s}`), { once: true });
    return (async function* () {
      for (let b = 0; b < batches; b++) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        signal.throwIfAborted();
        yield Array.from({ length: size }, (_, i) => `${s}.${b}.${i}`);
      }
    })();
  };
}

async function all<T>(it: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const batch of it) out.push(...batch);
  return out;
}

it('reads every stream, at most `parallel` at once, and yields every item once', async () => {
  const log: string[] = [];
  const starts = [0, 1, 2, 3, 4].map((s) => stream(s, 3, 2, log));
  const items = await all(fanIn(starts, { parallel: 2, limit: Number.POSITIVE_INFINITY }));
  expect(items).toHaveLength(5 * 3 * 2);
  expect(new Set(items).size).toBe(items.length);
  // Two open at first; the third starts only once one of them ended.
  expect(log.slice(0, 2)).toEqual(['start 0', 'start 1']);
  expect(log.filter((l) => l.startsWith('start'))).toHaveLength(5);
  // Batches of the two first streams interleave: they are read at once, not one after the other.
  const firstOf1 = items.indexOf('1.0.0');
  expect(firstOf1).toBeLessThan(items.indexOf('0.2.0'));
});

it('stops at the limit, cutting the last batch, and cancels the streams still open', async () => {
  const log: string[] = [];
  const starts = [0, 1, 2].map((s) => stream(s, 100, 4, log));
  const items = await all(fanIn(starts, { parallel: 2, limit: 10 }));
  expect(items).toHaveLength(10);
  expect(log).toContain('cancel 0');
  expect(log).toContain('cancel 1');
  expect(log).not.toContain('start 2');
});

it('rejects with the reason when the caller aborts', async () => {
  const log: string[] = [];
  const gone = new AbortController();
  const merged = fanIn([stream(0, 1000, 1, log)], {
    parallel: 1,
    limit: Number.POSITIVE_INFINITY,
    signal: gone.signal,
  });
  let read = 0;
  await expect(
    (async () => {
      for await (const batch of merged) {
        read += batch.length;
        if (read === 5) gone.abort(new Error('the client went away'));
      }
    })(),
  ).rejects.toThrow('the client went away');
  expect(read).toBe(5);
  expect(log).toContain('cancel 0');
});
