/**
 * A snapshot that cannot be used: its bytes do not match the checksum of its manifest, its file is not in a
 * format this version reads, or its manifest does not parse. `where` names the object or file. Restores skip
 * such a snapshot for an older one.
 */
export class CorruptSnapshotError extends Error {
  readonly code = 'SNAPSHOT_CORRUPT';
  readonly where: string;
  constructor(where: string, what: string) {
    super(`corrupt snapshot ${where}: ${what}`);
    this.name = 'CorruptSnapshotError';
    this.where = where;
  }
}

/**
 * A repository that did not answer or refused a request (unreachable endpoint, missing bucket, bad
 * credentials). The message names the repository (never its credentials); the caller retries with backoff.
 */
export class SnapshotRepositoryError extends Error {
  readonly code = 'SNAPSHOT_REPOSITORY_UNAVAILABLE';
  constructor(message: string, cause?: unknown) {
    super(cause === undefined ? message : `${message}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'SnapshotRepositoryError';
  }
}
