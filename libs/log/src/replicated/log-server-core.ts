import { maxBig, minBig } from './quorum.ts';
import type {
  GetDigestRequest,
  GetDigestResponse,
  GetRecordsRequest,
  GetRecordsResponse,
  LogletId,
  LogletState,
  LogServerApi,
  SealRequest,
  StoredRecord,
  StoreRequest,
  StoreResponse,
  TrimRequest,
  WaitForTailRequest,
} from './types.ts';

/** One durable write: records and the new state of each loglet touched, all or nothing. */
export interface StorageBatch {
  loglets: Map<LogletId, { records: StoredRecord[]; state: LogletState; trimBelow?: bigint }>;
}

/**
 * Where a log server keeps its data. `write` must be durable (fsynced) when it resolves; a crash before that
 * may lose the batch entirely but never part of it.
 */
export interface LogServerStorage {
  loadState(logletId: LogletId): Promise<LogletState | undefined>;
  write(batch: StorageBatch): Promise<void>;
  /** Records held in [from, to), ascending, stopping after maxBytes (at least one record when present). */
  readRecords(logletId: LogletId, from: bigint, to: bigint, maxBytes: number): Promise<StoredRecord[]>;
  readOffsets(logletId: LogletId, from: bigint, to: bigint): Promise<bigint[]>;
}

const EMPTY: LogletState = { localTail: 0n, knownGlobalTail: 0n, trimPoint: 0n, sealed: false };

interface Pending {
  req: StoreRequest;
  resolve: (r: StoreResponse) => void;
  reject: (e: unknown) => void;
}

/**
 * The logic of a log server, independent of transport and disk: seal flag, trim point, local and known global
 * tails per loglet, group commit of concurrent stores (one durable batch per flush), tail waiters. Used by the
 * `log-server` app over LevelDB and by the simulation over memory.
 */
export class LogServerCore implements LogServerApi {
  private readonly storage: LogServerStorage;
  private readonly states = new Map<LogletId, LogletState>();
  private readonly loading = new Map<LogletId, Promise<LogletState>>();
  private queue: Pending[] = [];
  private flushing = false;
  private readonly waiters = new Map<LogletId, Set<{ above: bigint; done: (s: LogletState) => void }>>();
  /** Stores flushed so far and batches written (group commit ratio = stores / batches). */
  readonly stats = { stores: 0, batches: 0, records: 0 };

  constructor(storage: LogServerStorage) {
    this.storage = storage;
  }

  private async state(id: LogletId): Promise<LogletState> {
    const s = this.states.get(id);
    if (s) return s;
    let p = this.loading.get(id);
    if (!p) {
      p = this.storage.loadState(id).then((st) => {
        const v = this.states.get(id) ?? { ...(st ?? EMPTY) };
        this.states.set(id, v);
        this.loading.delete(id);
        return v;
      });
      this.loading.set(id, p);
    }
    return p;
  }

  /** Known loglet states (for metrics and introspection). */
  loglets(): Map<LogletId, LogletState> {
    return this.states;
  }

  store(req: StoreRequest): Promise<StoreResponse> {
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        await this.flushBatch(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async flushBatch(batch: Pending[]): Promise<void> {
    const out: StorageBatch = { loglets: new Map() };
    const answers: Array<{ p: Pending; r?: StoreResponse }> = [];
    // Next state per loglet, applied to the cache only once the batch is durable.
    const next = new Map<LogletId, LogletState>();
    for (const p of batch) {
      const { req } = p;
      if (req.firstOffset < 0n || req.payloads.length === 0 || req.logletId === '') {
        answers.push({ p, r: { status: 'malformed', localTail: 0n, sealed: false } });
        continue;
      }
      const cur = next.get(req.logletId) ?? { ...(await this.state(req.logletId)) };
      const end = req.firstOffset + BigInt(req.payloads.length);
      if (cur.sealed && !req.repair) {
        answers.push({ p, r: { status: 'sealed', localTail: cur.localTail, sealed: true } });
        continue;
      }
      if (end <= cur.trimPoint) {
        answers.push({ p, r: { status: 'trimmed', localTail: cur.localTail, sealed: cur.sealed } });
        continue;
      }
      let entry = out.loglets.get(req.logletId);
      if (!entry) {
        entry = { records: [], state: cur };
        out.loglets.set(req.logletId, entry);
      }
      for (let i = 0; i < req.payloads.length; i++) {
        const offset = req.firstOffset + BigInt(i);
        if (offset >= cur.trimPoint) entry.records.push({ offset, payload: req.payloads[i]! });
      }
      // A repair store on a sealed loglet must not move the tail the seal reported.
      if (!cur.sealed && end > cur.localTail) cur.localTail = end;
      if (req.knownGlobalTail > cur.knownGlobalTail) cur.knownGlobalTail = req.knownGlobalTail;
      entry.state = cur;
      next.set(req.logletId, cur);
      answers.push({ p });
    }
    if (out.loglets.size > 0) {
      try {
        await this.storage.write(out);
      } catch (e) {
        for (const a of answers) if (!a.r) a.p.reject(e);
        for (const a of answers) if (a.r) a.p.resolve(a.r);
        return;
      }
      this.stats.batches++;
      for (const [id, st] of next) {
        this.states.set(id, st);
        this.notify(id, st);
      }
    }
    for (const a of answers) {
      if (a.r) {
        a.p.resolve(a.r);
        continue;
      }
      this.stats.stores++;
      this.stats.records += a.p.req.payloads.length;
      const st = this.states.get(a.p.req.logletId)!;
      a.p.resolve({ status: 'ok', localTail: st.localTail, sealed: st.sealed });
    }
  }

  async getRecords(req: GetRecordsRequest): Promise<GetRecordsResponse> {
    const st = await this.state(req.logletId);
    const from = maxBig(req.from, st.trimPoint);
    const to = req.to;
    const records = from < to ? await this.storage.readRecords(req.logletId, from, to, req.maxBytes ?? 1 << 20) : [];
    const last = records.at(-1);
    const truncated = last !== undefined && req.maxBytes !== undefined && sizeOf(records) >= req.maxBytes;
    const next = truncated ? last.offset + 1n : to;
    return { ...st, records, next: next < from ? from : next };
  }

  async getDigest(req: GetDigestRequest): Promise<GetDigestResponse> {
    const st = await this.state(req.logletId);
    const from = maxBig(req.from, st.trimPoint);
    const offsets = from < req.to ? await this.storage.readOffsets(req.logletId, from, req.to) : [];
    return { ...st, offsets };
  }

  async waitForTail(req: WaitForTailRequest, signal?: AbortSignal): Promise<LogletState> {
    const st = await this.state(req.logletId);
    if (st.knownGlobalTail > req.above || st.sealed) return { ...st };
    return new Promise((resolve, reject) => {
      let set = this.waiters.get(req.logletId);
      if (!set) {
        set = new Set();
        this.waiters.set(req.logletId, set);
      }
      const w = {
        above: req.above,
        done: (s: LogletState) => {
          signal?.removeEventListener('abort', onAbort);
          resolve({ ...s });
        },
      };
      const onAbort = () => {
        set.delete(w);
        reject(signal?.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(w);
    });
  }

  private notify(id: LogletId, st: LogletState): void {
    const set = this.waiters.get(id);
    if (!set) return;
    for (const w of set) {
      if (st.knownGlobalTail > w.above || st.sealed) {
        set.delete(w);
        w.done(st);
      }
    }
  }

  async seal(req: SealRequest): Promise<LogletState> {
    // Goes through the store queue so that it is ordered after every store accepted before it.
    const st = await this.state(req.logletId);
    if (!st.sealed) {
      await this.drain();
      const cur = await this.state(req.logletId);
      if (!cur.sealed) {
        const sealed = { ...cur, sealed: true };
        await this.storage.write({ loglets: new Map([[req.logletId, { records: [], state: sealed }]]) });
        this.states.set(req.logletId, sealed);
        this.notify(req.logletId, sealed);
      }
    }
    return { ...(await this.state(req.logletId)) };
  }

  async trim(req: TrimRequest): Promise<LogletState> {
    const cur = await this.state(req.logletId);
    // Never trim above what is known to be released: that would lose records a reader still needs.
    const upTo = minBig(req.upTo, cur.localTail);
    if (upTo > cur.trimPoint) {
      await this.drain();
      const st = { ...(await this.state(req.logletId)), trimPoint: upTo };
      await this.storage.write({ loglets: new Map([[req.logletId, { records: [], state: st, trimBelow: upTo }]]) });
      this.states.set(req.logletId, st);
    }
    return { ...(await this.state(req.logletId)) };
  }

  /** Resolves once every store queued before the call is written. */
  private async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) {
      await new Promise<void>((resolve) => {
        this.queue.push({
          req: { logletId: '', firstOffset: -1n, payloads: [], knownGlobalTail: 0n },
          resolve: () => resolve(),
          reject: () => resolve(),
        });
        if (!this.flushing) void this.flush();
      });
      if (!this.flushing && this.queue.length === 0) return;
    }
  }
}

function sizeOf(records: StoredRecord[]): number {
  let n = 0;
  for (const r of records) n += r.payload.length;
  return n;
}

/** Storage in memory: for simulation and tests. `crash()` keeps exactly what was written (writes are atomic). */
export class MemoryLogServerStorage implements LogServerStorage {
  readonly records = new Map<LogletId, Map<bigint, Uint8Array>>();
  readonly states = new Map<LogletId, LogletState>();

  async loadState(id: LogletId): Promise<LogletState | undefined> {
    const s = this.states.get(id);
    return s ? { ...s } : undefined;
  }
  async write(batch: StorageBatch): Promise<void> {
    for (const [id, b] of batch.loglets) {
      let m = this.records.get(id);
      if (!m) {
        m = new Map();
        this.records.set(id, m);
      }
      for (const r of b.records) m.set(r.offset, r.payload);
      if (b.trimBelow !== undefined) for (const o of [...m.keys()]) if (o < b.trimBelow) m.delete(o);
      this.states.set(id, { ...b.state });
    }
  }
  async readRecords(id: LogletId, from: bigint, to: bigint, maxBytes: number): Promise<StoredRecord[]> {
    const m = this.records.get(id);
    if (!m) return [];
    const offs = [...m.keys()].filter((o) => o >= from && o < to).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: StoredRecord[] = [];
    let bytes = 0;
    for (const o of offs) {
      if (out.length > 0 && bytes >= maxBytes) break;
      const payload = m.get(o)!;
      out.push({ offset: o, payload });
      bytes += payload.length;
    }
    return out;
  }
  async readOffsets(id: LogletId, from: bigint, to: bigint): Promise<bigint[]> {
    const m = this.records.get(id);
    if (!m) return [];
    return [...m.keys()].filter((o) => o >= from && o < to).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
