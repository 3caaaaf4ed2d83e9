import { deserialize, serialize } from 'node:v8';
import { ClassicLevel } from 'classic-level';

/**
 * The partition store: one LevelDB holding the tables of many partitions (keys prefixed by partition id).
 * Writes of a batch of applied commands are buffered in an overlay that reads see at once, and are written
 * together with the applied log offset in one LevelDB batch. The store is not fsynced: the log is the
 * source of truth and a partition replays from its last persisted applied offset.
 */
export class StorageEngine {
  readonly db: ClassicLevel<string, Uint8Array>;
  private constructor(db: ClassicLevel<string, Uint8Array>) {
    this.db = db;
  }

  static async open(dir: string): Promise<StorageEngine> {
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    return new StorageEngine(db);
  }

  partition(id: number): PartitionStore {
    return new PartitionStore(this.db, id);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

const DELETED = Symbol('deleted');
type Pending = Uint8Array | typeof DELETED;

export function encodeValue(v: unknown): Uint8Array {
  return serialize(v);
}

export function decodeValue<T>(b: Uint8Array): T {
  return deserialize(b) as T;
}

/** Fixed-width hex so that lexicographic order of keys is numeric order. */
export function hex(n: number | bigint, width: number): string {
  return n.toString(16).padStart(width, '0');
}

export class PartitionStore {
  private readonly db: ClassicLevel<string, Uint8Array>;
  readonly partitionId: number;
  private readonly prefix: string;
  private overlay = new Map<string, Pending>();
  /** Values decoded once per key while they sit in the overlay (reads are hot on the apply path). */
  private decoded = new Map<string, unknown>();
  /**
   * Committed values (null = known absent), least recently used first. This store is the only writer of its
   * partition's keys, so the cache never goes stale; it is bounded by bytes.
   */
  private cache = new Map<string, Uint8Array | null>();
  private cacheBytes = 0;
  private commits = 0;
  private readonly cacheLimit: number;

  constructor(db: ClassicLevel<string, Uint8Array>, partitionId: number, cacheBytes = 8 << 20) {
    this.db = db;
    this.partitionId = partitionId;
    this.cacheLimit = cacheBytes;
    this.prefix = `p${hex(partitionId, 4)}/`;
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  async getRaw(key: string): Promise<Uint8Array | undefined> {
    const full = this.k(key);
    const p = this.overlay.get(full);
    if (p === DELETED) return undefined;
    if (p !== undefined) return p;
    const cached = this.cache.get(full);
    if (cached !== undefined) {
      // Most recently used goes last.
      this.cache.delete(full);
      this.cache.set(full, cached);
      return cached ?? undefined;
    }
    const gen = this.commits;
    const v = (await this.db.get(full)) ?? undefined;
    // Cache only what no commit can have changed while the read was in flight.
    if (gen === this.commits && !this.overlay.has(full)) this.remember(full, v ?? null);
    return v;
  }

  private remember(full: string, v: Uint8Array | null): void {
    const old = this.cache.get(full);
    if (old !== undefined) {
      this.cache.delete(full);
      this.cacheBytes -= (old?.length ?? 0) + full.length;
    }
    const size = (v?.length ?? 0) + full.length;
    if (size > this.cacheLimit / 8) return; // large values are read rarely; keep the cache for many small ones
    this.cache.set(full, v);
    this.cacheBytes += size;
    for (const [k, old2] of this.cache) {
      if (this.cacheBytes <= this.cacheLimit) break;
      this.cache.delete(k);
      this.cacheBytes -= (old2?.length ?? 0) + k.length;
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    const full = this.k(key);
    if (this.decoded.has(full)) return this.decoded.get(full) as T;
    const raw = await this.getRaw(key);
    return raw === undefined ? undefined : decodeValue<T>(raw);
  }

  put(key: string, value: unknown): void {
    const full = this.k(key);
    this.overlay.set(full, encodeValue(value));
    this.decoded.set(full, value);
  }

  putRaw(key: string, value: Uint8Array): void {
    const full = this.k(key);
    this.overlay.set(full, value);
    this.decoded.delete(full);
  }

  del(key: string): void {
    const full = this.k(key);
    this.overlay.set(full, DELETED);
    this.decoded.delete(full);
  }

  /** Entries whose key starts with `prefix`, in key order, merging unflushed writes. */
  async scan(prefix: string, limit = Number.POSITIVE_INFINITY): Promise<[string, Uint8Array][]> {
    const full = this.k(prefix);
    const merged = new Map<string, Uint8Array>();
    for await (const [key, value] of this.db.iterator({ gte: full, lt: `${full}\xff` })) merged.set(key, value);
    for (const [key, value] of this.overlay) {
      if (!key.startsWith(full)) continue;
      if (value === DELETED) merged.delete(key);
      else merged.set(key, value);
    }
    const keys = [...merged.keys()].sort();
    const out: [string, Uint8Array][] = [];
    for (const key of keys) {
      if (out.length >= limit) break;
      out.push([key.slice(this.prefix.length), merged.get(key)!]);
    }
    return out;
  }

  /** Deletes every key under `prefix` (existing and unflushed). */
  async delPrefix(prefix: string): Promise<void> {
    for (const [key] of await this.scan(prefix)) this.del(key);
  }

  get dirty(): boolean {
    return this.overlay.size > 0;
  }

  /** Writes the overlay and the applied offset in one (unsynced) batch. */
  async commit(appliedOffset: bigint): Promise<void> {
    this.put('meta/applied', appliedOffset);
    const ops = [...this.overlay].map(([key, value]) =>
      value === DELETED ? { type: 'del' as const, key } : { type: 'put' as const, key, value },
    );
    this.commits++;
    for (const op of ops) {
      if (op.type === 'del') this.remember(op.key, null);
      else this.remember(op.key, op.value);
    }
    this.overlay = new Map();
    this.decoded = new Map();
    await this.db.batch(ops);
  }

  async appliedOffset(): Promise<bigint | undefined> {
    return this.get<bigint>('meta/applied');
  }
}
