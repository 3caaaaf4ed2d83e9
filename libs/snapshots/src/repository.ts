import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptSnapshotError, SnapshotRepositoryError } from './errors.ts';
import {
  newestFirst,
  parseManifest,
  parseSnapshotFolder,
  type SnapshotKey,
  type SnapshotManifest,
  snapshotFolder,
} from './manifest.ts';

/** What a repository holds for one partition. */
export interface SnapshotListing {
  /** Complete snapshots (their manifest is there and parses), newest first. */
  snapshots: SnapshotManifest[];
  /** Data without a manifest: an upload in progress, or one a crash abandoned. */
  incomplete: (SnapshotKey & { modifiedAt: Date })[];
  /** Manifests that do not parse or do not match their place: left alone (a newer version may read them). */
  unreadable: { where: string; reason: string }[];
}

/**
 * Where snapshots are kept. Layout (S3 objects or files): `<prefix>/partition-<p>/<20-digit applied offset>-<id>/`
 * holding `snapshot.bin` (the data, see format.ts) and `manifest.json`, written in that order.
 */
export interface SnapshotRepository {
  /** For logs: where the snapshots go (never credentials). */
  describe(): string;
  /** The name of a snapshot's data object, for messages. */
  where(key: SnapshotKey): string;
  /** Stores the data file, then the manifest (the snapshot counts as complete once the manifest is there). */
  put(manifest: SnapshotManifest, file: string): Promise<void>;
  list(partition: number): Promise<SnapshotListing>;
  /** Copies a snapshot's data to `toPath`; a missing data object is a CorruptSnapshotError. */
  fetch(manifest: SnapshotManifest, toPath: string): Promise<void>;
  /** Deletes a snapshot (its manifest first: a half done delete leaves an incomplete upload, never a manifest without data). */
  delete(key: SnapshotKey): Promise<void>;
  /** The partitions that have anything in the repository. */
  listPartitions(): Promise<number[]>;
}

export const DATA_OBJECT = 'snapshot.bin';
export const MANIFEST_OBJECT = 'manifest.json';

/** Groups the objects of one partition's folder by snapshot and reads their manifests through `read`. */
export async function buildListing(
  partition: number,
  objects: { folder: string; file: string; modifiedAt: Date }[],
  /** The manifest's text; undefined when it is gone (a prune deleted the snapshot after the objects were listed). */
  readManifest: (key: SnapshotKey) => Promise<string | undefined>,
  where: (key: SnapshotKey, file: string) => string,
): Promise<SnapshotListing> {
  const folders = new Map<string, { key: SnapshotKey; files: Set<string>; modifiedAt: Date }>();
  for (const o of objects) {
    const key = parseSnapshotFolder(partition, o.folder);
    if (!key) continue; // not ours (a stray object under the prefix)
    const f = folders.get(o.folder) ?? { key, files: new Set<string>(), modifiedAt: o.modifiedAt };
    f.files.add(o.file);
    if (o.modifiedAt > f.modifiedAt) f.modifiedAt = o.modifiedAt;
    folders.set(o.folder, f);
  }
  const listing: SnapshotListing = { snapshots: [], incomplete: [], unreadable: [] };
  await Promise.all(
    [...folders.values()].map(async ({ key, files, modifiedAt }) => {
      if (!files.has(MANIFEST_OBJECT)) {
        listing.incomplete.push({ ...key, modifiedAt });
        return;
      }
      const at = where(key, MANIFEST_OBJECT);
      try {
        const text = await readManifest(key);
        if (text === undefined) return; // deleted meanwhile: not a snapshot any more
        const m = parseManifest(text, at);
        if (m.partition !== partition || snapshotFolder(m) !== snapshotFolder(key)) {
          throw new CorruptSnapshotError(at, `manifest of partition ${m.partition} at ${snapshotFolder(m)}`);
        }
        listing.snapshots.push(m);
      } catch (err) {
        if (!(err instanceof CorruptSnapshotError)) throw err;
        listing.unreadable.push({ where: at, reason: err.message });
      }
    }),
  );
  listing.snapshots.sort(newestFirst);
  return listing;
}

/** Snapshots in a directory (a mounted volume, or tests): the same layout as the bucket's, files renamed into place. */
export class DirectorySnapshotRepository implements SnapshotRepository {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  describe(): string {
    return `directory ${this.dir}`;
  }

  private folder(key: SnapshotKey): string {
    return join(this.dir, `partition-${key.partition}`, snapshotFolder(key));
  }

  where(key: SnapshotKey, file = DATA_OBJECT): string {
    return join(this.folder(key), file);
  }

  async put(manifest: SnapshotManifest, file: string): Promise<void> {
    const folder = this.folder(manifest);
    await this.io(`put ${folder}`, async () => {
      await mkdir(folder, { recursive: true });
      // Each file is complete under its temp name and durable before it takes its name.
      await copyFile(file, join(folder, `${DATA_OBJECT}.tmp`));
      await fsync(join(folder, `${DATA_OBJECT}.tmp`));
      await rename(join(folder, `${DATA_OBJECT}.tmp`), join(folder, DATA_OBJECT));
      await writeFile(join(folder, `${MANIFEST_OBJECT}.tmp`), JSON.stringify(manifest, null, 2), { flush: true });
      await rename(join(folder, `${MANIFEST_OBJECT}.tmp`), join(folder, MANIFEST_OBJECT));
      await fsync(folder);
    });
  }

  async list(partition: number): Promise<SnapshotListing> {
    const base = join(this.dir, `partition-${partition}`);
    const objects = await this.io(`list ${base}`, async () => {
      const out: { folder: string; file: string; modifiedAt: Date }[] = [];
      for (const folder of await readdirOrEmpty(base)) {
        const files = await readdirOrEmpty(join(base, folder));
        // An empty folder (a crash before the data's rename) counts as an incomplete upload, to be pruned.
        for (const file of files.length === 0 ? [''] : files) {
          // A prune (here or on another node) may delete it meanwhile: gone files are not listed.
          const s = await stat(join(base, folder, file)).catch((err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return undefined;
            throw err;
          });
          if (s) out.push({ folder, file, modifiedAt: s.mtime });
        }
      }
      return out;
    });
    return buildListing(
      partition,
      objects,
      (key) =>
        this.io(`read ${this.where(key, MANIFEST_OBJECT)}`, () =>
          readFile(this.where(key, MANIFEST_OBJECT), 'utf8').catch((err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return undefined;
            throw err;
          }),
        ),
      (key, file) => this.where(key, file),
    );
  }

  async fetch(manifest: SnapshotManifest, toPath: string): Promise<void> {
    const from = this.where(manifest);
    try {
      await copyFile(from, toPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CorruptSnapshotError(from, 'data file missing');
      throw new SnapshotRepositoryError(`${this.describe()}: fetch ${from}`, err);
    }
  }

  async delete(key: SnapshotKey): Promise<void> {
    await this.io(`delete ${this.folder(key)}`, async () => {
      await rm(this.where(key, MANIFEST_OBJECT), { force: true });
      await rm(this.folder(key), { recursive: true, force: true });
    });
  }

  async listPartitions(): Promise<number[]> {
    const names = await this.io(`list ${this.dir}`, () => readdirOrEmpty(this.dir));
    return partitionsOf(names);
  }

  private async io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new SnapshotRepositoryError(`${this.describe()}: ${what}`, err);
    }
  }
}

/** Partition ids of `partition-<id>` names, ascending. */
export function partitionsOf(names: Iterable<string>): number[] {
  const ids = new Set<number>();
  for (const name of names) {
    const m = /^partition-(\d{1,5})\/?$/.exec(name);
    if (m) ids.add(Number(m[1]));
  }
  return [...ids].sort((a, b) => a - b);
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function fsync(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
