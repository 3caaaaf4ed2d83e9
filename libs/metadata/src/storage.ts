import { mkdirSync } from 'node:fs';
import { metadata as pb } from '@stead/proto';
import type { Entry, HardState, Ready, Snapshot } from '@stead/raft';
import { ClassicLevel } from 'classic-level';
import { entryFromPb, entryToPb, snapshotFromPb, snapshotToPb } from './codec.ts';
import { MetadataError } from './errors.ts';

const IDENTITY = 'meta/identity';
const HARD = 'raft/hard';
const SNAP = 'raft/snapshot';
const LOG = 'raft/log/';
const logKey = (i: number) => LOG + i.toString(16).padStart(16, '0');

export interface StoredIdentity {
  readonly clusterName: string;
  readonly nodeId: string;
  readonly createdAt: string;
  /** The cluster's random id, once the member has applied it. */
  readonly clusterId?: string;
}

export interface LoadedState {
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  readonly entries: Entry[];
}

/**
 * Raft's stable storage in LevelDB: hard state, snapshot and log entries. Every write Raft needs durable before
 * it sends messages is one batch with `sync: true` (fsync); a Ready's entries, hard state and snapshot go in
 * the same batch, so a crash leaves either all of them or none.
 */
export class RaftLogStore {
  readonly dir: string;
  private readonly db: ClassicLevel<string, Uint8Array>;
  private first = 1;
  private last = 0;
  identity!: StoredIdentity;
  syncs = 0;
  syncMs = 0;

  private constructor(dir: string, db: ClassicLevel<string, Uint8Array>) {
    this.dir = dir;
    this.db = db;
  }

  /**
   * Opens (creating if needed) the store in `dir`. A data dir written by another cluster or member is refused:
   * starting a member on it would mix two histories.
   */
  static async open(dir: string, identity: { clusterName: string; nodeId: string }): Promise<RaftLogStore> {
    mkdirSync(dir, { recursive: true });
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: Error }).cause?.message ?? (e as Error).message;
      throw new MetadataError('data-dir-mismatch', `cannot open metadata data dir ${dir}: ${cause}`);
    }
    const store = new RaftLogStore(dir, db);
    try {
      const raw = await db.get(IDENTITY);
      if (raw === undefined) {
        const id: StoredIdentity = { ...identity, createdAt: new Date().toISOString() };
        await db.put(IDENTITY, new TextEncoder().encode(JSON.stringify(id)), { sync: true });
        store.identity = id;
      } else {
        const id = JSON.parse(new TextDecoder().decode(raw)) as StoredIdentity;
        store.identity = id;
        if (id.clusterName !== identity.clusterName) {
          throw new MetadataError(
            'data-dir-mismatch',
            `data dir ${dir} belongs to metadata cluster '${id.clusterName}' (created ${id.createdAt}), ` +
              `but this member is configured for cluster '${identity.clusterName}'; refusing to start ` +
              '(use the right --cluster-name, or an empty data dir to join as a new member)',
          );
        }
        if (id.nodeId !== identity.nodeId) {
          throw new MetadataError(
            'data-dir-mismatch',
            `data dir ${dir} belongs to member '${id.nodeId}' of cluster '${id.clusterName}', ` +
              `but this member is configured as '${identity.nodeId}'; refusing to start`,
          );
        }
      }
    } catch (e) {
      await db.close();
      throw e;
    }
    return store;
  }

  async load(): Promise<LoadedState> {
    const hardRaw = await this.db.get(HARD);
    const snapRaw = await this.db.get(SNAP);
    const hardState = hardRaw ? (JSON.parse(new TextDecoder().decode(hardRaw)) as HardState) : undefined;
    const snapshot = snapRaw ? snapshotFromPb(pb.RaftSnapshot.decode(snapRaw)) : undefined;
    const entries: Entry[] = [];
    const after = snapshot?.meta.index ?? 0;
    for await (const [, v] of this.db.iterator({ gt: logKey(after), lt: `${LOG}~` })) {
      const e = entryFromPb(pb.RaftEntry.decode(v));
      if (entries.length > 0 && e.index !== entries[entries.length - 1].index + 1) break;
      if (entries.length === 0 && e.index !== after + 1) break;
      entries.push(e);
    }
    this.first = after + 1;
    this.last = entries.length > 0 ? entries[entries.length - 1].index : after;
    return { hardState, snapshot, entries };
  }

  /** Persists what a Ready asks for, in one batch (fsync when Raft needs it). */
  async save(rd: Ready): Promise<void> {
    const ops: { type: 'put' | 'del'; key: string; value?: Uint8Array }[] = [];
    if (rd.snapshot) {
      for (let i = this.first; i <= this.last; i++) ops.push({ type: 'del', key: logKey(i) });
      ops.push({ type: 'put', key: SNAP, value: pb.RaftSnapshot.encode(snapshotToPb(rd.snapshot)).finish() });
      this.first = rd.snapshot.meta.index + 1;
      this.last = rd.snapshot.meta.index;
    }
    if (rd.entries.length > 0) {
      const from = rd.entries[0].index;
      const to = rd.entries[rd.entries.length - 1].index;
      for (let i = Math.max(to + 1, this.first); i <= this.last; i++) ops.push({ type: 'del', key: logKey(i) });
      for (const e of rd.entries)
        ops.push({ type: 'put', key: logKey(e.index), value: pb.RaftEntry.encode(entryToPb(e)).finish() });
      if (from <= this.first) this.first = from;
      this.last = to;
    }
    if (rd.hardState)
      ops.push({ type: 'put', key: HARD, value: new TextEncoder().encode(JSON.stringify(rd.hardState)) });
    if (ops.length === 0) return;
    const t0 = performance.now();
    await this.db.batch(ops as never, { sync: rd.mustSync });
    if (rd.mustSync) {
      this.syncs++;
      this.syncMs += performance.now() - t0;
    }
  }

  /** Stores a snapshot taken locally and drops the log entries it covers. */
  async saveSnapshot(snap: Snapshot): Promise<void> {
    const ops: { type: 'put' | 'del'; key: string; value?: Uint8Array }[] = [
      { type: 'put', key: SNAP, value: pb.RaftSnapshot.encode(snapshotToPb(snap)).finish() },
    ];
    for (let i = this.first; i <= Math.min(snap.meta.index, this.last); i++) ops.push({ type: 'del', key: logKey(i) });
    this.first = snap.meta.index + 1;
    if (this.last < snap.meta.index) this.last = snap.meta.index;
    await this.db.batch(ops as never, { sync: true });
  }

  /** Records the cluster id in the identity record (once known). */
  async setClusterId(clusterId: string): Promise<void> {
    if (this.identity.clusterId === clusterId) return;
    this.identity = { ...this.identity, clusterId };
    await this.db.put(IDENTITY, new TextEncoder().encode(JSON.stringify(this.identity)), { sync: true });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
