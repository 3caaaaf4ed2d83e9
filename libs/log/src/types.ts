/**
 * The log contract shared by every loglet kind (local LevelDB, replicated) and by the
 * virtual log that chains segments of them. Offsets are 0-based, dense and never reused.
 */
export interface LogRecord {
  offset: bigint;
  payload: Uint8Array;
}

export class LogSealedError extends Error {
  override name = 'LogSealedError';
}

export class LogTrimmedError extends Error {
  override name = 'LogTrimmedError';
}

export interface Loglet {
  /**
   * Appends records in order and resolves with the offset of the first one once all of them are durable
   * (on a write quorum / fsynced). Concurrent appends are group-committed. Rejects with LogSealedError
   * once sealed.
   */
  append(payloads: Uint8Array[]): Promise<bigint>;
  /** Records with offset >= from, up to `limit` of them, stopping at the released tail. Never waits. */
  read(from: bigint, limit?: number): Promise<LogRecord[]>;
  /** The next offset to be assigned (exclusive released tail). */
  tail(): Promise<bigint>;
  /**
   * The released tail as far as this loglet knows without asking anyone: a lower bound of `tail()`, for figures
   * such as a reader's lag. Absent when the loglet keeps none.
   */
  readonly knownTail?: bigint;
  /** Resolves with the tail once it is > `offset` (i.e. record `offset` is readable), or when the signal aborts. */
  waitForTail(offset: bigint, signal?: AbortSignal): Promise<bigint>;
  /** Marks records below `upTo` as no longer needed; reads below the trim point reject with LogTrimmedError. */
  trim(upTo: bigint): Promise<void>;
  /** Refuses further appends and resolves with the final tail. Idempotent. */
  seal(): Promise<bigint>;
}
