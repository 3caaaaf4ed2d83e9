export type ControllerErrorCode =
  /** A value in the metadata store does not decode or breaks its invariants; the message names the key. */
  | 'corrupt-record'
  /** An invariant the controller guards (an epoch only grows, a table's term only grows) would break. */
  | 'invariant'
  /** Options that cannot work (e.g. a lease timeout not above the renew interval). */
  | 'invalid-config';

/** The one error type of @stead/controller. */
export class ControllerError extends Error {
  override name = 'ControllerError';
  readonly code: ControllerErrorCode;
  constructor(code: ControllerErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Stops loudly when an invariant does not hold. */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new ControllerError('invariant', message);
}
