/**
 * Time as an input. The partition leader, the invoker driver and the engine read the clock and arm timers only
 * through these two interfaces, so a simulation (libs/testing) can drive them with virtual time; production
 * passes nothing and gets the system's.
 */

/** Wall-clock time in ms since the epoch. */
export interface Clock {
  now(): number;
}

/** An armed timer, as `Timers.setTimeout` returns it; opaque to its users (a simulation may use numbers). */
export type TimerHandle = unknown;

/** Arms and disarms one-shot timers, like the global setTimeout / clearTimeout. */
export interface Timers {
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = { now: () => Date.now() };

export const systemTimers: Timers = {
  setTimeout: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolves after `delayMs` of the given timers' time. */
export function sleep(timers: Timers, delayMs: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(resolve, delayMs));
}

/** The clock of options that may still give it as a bare `now` function (the older form). */
export function clockOf(opts: { clock?: Clock; now?: () => number }): Clock {
  if (opts.clock) return opts.clock;
  const now = opts.now;
  return now ? { now: () => now() } : systemClock;
}
