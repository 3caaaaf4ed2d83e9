import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { type CacheStats, ReadCache } from './cache.ts';

type Db = ClassicLevel<Buffer, Uint8Array>;

export interface StorageOptions {
  /** Partitions whose databases are opened (and checked) by `open`; others open on first use. */
  partitions?: number;
  /**
   * LevelDB's cache of uncompressed blocks, per partition database (LevelDB's default is 8 MiB). The partition
   * stores keep their hot values in their read caches, so this one serves cold reads only.
   */
  blockCacheBytes?: number;
  /** LevelDB's memtable size, per partition database (LevelDB's default is 4 MiB). */
  writeBufferBytes?: number;
  /**
   * Time-ordered tables: tables whose keys start (after their one-byte tag) with `orderBytes` bytes that grow
   * with time, such as a creation time. Their rows of every partition live in one shared database, keyed tag,
   * order bytes, partition, rest of the key: new rows land at the end of its key range, so that LevelDB moves
   * new files down its levels without rewriting older ones (a table of random keys in the same database would
   * make every compaction rewrite them). Scans of such a table need a prefix that includes the order bytes.
   */
  orderedTables?: { tag: string; orderBytes: number }[];
  /** LevelDB's memtable size of the shared database of the time-ordered tables (default 4 MiB). */
  orderedWriteBufferBytes?: number;
}

/**
 * The partition stores of a process: one LevelDB per partition, in `<dir>/<partition id>`. Writes of a batch
 * of applied commands are buffered in an overlay that reads see at once, and are written together in one
 * LevelDB batch. The store is not fsynced: the log is the source of truth and a partition replays from its last
 * persisted applied offset.
 *
 * Why one database per partition: LevelDB's compaction work grows with the size of the database it compacts,
 * and a partition's store can be copied, moved or dropped on its own (snapshots, replicas moving between
 * workers). Time-ordered tables of all partitions share one more database (see `orderedTables`).
 *
 * Keys are binary. They travel through this API as "byte strings": JS strings whose every char code is one
 * byte (0..255), so that they can key Maps and compare with `<` in LevelDB's (bytewise) order. The layout of
 * the keys and the encoding of the values belong to the user of the store (see libs/partition/src/tables.ts).
 */
export class StorageEngine {
  private readonly dir: string;
  private readonly opts: StorageOptions;
  private readonly dbs = new Map<number, Db>();
  /** The shared database of the time-ordered tables (`<dir>/ordered`). */
  private readonly ordered: Db;
  private readonly orderedTables: ReadonlyMap<string, number>;
  private constructor(dir: string, opts: StorageOptions) {
    this.dir = dir;
    this.opts = opts;
    this.orderedTables = new Map((opts.orderedTables ?? []).map((t) => [t.tag, t.orderBytes]));
    for (const tag of this.orderedTables.keys()) {
      if (tag.length !== 1 || tag === 'p') throw new Error(`ordered table tag ${JSON.stringify(tag)}: one byte, not p`);
    }
    this.ordered = new ClassicLevel<Buffer, Uint8Array>(join(dir, 'ordered'), {
      keyEncoding: 'buffer',
      valueEncoding: 'view',
      ...(opts.blockCacheBytes === undefined ? {} : { cacheSize: opts.blockCacheBytes }),
      writeBufferSize: opts.orderedWriteBufferBytes ?? 4 << 20,
    });
  }

  static async open(dir: string, opts: StorageOptions = {}): Promise<StorageEngine> {
    const engine = new StorageEngine(dir, opts);
    await engine.splitSharedDatabase();
    await engine.ordered.open();
    // A partition left half restored is not opened here: its first use reports it (see restorePartition).
    const ids = Array.from({ length: opts.partitions ?? 0 }, (_, id) => id).filter((id) => !engine.restoring(id));
    await Promise.all(ids.map((id) => engine.db(id).open()));
    return engine;
  }

  /**
   * The database of a partition, created (and opened in the background: LevelDB defers calls) on first use.
   * Refused while a restore of the partition is unfinished (only `restorePartition` itself passes `restoring`).
   */
  private db(id: number, restoring = false): Db {
    let db = this.dbs.get(id);
    if (!db) {
      if (!restoring && this.restoring(id)) {
        throw new Error(
          `partition ${id}: its store is half restored (${this.restoreMarker(id)} exists: a restore did not finish); restore it again`,
        );
      }
      db = new ClassicLevel<Buffer, Uint8Array>(join(this.dir, String(id)), {
        keyEncoding: 'buffer',
        valueEncoding: 'view',
        ...(this.opts.blockCacheBytes === undefined ? {} : { cacheSize: this.opts.blockCacheBytes }),
        ...(this.opts.writeBufferBytes === undefined ? {} : { writeBufferSize: this.opts.writeBufferBytes }),
      });
      this.dbs.set(id, db);
    }
    return db;
  }

  /**
   * Stores written before one database per partition kept every partition in one LevelDB at `dir` (keys
   * prefixed `p<hex id>/`, as they still are). Moves each partition's keys to its own database; a crash in
   * between repeats the copy (puts of the same keys) from the old database, which goes only at the end.
   */
  private async splitSharedDatabase(): Promise<void> {
    const old = `${this.dir}.shared-v1`;
    if (existsSync(join(this.dir, 'CURRENT'))) renameSync(this.dir, old);
    if (!existsSync(old)) return;
    const shared: Db = new ClassicLevel<Buffer, Uint8Array>(old, { keyEncoding: 'buffer', valueEncoding: 'view' });
    await shared.open();
    const batches = new Map<number, { type: 'put'; key: Buffer; value: Uint8Array }[]>();
    const flush = async (id: number) => {
      const ops = batches.get(id) ?? [];
      batches.delete(id);
      if (ops.length > 0) await this.db(id).batch(ops);
    };
    try {
      for await (const [key, value] of shared.iterator()) {
        const m = /^p([0-9a-f]{4})\//.exec(key.toString('latin1', 0, 6));
        if (!m) continue;
        const id = Number.parseInt(m[1], 16);
        const ops = batches.get(id) ?? [];
        ops.push({ type: 'put', key, value });
        batches.set(id, ops);
        if (ops.length >= 1000) await flush(id);
      }
      for (const id of [...batches.keys()]) await flush(id);
      // Durable before the old database goes.
      for (const db of this.dbs.values()) await db.put(Buffer.from('\u0000split'), new Uint8Array(0), { sync: true });
    } finally {
      await shared.close();
    }
    rmSync(old, { recursive: true, force: true });
  }

  /** LevelDB's own figures (memory, table sizes, compaction work), summed over the databases. */
  stats(): LeveldbStats {
    const sum: LeveldbStats = { memoryBytes: 0, tableBytes: 0, compactionReadBytes: 0, compactionWrittenBytes: 0 };
    for (const db of [this.ordered, ...this.dbs.values()]) {
      const s = leveldbStats(db);
      sum.memoryBytes += s.memoryBytes;
      sum.tableBytes += s.tableBytes;
      sum.compactionReadBytes += s.compactionReadBytes;
      sum.compactionWrittenBytes += s.compactionWrittenBytes;
    }
    return sum;
  }

  /**
   * The store of partition `id`, its database opened first (a worker opens only the partitions it hosts: the
   * others' databases are never touched). An error opening it (a corrupt or locked database) rejects here.
   */
  async openPartition(id: number, cacheBytes?: number): Promise<PartitionStore> {
    checkPartitionId(id);
    await this.db(id).open();
    return this.partition(id, cacheBytes);
  }

  /**
   * Closes the database of partition `id` (a worker no longer hosts it); its stores must not be used any more.
   * A later `partition`/`openPartition` opens it again.
   */
  async closePartition(id: number): Promise<void> {
    const db = this.dbs.get(id);
    if (!db) return;
    this.dbs.delete(id);
    await db.close();
  }

  /** The partitions whose databases are open (or opening). */
  get openPartitions(): number[] {
    return [...this.dbs.keys()].sort((a, b) => a - b);
  }

  partition(id: number, cacheBytes?: number): PartitionStore {
    checkPartitionId(id);
    return new PartitionStore(
      { main: this.db(id), ordered: this.ordered, orderedTables: this.orderedTables },
      id,
      cacheBytes,
    );
  }

  /**
   * A consistent view of partition `id`'s store: LevelDB snapshots of its database and of the shared database
   * of the time-ordered tables, taken together, synchronously. The two databases have no common transaction,
   * so the caller takes the view when no commit of the partition is in flight (the view then holds exactly
   * the commits made before it); writes made after the call are not in it. The partition's database must be
   * open. The view pins old LevelDB files until `release()`.
   */
  snapshotPartition(id: number): PartitionSnapshotView {
    checkPartitionId(id);
    const main = this.dbs.get(id);
    if (main?.status !== 'open') throw new Error(`partition ${id}: its database is not open, cannot snapshot it`);
    if (this.ordered.status !== 'open') throw new Error(`partition ${id}: the shared ordered database is not open`);
    const mainSnapshot = main.snapshot();
    let orderedSnapshot: LevelSnapshot;
    try {
      orderedSnapshot = this.ordered.snapshot();
    } catch (err) {
      void mainSnapshot.close();
      throw err;
    }
    return new SnapshotView(
      { db: main, snapshot: mainSnapshot },
      { db: this.ordered, snapshot: orderedSnapshot },
      partitionPrefix(id),
      this.orderedTables,
    );
  }

  /**
   * Replaces partition `id`'s store with `entries` (a view's entries, e.g. read back from a snapshot file).
   * Nobody may use the partition meanwhile: its database is closed first if open, and stores handed out
   * before must not be used again. The partition's database is wiped, its rows in the shared database deleted,
   * then the entries written in batches and made durable with a synced write. The database is left closed:
   * `openPartition(id)` opens the restored store.
   *
   * An entry of another partition (a key without this partition's prefix where it belongs) fails the restore;
   * the first entry is checked before anything is wiped, so a snapshot of another partition leaves the store as it was.
   * A marker file `<dir>/<id>.restoring` exists from before the wipe until the restored store is durable; while
   * it exists (a crash or a failure in between) the partition is refused on use, and the caller restores again.
   */
  async restorePartition(id: number, entries: AsyncIterable<SnapshotEntry>): Promise<void> {
    checkPartitionId(id);
    const prefix = Buffer.from(partitionPrefix(id), 'latin1');
    // The first entry is checked before anything is wiped: a snapshot of another partition (the likely mistake)
    // fails with the store untouched. Later entries are checked as they come.
    const source = entries[Symbol.asyncIterator]();
    const first = await source.next();
    if (!first.done) this.checkEntry(id, prefix, first.value);
    const rest: AsyncIterable<SnapshotEntry> = {
      [Symbol.asyncIterator]: () => source,
    };
    async function* all(): AsyncIterable<SnapshotEntry> {
      if (!first.done) yield first.value;
      yield* rest;
    }
    await this.closePartition(id);
    writeDurably(this.restoreMarker(id), `restore of partition ${id} started ${new Date().toISOString()}\n`);
    rmSync(join(this.dir, String(id)), { recursive: true, force: true });
    await this.deleteOrderedRows(prefix);
    const main = this.db(id, true);
    try {
      await main.open();
      await this.writeEntries(id, prefix, main, all());
      // One synced write per database fsyncs its write-ahead log, and with it every batch before. Deletes of
      // keys outside every partition's key space: they leave no trace in the restored store.
      await main.del(RESTORE_SYNC_KEY, { sync: true });
      await this.ordered.del(Buffer.concat([RESTORE_SYNC_KEY, prefix]), { sync: true });
    } finally {
      await this.closePartition(id);
    }
    rmSync(this.restoreMarker(id));
    fsyncDir(this.dir);
  }

  /** Whether a restore of partition `id` started and did not finish. */
  restoring(id: number): boolean {
    return existsSync(this.restoreMarker(id));
  }

  private restoreMarker(id: number): string {
    return join(this.dir, `${id}.restoring`);
  }

  /** Deletes the rows of the partition of `prefix` from every time-ordered table of the shared database. */
  private async deleteOrderedRows(prefix: Buffer): Promise<void> {
    for (const [tag, orderBytes] of this.orderedTables) {
      const it = this.ordered.iterator({ ...tagRange(tag), values: false });
      try {
        for (;;) {
          const rows = await it.nextv(BATCH_ENTRIES);
          if (rows.length === 0) break;
          const ops = rows
            .filter(([key]) => hasPrefixAt(key, prefix, 1 + orderBytes))
            .map(([key]) => ({ type: 'del' as const, key }));
          if (ops.length > 0) await this.ordered.batch(ops);
        }
      } finally {
        await it.close();
      }
    }
  }

  /** The key of a restored entry as a Buffer, once checked to belong to partition `id` (of `prefix`). */
  private checkEntry(id: number, prefix: Buffer, entry: SnapshotEntry): Buffer {
    const key = Buffer.from(entry.key.buffer, entry.key.byteOffset, entry.key.byteLength);
    if (entry.db === 'main') {
      if (!hasPrefixAt(key, prefix, 0)) throw wrongPartition(id, entry);
    } else if (entry.db === 'ordered') {
      const orderBytes = this.orderedTables.get(String.fromCharCode(key[0]));
      if (orderBytes === undefined || !hasPrefixAt(key, prefix, 1 + orderBytes)) throw wrongPartition(id, entry);
    } else {
      throw new Error(`restore of partition ${id}: entry of unknown database ${JSON.stringify(entry.db)}`);
    }
    return key;
  }

  /** Writes restored entries in batches, checking that each belongs to the partition of `prefix`. */
  private async writeEntries(
    id: number,
    prefix: Buffer,
    main: Db,
    entries: AsyncIterable<SnapshotEntry>,
  ): Promise<void> {
    type Put = { type: 'put'; key: Buffer; value: Uint8Array };
    let mainOps: Put[] = [];
    let orderedOps: Put[] = [];
    for await (const entry of entries) {
      const key = this.checkEntry(id, prefix, entry);
      if (entry.db === 'main') {
        mainOps.push({ type: 'put', key, value: entry.value });
        if (mainOps.length >= BATCH_ENTRIES) {
          await main.batch(mainOps);
          mainOps = [];
        }
      } else {
        orderedOps.push({ type: 'put', key, value: entry.value });
        if (orderedOps.length >= BATCH_ENTRIES) {
          await this.ordered.batch(orderedOps);
          orderedOps = [];
        }
      }
    }
    if (mainOps.length > 0) await main.batch(mainOps);
    if (orderedOps.length > 0) await this.ordered.batch(orderedOps);
  }

  async close(): Promise<void> {
    await Promise.all([this.ordered, ...this.dbs.values()].map((db) => db.close()));
  }
}

/** Entries read or written per LevelDB call when copying a partition's store. */
const BATCH_ENTRIES = 1000;
/** A key outside the partitions' key spaces and the ordered tables, deleted with a synced write to end a restore. */
const RESTORE_SYNC_KEY = Buffer.from('\u0000restore/', 'latin1');

type LevelSnapshot = ReturnType<Db['snapshot']>;

/** One key-value pair of a partition's store, as stored in its database (`main`) or the shared one (`ordered`). */
export interface SnapshotEntry {
  db: 'main' | 'ordered';
  key: Uint8Array;
  value: Uint8Array;
}

/** A consistent read-only view of one partition's store (see `StorageEngine.snapshotPartition`). */
export interface PartitionSnapshotView {
  /**
   * Every entry of the partition: its keys in its own database (those under its `p<hex id>/` prefix), then its
   * rows of the time-ordered tables in the shared database; each database's keys in key order. Can be iterated
   * more than once, until `release()`.
   */
  entries(): AsyncIterable<SnapshotEntry>;
  /** Releases the LevelDB snapshots (idempotent). */
  release(): Promise<void>;
}

class SnapshotView implements PartitionSnapshotView {
  private readonly main: { db: Db; snapshot: LevelSnapshot };
  private readonly ordered: { db: Db; snapshot: LevelSnapshot };
  private readonly prefix: string;
  private readonly orderedTables: ReadonlyMap<string, number>;
  private released = false;

  constructor(
    main: { db: Db; snapshot: LevelSnapshot },
    ordered: { db: Db; snapshot: LevelSnapshot },
    prefix: string,
    orderedTables: ReadonlyMap<string, number>,
  ) {
    this.main = main;
    this.ordered = ordered;
    this.prefix = prefix;
    this.orderedTables = orderedTables;
  }

  async *entries(): AsyncIterable<SnapshotEntry> {
    const prefix = Buffer.from(this.prefix, 'latin1');
    const end = prefixEnd(this.prefix)!;
    yield* this.read('main', this.main, { gte: prefix, lt: Buffer.from(end, 'latin1') }, () => true);
    // Tags in byte order, so that the rows come in the shared database's key order.
    for (const [tag, orderBytes] of [...this.orderedTables].sort(([a], [b]) => (a < b ? -1 : 1))) {
      yield* this.read('ordered', this.ordered, tagRange(tag), (key) => hasPrefixAt(key, prefix, 1 + orderBytes));
    }
  }

  private async *read(
    which: SnapshotEntry['db'],
    from: { db: Db; snapshot: LevelSnapshot },
    range: { gte: Buffer; lt: Buffer },
    ours: (key: Buffer) => boolean,
  ): AsyncIterable<SnapshotEntry> {
    if (this.released) throw new Error('partition snapshot view used after release()');
    const it = from.db.iterator({ ...range, snapshot: from.snapshot });
    try {
      for (;;) {
        const rows = await it.nextv(BATCH_ENTRIES);
        if (rows.length === 0) return;
        for (const [key, value] of rows) if (ours(key)) yield { db: which, key, value };
      }
    } finally {
      await it.close();
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all([this.main.snapshot.close(), this.ordered.snapshot.close()]);
  }
}

function partitionPrefix(id: number): string {
  return `p${hex(id, 4)}/`;
}

/** The key range of one time-ordered table in the shared database (keys there start with the tag). */
function tagRange(tag: string): { gte: Buffer; lt: Buffer } {
  const code = tag.charCodeAt(0);
  return { gte: Buffer.from([code]), lt: Buffer.from([code + 1]) };
}

function hasPrefixAt(key: Uint8Array, prefix: Uint8Array, at: number): boolean {
  if (key.length < at + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[at + i] !== prefix[i]) return false;
  return true;
}

function wrongPartition(id: number, entry: SnapshotEntry): Error {
  const key = printableKey(Buffer.from(entry.key).toString('latin1'));
  return new Error(
    `restore of partition ${id}: ${entry.db} entry ${key} does not belong to partition ${id} (a snapshot of another partition?)`,
  );
}

/** Writes a small file and makes it and its name durable (fsync of the file, then of its directory). */
function writeDurably(path: string, text: string): void {
  writeFileSync(path, text, { flush: true });
  fsyncDir(join(path, '..'));
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Partition ids are 16-bit: their keys carry them as four hex digits. */
function checkPartitionId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`bad partition id ${id}`);
}

/** What LevelDB says about one database (zeros when it cannot say, e.g. closed). */
export interface LeveldbStats {
  /** Memtables and block cache (LevelDB's estimate). */
  memoryBytes: number;
  /** Bytes in table files, all levels (LevelDB reports whole MiB). */
  tableBytes: number;
  /** Bytes read and written by background compactions since the database opened (whole MiB per level). */
  compactionReadBytes: number;
  compactionWrittenBytes: number;
}

const MIB = 1024 * 1024;

export function leveldbStats(db: { getProperty(name: string): string }): LeveldbStats {
  const out: LeveldbStats = { memoryBytes: 0, tableBytes: 0, compactionReadBytes: 0, compactionWrittenBytes: 0 };
  try {
    out.memoryBytes = Number(db.getProperty('leveldb.approximate-memory-usage')) || 0;
    // Rows of "Level Files Size(MB) Time(sec) Read(MB) Write(MB)", one per level that has files or work.
    for (const line of db.getProperty('leveldb.stats').split('\n')) {
      const cols = line.trim().split(/\s+/).map(Number);
      if (cols.length !== 6 || cols.some((c) => !Number.isFinite(c))) continue;
      out.tableBytes += cols[2] * MIB;
      out.compactionReadBytes += cols[4] * MIB;
      out.compactionWrittenBytes += cols[5] * MIB;
    }
  } catch {
    // closed: zeros
  }
  return out;
}

/** Encodes and decodes one table's values. `decode` throws on bytes that are not a valid value. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** A stored value that does not decode: the store is corrupt or written by an incompatible version. */
export class CorruptValueError extends Error {
  readonly key: string;
  constructor(key: string, cause: unknown) {
    super(
      `partition store value at key ${printableKey(key)} does not decode: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'CorruptValueError';
    this.key = key;
  }
}

/** A key for messages: printable ASCII as is, other bytes as \xNN. */
export function printableKey(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x5c ? key[i] : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The smallest byte string greater than every string that starts with `prefix` (undefined: none). */
export function prefixEnd(prefix: string): string | undefined {
  let end = prefix;
  while (end.length > 0) {
    const last = end.charCodeAt(end.length - 1);
    if (last < 0xff) return end.slice(0, -1) + String.fromCharCode(last + 1);
    end = end.slice(0, -1);
  }
  return undefined;
}

const DELETED = Symbol('deleted');
/** The key (under a partition's prefix, outside every table: tables are letters) written by `sync()`. */
const SYNC_MARKER = '\u0000sync';
const EMPTY_VALUE = new Uint8Array(0);
type Pending = Uint8Array | typeof DELETED;

/** Fixed-width hex so that lexicographic order of keys is numeric order. */
function hex(n: number | bigint, width: number): string {
  return n.toString(16).padStart(width, '0');
}

const toBuf = (key: string) => Buffer.from(key, 'latin1');

/**
 * Keys inside the store are "full keys": the partition's prefix then the table key, for the partition's own
 * database; ORDERED then tag, order bytes, prefix, rest, for the shared database of time-ordered tables.
 */
const ORDERED = '\u0001';

/** Entries a scan reads from LevelDB at once. */
const SCAN_BATCH_ENTRIES = 1000;

/** Options of PartitionStore.scan. */
export interface ScanOptions {
  /** Only keys strictly greater than this (a cursor: the last key of the previous page). */
  after?: string;
  /**
   * Every key in the range is ASCII (a table keyed by ids): LevelDB is read with string keys, which cost less
   * than bytes. A key that is not ASCII fails the scan.
   */
  asciiKeys?: boolean;
}

const isAscii = (s: string): boolean => !/[\u0080-\uffff]/.test(s);

function checkedAscii(key: string): string {
  if (!isAscii(key)) throw new Error(`a scan of ASCII keys met key ${JSON.stringify(key)}`);
  return key;
}

/** The bounds of a range as (ASCII) strings, for an iterator with string keys. */
function asciiBounds(range: { gt?: Buffer; gte?: Buffer; lt?: Buffer }) {
  const out: { gt?: string; gte?: string; lt?: string } = {};
  if (range.gt) out.gt = range.gt.toString('latin1');
  if (range.gte) out.gte = range.gte.toString('latin1');
  if (range.lt) out.lt = range.lt.toString('latin1');
  return out;
}

/** Where a partition's tables live (see StorageOptions.orderedTables). */
export interface PartitionDatabases {
  main: Db;
  ordered: Db;
  orderedTables: ReadonlyMap<string, number>;
}

export class PartitionStore {
  private readonly db: Db;
  private readonly ordered: Db;
  private readonly orderedTables: ReadonlyMap<string, number>;
  readonly partitionId: number;
  private readonly prefix: string;
  /** Writes not yet handed to LevelDB. */
  private overlay = new Map<string, Pending>();
  /**
   * Writes of the commits in flight, oldest first: visible to reads until LevelDB has them (then the cache or
   * LevelDB answers). Commits are written one after the other, in the order they were made.
   */
  private flushing: Map<string, Pending>[] = [];
  /** The last commit made (settles after every earlier one), and the error that stopped the commits, if any. */
  private lastCommit: Promise<void> = Promise.resolve();
  private commitError: unknown;
  /** Values decoded once per key while they sit in the overlay (reads are hot on the apply path). */
  private decoded = new Map<string, unknown>();
  /** Previous overlay values of the keys written since the savepoint (absent key: `undefined`). */
  private undo: Map<string, Pending | undefined> | undefined;
  /**
   * Committed values. This store is the only writer of its partition's keys, so the cache never goes stale;
   * it is bounded by what its entries cost, and deleted or absent keys are not in it.
   */
  private readonly cache: ReadCache;
  private commits = 0;
  /** Entries read from LevelDB iterators (scans), for tests and metrics. */
  entriesScanned = 0;
  /** Puts and deletes handed to LevelDB by commits (after the overlay collapsed rewrites of a key). */
  keysCommitted = 0;

  constructor(dbs: PartitionDatabases, partitionId: number, cacheBytes = 8 << 20) {
    this.db = dbs.main;
    this.ordered = dbs.ordered;
    this.orderedTables = dbs.orderedTables;
    this.partitionId = partitionId;
    this.cache = new ReadCache(cacheBytes);
    this.prefix = partitionPrefix(partitionId);
  }

  /** The full key of a table key (a prefix of a table key maps to a prefix of full keys, see `scan`). */
  private k(key: string): string {
    const orderBytes = this.orderedTables.get(key[0]);
    if (orderBytes === undefined) return this.prefix + key;
    const at = 1 + orderBytes;
    if (key.length < at) throw new Error(`a key of ordered table ${key[0]} needs its ${orderBytes} order bytes`);
    return ORDERED + key.slice(0, at) + this.prefix + key.slice(at);
  }

  /** The table key of a full key. */
  private local(full: string): string {
    if (full[0] !== ORDERED) return full.slice(this.prefix.length);
    const at = 2 + this.orderedTables.get(full[1])!;
    return full.slice(1, at) + full.slice(at + this.prefix.length);
  }

  /** The database of a full key, and the key there. */
  private where(full: string): { db: Db; key: Buffer } {
    return full[0] === ORDERED ? { db: this.ordered, key: toBuf(full.slice(1)) } : { db: this.db, key: toBuf(full) };
  }

  private pending(full: string): Pending | undefined {
    const p = this.overlay.get(full);
    if (p !== undefined) return p;
    for (let i = this.flushing.length - 1; i >= 0; i--) {
      const f = this.flushing[i].get(full);
      if (f !== undefined) return f;
    }
    return undefined;
  }

  async getRaw(key: string): Promise<Uint8Array | undefined> {
    const full = this.k(key);
    const p = this.pending(full);
    if (p === DELETED) return undefined;
    if (p !== undefined) return p;
    const cached = this.cache.get(full);
    if (cached !== undefined) return cached;
    const gen = this.commits;
    const { db, key: dbKey } = this.where(full);
    const v = (await db.get(dbKey)) ?? undefined;
    // Cache only what no commit can have changed while the read was in flight.
    if (v !== undefined && gen === this.commits && this.pending(full) === undefined) this.cache.set(full, v);
    return v;
  }

  /** Entries and bytes of the read cache, with its hit and eviction counters. */
  cacheStats(): CacheStats {
    return this.cache.stats();
  }

  /** The value at `key` decoded by `codec`; throws CorruptValueError (naming the key) when it does not decode. */
  async get<T>(key: string, codec: Codec<T>): Promise<T | undefined> {
    const full = this.k(key);
    if (this.decoded.has(full)) return this.decoded.get(full) as T;
    const raw = await this.getRaw(key);
    return raw === undefined ? undefined : decodeAt(key, raw, codec);
  }

  put<T>(key: string, value: T, codec: Codec<T>): void {
    const full = this.k(key);
    this.write(full, codec.encode(value));
    this.decoded.set(full, value);
  }

  putRaw(key: string, value: Uint8Array): void {
    this.write(this.k(key), value);
  }

  del(key: string): void {
    this.write(this.k(key), DELETED);
  }

  private write(full: string, value: Pending): void {
    if (this.undo && !this.undo.has(full)) this.undo.set(full, this.overlay.get(full));
    this.overlay.set(full, value);
    this.decoded.delete(full);
  }

  /**
   * Marks the current overlay so that `rollback()` can undo every write made after it (one command's writes).
   * A new savepoint replaces the previous one.
   */
  savepoint(): void {
    this.undo = new Map();
  }

  /** Undoes the writes made since `savepoint()`. */
  rollback(): void {
    if (!this.undo) throw new Error('rollback without a savepoint');
    for (const [full, prev] of this.undo) {
      if (prev === undefined) this.overlay.delete(full);
      else this.overlay.set(full, prev);
    }
    this.undo = new Map();
    // Decoded values may have been changed in place by the rolled back command: decode again from the bytes.
    this.decoded = new Map();
  }

  /**
   * Entries whose key starts with `prefix`, in key order, merging unflushed writes; at most `limit` of them;
   * with `after`, only keys strictly greater than it (a cursor: the last key of the previous page).
   * LevelDB is read lazily from the start of the range: a scan with a small limit reads only about that many
   * entries, wherever `after` puts the start. The view is that of the call: writes made after it are not seen.
   */
  async scan(
    prefix: string,
    limit = Number.POSITIVE_INFINITY,
    options: ScanOptions = {},
  ): Promise<[string, Uint8Array][]> {
    const out: [string, Uint8Array][] = [];
    if (limit <= 0) return out;
    // A prefix of an ordered table that stops before its order bytes spans every partition's rows in the
    // shared database: those of this partition are picked out (a full scan of the table: for tests and tools).
    const orderBytes = this.orderedTables.get(prefix[0]);
    const across = orderBytes !== undefined && prefix.length < 1 + orderBytes;
    const full = across ? ORDERED + prefix : this.k(prefix);
    const ours = across ? (key: string) => key.startsWith(this.prefix, 2 + orderBytes) : (_key: string) => true;
    const end = prefixEnd(full);
    // The start bound: after the cursor when it lies inside the prefix's range, else the prefix itself.
    const after = options.after === undefined ? undefined : this.k(options.after);
    const startAfter = after !== undefined && after >= full ? after : undefined;
    if (startAfter !== undefined && end !== undefined && startAfter >= end) return out;
    const inRange = (key: string) =>
      key.startsWith(full) && (startAfter === undefined || key > startAfter) && ours(key);
    // Pending writes in the range, newest first wins (overlay over flushing), sorted.
    const pending = new Map<string, Pending>();
    for (const batch of this.flushing) for (const [key, value] of batch) if (inRange(key)) pending.set(key, value);
    for (const [key, value] of this.overlay) if (inRange(key)) pending.set(key, value);
    const pendingKeys = [...pending.keys()].sort();
    let pi = 0;
    const emit = (key: string, value: Uint8Array) => out.push([this.local(key), value]);
    /** Emits pending puts with keys below `bound` (all when undefined); false once the limit is reached. */
    const emitPendingBelow = (bound: string | undefined): boolean => {
      while (pi < pendingKeys.length && (bound === undefined || pendingKeys[pi] < bound)) {
        const key = pendingKeys[pi++];
        const v = pending.get(key)!;
        if (v !== DELETED) emit(key, v);
        if (out.length >= limit) return false;
      }
      return true;
    };
    const { db, key: from } = this.where(startAfter ?? full);
    const start = startAfter === undefined ? { gte: from } : { gt: from };
    const range = end === undefined ? start : { ...start, lt: this.where(end).key };
    const marker = full[0] === ORDERED ? ORDERED : '';
    // Keys as strings cost LevelDB's binding much less than as bytes; only ASCII keys read the same either way.
    const ascii = options.asciiKeys === true && isAscii(full) && (end === undefined || isAscii(end));
    const it = ascii
      ? db.iterator<string, Uint8Array>({ ...asciiBounds(range), keyEncoding: 'utf8' })
      : db.iterator(range);
    try {
      // In batches (nextv): one promise per batch instead of one per entry, for scans of whole tables.
      for (;;) {
        const entries = await it.nextv(Math.max(1, Math.min(SCAN_BATCH_ENTRIES, limit - out.length)));
        if (entries.length === 0) break;
        for (const [kb, value] of entries) {
          this.entriesScanned++;
          const key = marker + (typeof kb === 'string' ? checkedAscii(kb) : kb.toString('latin1'));
          if (!ours(key)) continue;
          if (!emitPendingBelow(key)) return out;
          if (pending.has(key)) continue; // a pending write (already emitted, or a delete) replaces it
          emit(key, value);
          if (out.length >= limit) return out;
        }
      }
    } finally {
      await it.close();
    }
    emitPendingBelow(undefined);
    return out;
  }

  /** Deletes every key under `prefix` (existing and unflushed). */
  async delPrefix(prefix: string): Promise<void> {
    for (const [key] of await this.scan(prefix)) this.del(key);
  }

  get dirty(): boolean {
    return this.overlay.size > 0;
  }

  /** Keys written and not yet handed to LevelDB (the overlay's size). */
  get pendingWrites(): number {
    return this.overlay.size;
  }

  /**
   * Makes every batch committed so far durable: waits for the commits in flight, then one synced write per
   * database (it fsyncs LevelDB's write-ahead log, which holds all earlier unsynced writes too). What was
   * committed before the call survives a machine crash, so the log below its applied offset is no longer needed.
   */
  async sync(): Promise<void> {
    await this.flushed();
    await Promise.all([
      this.db.put(toBuf(`${this.prefix}${SYNC_MARKER}`), EMPTY_VALUE, { sync: true }),
      this.ordered.put(toBuf(`${SYNC_MARKER}/${this.prefix}`), EMPTY_VALUE, { sync: true }),
    ]);
  }

  /** Resolves once every commit made so far is in LevelDB; rejects if one failed. */
  async flushed(): Promise<void> {
    await this.lastCommit;
    if (this.commitError !== undefined) throw this.commitError;
  }

  /**
   * Hands the overlay to LevelDB as one (unsynced) batch, written after the commits before it; resolves once it
   * is written. Its writes stay visible to reads until then, and the next writes go to a fresh overlay at once,
   * so the caller need not wait. After a failed commit every later one fails too (the store no longer matches
   * the order of its writes).
   */
  commit(): Promise<void> {
    this.undo = undefined;
    const batch = this.overlay;
    this.overlay = new Map();
    this.decoded = new Map();
    this.flushing.push(batch);
    this.commits++;
    this.keysCommitted += batch.size;
    const previous = this.lastCommit;
    const done = (async () => {
      await previous;
      try {
        if (this.commitError !== undefined) throw this.commitError;
        await this.writeBatch(batch);
      } catch (err) {
        this.commitError ??= err;
        throw err;
      } finally {
        // Commits finish in order: this batch is the oldest in flight.
        this.flushing.shift();
      }
    })();
    this.lastCommit = done.catch(() => {});
    return done;
  }

  private async writeBatch(batch: Map<string, Pending>): Promise<void> {
    type Op = { type: 'del'; key: Buffer } | { type: 'put'; key: Buffer; value: Uint8Array };
    const main: Op[] = [];
    const orderedPuts: Op[] = [];
    const orderedDels: Op[] = [];
    for (const [full, value] of batch) {
      const { db, key } = this.where(full);
      const op: Op = value === DELETED ? { type: 'del', key } : { type: 'put', key, value };
      if (db === this.db) main.push(op);
      else (value === DELETED ? orderedDels : orderedPuts).push(op);
    }
    // Two databases, no transaction across them. Rows of ordered tables are written before the batch that
    // holds the applied offset, so that a replay after a crash finds them (writing them again is harmless);
    // their deletions only after it, so that a replayed command never misses a row a later one deleted. A
    // crash between the last two writes leaves deleted rows behind: unreachable, never read again.
    if (orderedPuts.length > 0) await this.ordered.batch(orderedPuts);
    if (main.length > 0) await this.db.batch(main);
    if (orderedDels.length > 0) await this.ordered.batch(orderedDels);
    // Cache before the flushing writes become invisible, so that no read falls through to a stale value. A
    // newer commit in flight may hold newer values of these keys: reads see it before the cache.
    for (const [key, value] of batch) {
      if (value === DELETED) this.cache.delete(key);
      else this.cache.set(key, value);
    }
  }
}

function decodeAt<T>(key: string, raw: Uint8Array, codec: Codec<T>): T {
  try {
    return codec.decode(raw);
  } catch (err) {
    throw new CorruptValueError(key, err);
  }
}
