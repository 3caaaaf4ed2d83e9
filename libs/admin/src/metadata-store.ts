// The schema (deployments, services) in the metadata store, shared by every admin, worker and ingress process.
import { rename } from 'node:fs/promises';
import { type MetadataClient, Precondition } from '@stead/metadata';
import { FileSchemaStore, SchemaConflictError, type SchemaSnapshot, type SchemaStore } from './store.ts';

/** The metadata key holding the schema. */
export const SCHEMA_KEY = 'schema';

/** Tells a schema envelope from anything else stored under the key. */
const ENVELOPE_FORMAT = 'stead.schema';
const ENVELOPE_VERSION = 1;

interface Envelope {
  format: typeof ENVELOPE_FORMAT;
  formatVersion: typeof ENVELOPE_VERSION;
  snapshot: SchemaSnapshot;
}

export function encodeSchemaEnvelope(snapshot: SchemaSnapshot): Uint8Array {
  const env: Envelope = { format: ENVELOPE_FORMAT, formatVersion: ENVELOPE_VERSION, snapshot };
  return new TextEncoder().encode(JSON.stringify(env));
}

/** Decodes and checks an envelope; anything else is an error naming `key`. */
export function decodeSchemaEnvelope(key: string, bytes: Uint8Array): SchemaSnapshot {
  const bad = (why: string) => new Error(`metadata key '${key}' does not hold a schema snapshot: ${why}`);
  let env: Partial<Envelope>;
  try {
    env = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Partial<Envelope>;
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (env === null || typeof env !== 'object' || env.format !== ENVELOPE_FORMAT) throw bad('not a schema envelope');
  if (env.formatVersion !== ENVELOPE_VERSION) throw bad(`unknown envelope version ${String(env.formatVersion)}`);
  const snap = env.snapshot;
  if (
    snap === null ||
    typeof snap !== 'object' ||
    snap.formatVersion !== 1 ||
    !Number.isInteger(snap.version) ||
    typeof snap.revisions !== 'object' ||
    snap.revisions === null ||
    !Array.isArray(snap.deployments) ||
    snap.deployments.some((d) => typeof d?.deployment?.id !== 'string' || !Array.isArray(d.services))
  ) {
    throw bad('malformed snapshot');
  }
  return snap;
}

export interface MetadataSchemaStoreOptions {
  client: MetadataClient;
  /**
   * A schema file of the one-process server (`<dataDir>/schema.json`): imported once when the key is empty, then
   * renamed to `<file>.imported` so that it is never imported again.
   */
  legacyFile?: string;
  /** Also re-reads the key this often as a backstop for the watch (default 10 s). */
  pollMs?: number;
}

/**
 * Keeps the schema under the metadata key `schema`, in a versioned JSON envelope. A save is conditional on the
 * version last loaded or saved: when another process saved in between, it fails with `SchemaConflictError` (the
 * registry then reloads and applies its change again), so two admins never overwrite each other.
 *
 * Load and save are called by one registry, one at a time (its lock), so the base version always matches what the
 * registry holds in memory.
 */
export class MetadataSchemaStore implements SchemaStore {
  private readonly client: MetadataClient;
  private readonly legacyFile: string | undefined;
  private readonly pollMs: number;
  /** Metadata version of the snapshot the registry holds (0: none). */
  private baseVersion = 0;

  constructor(opts: MetadataSchemaStoreOptions) {
    this.client = opts.client;
    this.legacyFile = opts.legacyFile;
    this.pollMs = opts.pollMs ?? 10_000;
  }

  async load(): Promise<SchemaSnapshot | undefined> {
    const cur = await this.client.get(SCHEMA_KEY);
    if (cur) {
      const snap = decodeSchemaEnvelope(SCHEMA_KEY, cur.value);
      this.baseVersion = cur.version;
      return snap;
    }
    this.baseVersion = 0;
    return this.importLegacy();
  }

  async save(snapshot: SchemaSnapshot): Promise<void> {
    const pre = this.baseVersion > 0 ? Precondition.matchesVersion(this.baseVersion) : Precondition.doesNotExist;
    try {
      this.baseVersion = await this.client.put(SCHEMA_KEY, encodeSchemaEnvelope(snapshot), pre);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'precondition-failed')
        throw new SchemaConflictError(`the schema was changed by another process (key '${SCHEMA_KEY}')`);
      throw e;
    }
  }

  /** Calls `onChange` when the key holds a version other than the one loaded or saved last. */
  watch(onChange: () => void): () => void {
    const nudge = (version: number) => {
      if (version !== this.baseVersion) onChange();
    };
    const handle = this.client.watch(SCHEMA_KEY, 0, (e) => nudge(e.version));
    const poll = setInterval(() => {
      this.client.get(SCHEMA_KEY).then(
        (v) => nudge(v?.version ?? 0),
        () => {}, // the watch is still there; the next poll tries again
      );
    }, this.pollMs);
    poll.unref();
    return () => {
      clearInterval(poll);
      handle.close();
    };
  }

  /** The legacy file's snapshot, stored under the key unless another process got there first. */
  private async importLegacy(): Promise<SchemaSnapshot | undefined> {
    if (this.legacyFile === undefined) return undefined;
    const snap = await new FileSchemaStore(this.legacyFile).load();
    if (snap === undefined) return undefined;
    try {
      this.baseVersion = await this.client.put(SCHEMA_KEY, encodeSchemaEnvelope(snap), Precondition.doesNotExist);
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'precondition-failed') throw e;
      return this.load(); // imported by another process meanwhile
    }
    await rename(this.legacyFile, `${this.legacyFile}.imported`);
    return snap;
  }
}
