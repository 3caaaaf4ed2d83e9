/**
 * @stead/snapshots: partition snapshots. A snapshot is a consistent copy of one partition's store (taken by
 * `@stead/storage`'s `StorageEngine.snapshotPartition`) with the applied log offset it holds, written as one
 * checksummed file and kept in an S3-compatible bucket or a directory, next to its manifest. `createSnapshot`
 * takes, uploads and prunes; `restoreLatest` restores the newest usable one; `retainedFloor` says below which
 * offset the log is no longer needed by any kept snapshot. See README.md.
 */
export { CorruptSnapshotError, SnapshotRepositoryError } from './errors.ts';
export { readSnapshotFile, type SnapshotFileInfo, writeSnapshotFile } from './format.ts';
export { parseManifest, retainedFloor, type SnapshotKey, type SnapshotManifest } from './manifest.ts';
export { DirectorySnapshotRepository, type SnapshotListing, type SnapshotRepository } from './repository.ts';
export { type S3RepositoryOptions, S3SnapshotRepository } from './s3.ts';
export { type CreateSnapshotOptions, createSnapshot, type RestoreLatestOptions, restoreLatest } from './snapshots.ts';
