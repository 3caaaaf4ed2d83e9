export type MetadataErrorCode =
  /** Get of a key that holds no value. */
  | 'not-found'
  /** A put/delete precondition does not hold; `currentVersion` says what the key holds (0 = nothing). */
  | 'precondition-failed'
  /** Bad key, value over the size limit, bad membership request, malformed payload. */
  | 'invalid-argument'
  /** This member is not the leader; `leaderId`/`leaderAddress` name the leader when known. */
  | 'not-leader'
  /** No leader or no quorum right now; retry later. */
  | 'unavailable'
  /** A write may or may not have been applied (leadership changed); retry with the same request id. */
  | 'unknown-outcome'
  /** The data dir belongs to another cluster or member. */
  | 'data-dir-mismatch'
  /** The caller's client certificate may not do this (gRPC mTLS: writes and membership are for cluster members). */
  | 'permission-denied'
  | 'closed';

export class MetadataError extends Error {
  override name = 'MetadataError';
  readonly code: MetadataErrorCode;
  readonly leaderId: string;
  readonly leaderAddress: string;
  readonly currentVersion: number;
  constructor(
    code: MetadataErrorCode,
    message: string,
    extra: { leaderId?: string; leaderAddress?: string; currentVersion?: number } = {},
  ) {
    super(message);
    this.code = code;
    this.leaderId = extra.leaderId ?? '';
    this.leaderAddress = extra.leaderAddress ?? '';
    this.currentVersion = extra.currentVersion ?? 0;
  }
}

/** Is it safe and useful to send the same request again (with the same request id)? */
export function isRetryable(e: unknown): boolean {
  return (
    e instanceof MetadataError && (e.code === 'not-leader' || e.code === 'unavailable' || e.code === 'unknown-outcome')
  );
}
