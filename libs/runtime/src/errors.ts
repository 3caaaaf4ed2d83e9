/**
 * A refusal to start: bad data dir, a port in use, a setting that cannot work with the others. The process
 * says why (stderr and a JSON log line) and exits with {@link EXIT_STARTUP}. Any app throws this one type.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** Exit code for settings that do not parse or validate (nothing was started). */
export const EXIT_BAD_SETTINGS = 2;
/** Exit code for a refusal to start, a failed or timed-out shutdown, or a fatal error. */
export const EXIT_STARTUP = 1;

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
