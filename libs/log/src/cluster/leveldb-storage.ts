import { ClassicLevel } from 'classic-level';
import type { LogServerStorage, StorageBatch } from '../replicated/log-server-core.ts';
import type { LogletId, LogletState, StoredRecord } from '../replicated/types.ts';
import { TrimCompactor } from '../trim-compactor.ts';

const SEP = '\u0000';
const IDENTITY = 'identity';
const FORMAT = 1;

const stateKey = (id: LogletId) => `s${SEP}${id}`;
const recordPrefix = (id: LogletId) => `r${SEP}${id}${SEP}`;
const recordKey = (id: LogletId, offset: bigint) => recordPrefix(id) + offset.toString(16).padStart(16, '0');
const offsetOf = (key: string) => BigInt(`0x${key.slice(key.lastIndexOf(SEP) + 1)}`);

/** Who a data dir belongs to, written on first start and checked on every start after. */
export interface LogServerIdentity {
  clusterName: string;
  nodeId: string;
}

export class DataDirError extends Error {
  override name = 'DataDirError';
}

/**
 * Log-server storage in one LevelDB: records keyed by loglet id + big-endian hex offset (range scans in offset
 * order), one state entry per loglet, every write one synced batch.
 */
export class LevelDbLogServerStorage implements LogServerStorage {
  readonly db: ClassicLevel<string, Uint8Array>;
  /**
   * Per loglet, the offset below which this process deleted its records: the next trim deletes from there (not
   * from the loglet's first key, which would walk the deleted range's tombstones again until a compaction).
   */
  private readonly deletedBelow = new Map<LogletId, bigint>();
  /** Compacts the trimmed key ranges, so that the disk space comes back. */
  private readonly compactor: TrimCompactor<LogletId, string>;
  private constructor(db: ClassicLevel<string, Uint8Array>) {
    this.db = db;
    this.compactor = new TrimCompactor<LogletId, string>(db, (id, from, below) => [
      recordKey(id, from),
      recordKey(id, below),
    ]);
  }

  /**
   * Opens (or creates) the data dir. Refuses a dir that belongs to another cluster or node, and one LevelDB
   * cannot open, saying why.
   */
  static async open(dir: string, identity: LogServerIdentity): Promise<LevelDbLogServerStorage> {
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: Error }).cause?.message ?? (e as Error).message;
      throw new DataDirError(`data dir ${dir} is corrupt or unreadable: ${cause}`);
    }
    try {
      const raw = await db.get(IDENTITY);
      if (raw === undefined) {
        const hasData = await db.keys({ limit: 1 }).all();
        if (hasData.length > 0)
          throw new DataDirError(`data dir ${dir} holds data but no identity: not a log-server data dir`);
        await db.put(IDENTITY, new TextEncoder().encode(JSON.stringify({ ...identity, format: FORMAT })), {
          sync: true,
        });
      } else {
        let have: LogServerIdentity & { format?: number };
        try {
          have = JSON.parse(new TextDecoder().decode(raw)) as LogServerIdentity & { format?: number };
        } catch {
          throw new DataDirError(`data dir ${dir} is corrupt: unreadable identity record`);
        }
        if (have.clusterName !== identity.clusterName || have.nodeId !== identity.nodeId)
          throw new DataDirError(
            `data dir ${dir} belongs to log server '${have.nodeId}' of cluster '${have.clusterName}', not to '${identity.nodeId}' of cluster '${identity.clusterName}'`,
          );
        if (have.format !== FORMAT)
          throw new DataDirError(`data dir ${dir} has format ${have.format}, this build reads ${FORMAT}`);
      }
    } catch (e) {
      await db.close();
      throw e;
    }
    return new LevelDbLogServerStorage(db);
  }

  async loadState(id: LogletId): Promise<LogletState | undefined> {
    const raw = await this.db.get(stateKey(id));
    if (raw === undefined) return undefined;
    const s = JSON.parse(new TextDecoder().decode(raw)) as Record<string, string | boolean>;
    return {
      localTail: BigInt(s.localTail as string),
      knownGlobalTail: BigInt(s.knownGlobalTail as string),
      trimPoint: BigInt(s.trimPoint as string),
      sealed: s.sealed === true,
    };
  }

  async write(batch: StorageBatch): Promise<void> {
    const trimmed: { id: LogletId; from: bigint; to: bigint }[] = [];
    const ops: Array<{ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }> = [];
    for (const [id, b] of batch.loglets) {
      if (b.trimBelow !== undefined) {
        const from = this.deletedBelow.get(id) ?? 0n;
        if (b.trimBelow > from) {
          for await (const k of this.db.keys({ gte: recordKey(id, from), lt: recordKey(id, b.trimBelow) }))
            ops.push({ type: 'del', key: k });
          trimmed.push({ id, from, to: b.trimBelow });
        }
      }
      for (const r of b.records) ops.push({ type: 'put', key: recordKey(id, r.offset), value: r.payload });
      const s = b.state;
      ops.push({
        type: 'put',
        key: stateKey(id),
        value: new TextEncoder().encode(
          JSON.stringify({
            localTail: s.localTail.toString(),
            knownGlobalTail: s.knownGlobalTail.toString(),
            trimPoint: s.trimPoint.toString(),
            sealed: s.sealed,
          }),
        ),
      });
    }
    await this.db.batch(ops, { sync: true });
    for (const t of trimmed) {
      this.deletedBelow.set(t.id, t.to);
      this.compactor.add(t.id, t.from, t.to);
    }
  }

  /** Compactions of trimmed ranges done (for tests and metrics). */
  get compactions(): number {
    return this.compactor.compactions;
  }

  /** Resolves once the compactions asked for so far are done (for tests). */
  compacted(): Promise<void> {
    return this.compactor.idle();
  }

  async readRecords(id: LogletId, from: bigint, to: bigint, maxBytes: number): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    let bytes = 0;
    for await (const [k, v] of this.db.iterator({ gte: recordKey(id, from), lt: recordKey(id, to) })) {
      if (out.length > 0 && bytes >= maxBytes) break;
      out.push({ offset: offsetOf(k), payload: v });
      bytes += v.length;
    }
    return out;
  }

  async readOffsets(id: LogletId, from: bigint, to: bigint): Promise<bigint[]> {
    const out: bigint[] = [];
    for await (const k of this.db.keys({ gte: recordKey(id, from), lt: recordKey(id, to) })) out.push(offsetOf(k));
    return out;
  }

  async close(): Promise<void> {
    await this.compactor.close();
    await this.db.close();
  }
}
