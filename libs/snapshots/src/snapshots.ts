import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { base62Fixed } from '@stead/core';
import type { Logger } from '@stead/observability';
import type { PartitionSnapshotView, SnapshotEntry } from '@stead/storage';
import { CorruptSnapshotError } from './errors.ts';
import { checkSnapshotFile, decodeSnapshotFile, writeSnapshotFile } from './format.ts';
import { type SnapshotManifest, snapshotFolder } from './manifest.ts';
import type { SnapshotRepository } from './repository.ts';

/** Incomplete uploads older than this are abandoned (their writer crashed) and pruned. */
const STALE_INCOMPLETE_MS = 60 * 60 * 1000;

export interface CreateSnapshotOptions {
  repository: SnapshotRepository;
  partition: number;
  /** The node taking the snapshot (recorded in the manifest). */
  node: string;
  /** Where the file is written before the upload (removed after, whatever happens). */
  tmpDir: string;
  /**
   * Takes the view of the partition's store and the applied offset it holds, together (e.g. with the partition's
   * commits paused around `StorageEngine.snapshotPartition`). The view is released once the file is written.
   */
  capture: () => Promise<{ appliedOffset: bigint; view: PartitionSnapshotView }>;
  /** Complete snapshots of the partition to keep; older ones are deleted after the upload. */
  retain: number;
  log?: Logger;
  /** Uploads without a manifest older than this are pruned (default 1 hour: long enough for a slow upload). */
  staleIncompleteMs?: number;
}

/**
 * Takes a snapshot of one partition: captures the view, writes the file, uploads data then manifest, and prunes
 * the partition's older snapshots down to `retain`. Returns the new snapshot's manifest. A failed prune is
 * logged, not thrown: the snapshot is stored, and the next one prunes again.
 */
export async function createSnapshot(opts: CreateSnapshotOptions): Promise<SnapshotManifest> {
  if (!Number.isInteger(opts.retain) || opts.retain < 1)
    throw new RangeError(`retain must be >= 1, not ${opts.retain}`);
  const started = performance.now();
  const id = base62Fixed(randomBytes(8).readBigUInt64BE(0), 11);
  const file = join(opts.tmpDir, `snapshot-${opts.partition}-${id}.bin`);
  try {
    const { appliedOffset, view } = await opts.capture();
    let written: Awaited<ReturnType<typeof writeSnapshotFile>>;
    try {
      written = await writeSnapshotFile(file, view.entries());
    } finally {
      await view.release();
    }
    const manifest: SnapshotManifest = {
      format: 1,
      id,
      partition: opts.partition,
      appliedOffset: appliedOffset.toString(),
      createdAt: new Date().toISOString(),
      node: opts.node,
      entries: written.entries,
      sizeBytes: written.sizeBytes,
      sha256: written.sha256,
      durationMs: 0,
    };
    manifest.durationMs = Math.round(performance.now() - started);
    await opts.repository.put(manifest, file);
    opts.log?.('info', 'partition snapshot stored', {
      partition: opts.partition,
      appliedOffset: manifest.appliedOffset,
      where: opts.repository.where(manifest),
      entries: manifest.entries,
      sizeBytes: manifest.sizeBytes,
      durationMs: manifest.durationMs,
    });
    try {
      await prune(opts);
    } catch (err) {
      opts.log?.('warn', 'pruning old partition snapshots failed', { partition: opts.partition, error: String(err) });
    }
    return manifest;
  } finally {
    await rm(file, { force: true });
  }
}

/** Deletes the partition's complete snapshots beyond the newest `retain`, and abandoned incomplete uploads. */
async function prune(opts: CreateSnapshotOptions): Promise<void> {
  const listing = await opts.repository.list(opts.partition);
  for (const u of listing.unreadable) opts.log?.('warn', 'unreadable snapshot manifest left alone', u);
  const staleBefore = Date.now() - (opts.staleIncompleteMs ?? STALE_INCOMPLETE_MS);
  const doomed = [
    ...listing.snapshots.slice(opts.retain),
    ...listing.incomplete.filter((u) => u.modifiedAt.getTime() < staleBefore),
  ];
  for (const key of doomed) {
    await opts.repository.delete(key);
    opts.log?.('info', 'old partition snapshot deleted', {
      partition: opts.partition,
      snapshot: snapshotFolder(key),
    });
  }
}

export interface RestoreLatestOptions {
  repository: SnapshotRepository;
  partition: number;
  /** Where the data is fetched to before the restore (removed after, whatever happens). */
  tmpDir: string;
  /** Snapshots below this applied offset are not used (the log above them is gone: they cannot catch up). */
  minAppliedOffset?: bigint;
  /** Writes the entries into the partition's store (e.g. `StorageEngine.restorePartition`). */
  restore: (entries: AsyncIterable<SnapshotEntry>) => Promise<void>;
  log?: Logger;
}

/**
 * Restores the newest usable snapshot of the partition through `restore`, and returns its manifest (undefined
 * when there is none). A corrupt snapshot (checksum, format, missing data) is skipped with a warning for the
 * previous one. Checksum and header are checked before `restore` is called, so such a snapshot leaves the store
 * untouched; only a damaged frame inside a file that matches its checksum (a faulty writer) is found during
 * `restore`, and the store then holds part of it until the next `restore` replaces it. Any other error (the
 * repository unreachable, the store failing) rejects: the caller retries.
 */
export async function restoreLatest(opts: RestoreLatestOptions): Promise<SnapshotManifest | undefined> {
  const listing = await opts.repository.list(opts.partition);
  for (const u of listing.unreadable) opts.log?.('warn', 'unreadable snapshot manifest skipped', u);
  const min = opts.minAppliedOffset ?? 0n;
  for (const manifest of listing.snapshots) {
    if (BigInt(manifest.appliedOffset) < min) {
      opts.log?.('info', 'partition snapshot too old to restore', {
        partition: opts.partition,
        appliedOffset: manifest.appliedOffset,
        minAppliedOffset: min,
      });
      continue;
    }
    const where = opts.repository.where(manifest);
    const file = join(opts.tmpDir, `restore-${opts.partition}-${manifest.id}.bin`);
    try {
      await opts.repository.fetch(manifest, file);
      // Checked before `restore` wipes the store: a damaged download leaves the store as it was.
      await checkSnapshotFile(file, manifest.sha256, where);
      await opts.restore(decodeSnapshotFile(file, where));
      opts.log?.('info', 'partition restored from snapshot', {
        partition: opts.partition,
        appliedOffset: manifest.appliedOffset,
        where,
      });
      return manifest;
    } catch (err) {
      if (!(err instanceof CorruptSnapshotError)) throw err;
      opts.log?.('warn', 'corrupt partition snapshot skipped, trying an older one', {
        partition: opts.partition,
        where,
        error: err.message,
      });
    } finally {
      await rm(file, { force: true });
    }
  }
  return undefined;
}
