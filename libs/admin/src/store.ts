import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DeploymentSchema, ServiceSchema } from '@stead/core';

/** Everything the schema registry persists. Plain JSON; `formatVersion` guards future changes. */
export interface SchemaSnapshot {
  formatVersion: 1;
  /** Bumped on every change; lets readers (and a metadata store later) compare snapshots. */
  version: number;
  /** Last revision handed out per service name (revisions never go back, even after removals). */
  revisions: Record<string, number>;
  deployments: { deployment: DeploymentSchema; services: ServiceSchema[] }[];
}

/**
 * Where the registry keeps its snapshot. One file in one-process mode; the metadata store in a cluster.
 * A store shared by several processes saves conditionally (throwing `SchemaConflictError` when another process
 * saved since the last load) and offers `watch` so that a registry follows the changes of the others.
 */
export interface SchemaStore {
  load(): Promise<SchemaSnapshot | undefined>;
  save(snapshot: SchemaSnapshot): Promise<void>;
  /** Calls `onChange` when another process may have saved a newer snapshot; returns the unsubscribe function. */
  watch?(onChange: () => void): () => void;
}

/** A save lost against another process's save: load again and reapply the change. */
export class SchemaConflictError extends Error {
  override name = 'SchemaConflictError';
}

/** Keeps the snapshot in memory only (tests, dry runs). */
export class MemorySchemaStore implements SchemaStore {
  snapshot: SchemaSnapshot | undefined;

  async load(): Promise<SchemaSnapshot | undefined> {
    return this.snapshot === undefined ? undefined : structuredClone(this.snapshot);
  }

  async save(snapshot: SchemaSnapshot): Promise<void> {
    this.snapshot = structuredClone(snapshot);
  }
}

/**
 * Durable single-file store: writes `<path>.tmp`, fsyncs it, renames it over `<path>` and fsyncs the
 * directory, so a crash leaves either the old or the new snapshot, never a torn one.
 */
export class FileSchemaStore implements SchemaStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async load(): Promise<SchemaSnapshot | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`schema file ${this.path} is corrupt: ${(err as Error).message}`);
    }
    const snap = parsed as SchemaSnapshot;
    if (snap?.formatVersion !== 1 || !Array.isArray(snap.deployments)) {
      throw new Error(`schema file ${this.path} has an unknown format`);
    }
    return snap;
  }

  async save(snapshot: SchemaSnapshot): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const tmp = `${this.path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(snapshot));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}
