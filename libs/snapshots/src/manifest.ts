import { CorruptSnapshotError } from './errors.ts';

/**
 * What a repository knows of one complete snapshot, stored next to its data (`manifest.json`). Written after the
 * data: a manifest's presence marks a complete snapshot.
 */
export interface SnapshotManifest {
  format: 1;
  /** Unique per snapshot (base62): two snapshots at one applied offset do not collide. */
  id: string;
  partition: number;
  /** The partition's applied log offset the store holds, a u64 in decimal (JSON numbers stop at 2^53). */
  appliedOffset: string;
  /** ISO-8601 time the snapshot was taken. */
  createdAt: string;
  /** The node that took it, for operators. */
  node: string;
  entries: number;
  sizeBytes: number;
  /** Hex sha256 of the data object, whole, as stored. */
  sha256: string;
  /** From capture to the end of the upload. */
  durationMs: number;
}

/** The fields that name a snapshot's place in a repository (a manifest, or an upload that has none yet). */
export type SnapshotKey = Pick<SnapshotManifest, 'partition' | 'appliedOffset' | 'id'>;

const MAX_U64 = (1n << 64n) - 1n;

/** The folder of a snapshot under its partition's: the offset zero-padded so that names sort by offset. */
export function snapshotFolder(key: SnapshotKey): string {
  return `${key.appliedOffset.padStart(20, '0')}-${key.id}`;
}

/** The key of a snapshot folder's name, or undefined for a name that is not one. */
export function parseSnapshotFolder(partition: number, name: string): SnapshotKey | undefined {
  const m = /^(\d{20})-([0-9A-Za-z]+)$/.exec(name);
  if (!m) return undefined;
  return { partition, appliedOffset: BigInt(m[1]).toString(), id: m[2] };
}

/** Parses and checks a manifest; anything else fails with CorruptSnapshotError naming `where`. */
export function parseManifest(text: string, where: string): SnapshotManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CorruptSnapshotError(where, `manifest is not JSON: ${(err as Error).message}`);
  }
  const fail = (what: string): never => {
    throw new CorruptSnapshotError(where, `manifest ${what}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('is not an object');
  const m = raw as Record<string, unknown>;
  if (m.format !== 1) return fail(`has format ${JSON.stringify(m.format)}, this version reads 1`);
  const str = (k: string, re: RegExp) => {
    const v = m[k];
    if (typeof v !== 'string' || !re.test(v)) fail(`field ${k} is ${JSON.stringify(v)}`);
    return v as string;
  };
  const int = (k: string, max: number) => {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max)
      fail(`field ${k} is ${JSON.stringify(v)}`);
    return v as number;
  };
  const appliedOffset = str('appliedOffset', /^(0|[1-9]\d{0,19})$/);
  if (BigInt(appliedOffset) > MAX_U64) fail(`field appliedOffset ${appliedOffset} is not a u64`);
  const createdAt = str('createdAt', /^\d{4}-\d\d-\d\dT/);
  if (Number.isNaN(Date.parse(createdAt))) fail(`field createdAt ${createdAt} is not a time`);
  return {
    format: 1,
    id: str('id', /^[0-9A-Za-z]{1,64}$/),
    partition: int('partition', 0xffff),
    appliedOffset,
    createdAt,
    node: str('node', /^.{0,256}$/s),
    entries: int('entries', Number.MAX_SAFE_INTEGER),
    sizeBytes: int('sizeBytes', Number.MAX_SAFE_INTEGER),
    sha256: str('sha256', /^[0-9a-f]{64}$/),
    durationMs: int('durationMs', Number.MAX_SAFE_INTEGER),
  };
}

/** Newest first: the highest applied offset, then the latest creation time. */
export function newestFirst(a: SnapshotManifest, b: SnapshotManifest): number {
  const d = BigInt(b.appliedOffset) - BigInt(a.appliedOffset);
  if (d !== 0n) return d > 0n ? 1 : -1;
  return Date.parse(b.createdAt) - Date.parse(a.createdAt);
}

/**
 * The applied offset of the oldest of the newest `retain` snapshots among `manifests` (undefined when there
 * are none). The log below it may be trimmed: every snapshot kept by a prune to `retain` stays restorable.
 */
export function retainedFloor(manifests: readonly SnapshotManifest[], retain: number): bigint | undefined {
  if (!Number.isInteger(retain) || retain < 1) throw new RangeError(`retain must be a positive integer, not ${retain}`);
  const kept = [...manifests].sort(newestFirst).slice(0, retain);
  return kept.length === 0 ? undefined : BigInt(kept[kept.length - 1].appliedOffset);
}
