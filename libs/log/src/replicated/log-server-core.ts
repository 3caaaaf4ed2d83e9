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

type Pending =
  | {
      kind: 'store';
      req: StoreRequest;
      resolve: (r: StoreResponse) => void;
      reject: (e: unknown) => void;
      /** When it arrived (`performance.now()`, only with metrics): for the store duration metric. */
      receivedMs: number;
    }
  | {
      kind: 'seal' | 'trim';
      logletId: LogletId;
      upTo: bigint;
      resolve: (s: LogletState) => void;
      reject: (e: unknown) => void;
    };

/** What a log server reports about the stores it writes (an app feeds its registry with it). */
export interface LogServerMetrics {
  /** A Store request was durable (its batch synced) `seconds` after it arrived. */
  stored(seconds: number): void;
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
  /** Stores flushed so far, batches written (group commit ratio = stores / batches), records and payload bytes stored. */
  readonly stats = { stores: 0, batches: 0, records: 0, bytes: 0 };
  private readonly metrics: LogServerMetrics | undefined;

  constructor(storage: LogServerStorage, opts: { metrics?: LogServerMetrics } = {}) {
    this.storage = storage;
    this.metrics = opts.metrics;
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
      this.queue.push({ kind: 'store', req, resolve, reject, receivedMs: this.metrics ? performance.now() : 0 });
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

  /**
   * Writes one batch: stores, seals and trims in arrival order, all in one durable write. Seals and trims go
   * through the same queue as stores, so a seal is ordered after every store accepted before it and no store
   * accepted after it can overwrite the seal flag.
   */
  private async flushBatch(batch: Pending[]): Promise<void> {
    const out: StorageBatch = { loglets: new Map() };
    const answers: Array<{ p: Pending; r?: StoreResponse }> = [];
    // Next state per loglet, applied to the cache only once the batch is durable.
    const next = new Map<LogletId, LogletState>();
    const entryOf = (id: LogletId, cur: LogletState) => {
      let entry = out.loglets.get(id);
      if (!entry) {
        entry = { records: [], state: cur };
        out.loglets.set(id, entry);
      }
      entry.state = cur;
      next.set(id, cur);
      return entry;
    };
    for (const p of batch) {
      if (p.kind !== 'store') {
        const cur = next.get(p.logletId) ?? { ...(await this.state(p.logletId)) };
        const entry = entryOf(p.logletId, cur);
        if (p.kind === 'seal') cur.sealed = true;
        else {
          // Never trim above the local tail: a trim point is a promise that nothing below it is needed.
          const upTo = minBig(p.upTo, cur.localTail);
          if (upTo > cur.trimPoint) {
            cur.trimPoint = upTo;
            entry.trimBelow = upTo;
          }
        }
        answers.push({ p });
        continue;
      }
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
      const entry = entryOf(req.logletId, cur);
      for (let i = 0; i < req.payloads.length; i++) {
        const offset = req.firstOffset + BigInt(i);
        if (offset >= cur.trimPoint) entry.records.push({ offset, payload: req.payloads[i]! });
      }
      // A repair store on a sealed loglet must not move the tail the seal reported.
      if (!cur.sealed && end > cur.localTail) cur.localTail = end;
      if (req.knownGlobalTail > cur.knownGlobalTail) cur.knownGlobalTail = req.knownGlobalTail;
      answers.push({ p });
    }
    for (const entry of out.loglets.values())
      if (entry.trimBelow !== undefined) {
        const below = entry.trimBelow;
        entry.records = entry.records.filter((r) => r.offset >= below);
      }
    if (out.loglets.size > 0) {
      try {
        await this.storage.write(out);
      } catch (e) {
        for (const a of answers) if (a.r) (a.p as { resolve: (r: StoreResponse) => void }).resolve(a.r);
        for (const a of answers) if (!a.r) a.p.reject(e);
        return;
      }
      this.stats.batches++;
      for (const [id, st] of next) {
        this.states.set(id, st);
        this.notify(id, st);
      }
    }
    const now = this.metrics ? performance.now() : 0;
    for (const a of answers) {
      const p = a.p;
      if (p.kind !== 'store') {
        p.resolve({ ...this.states.get(p.logletId)! });
        continue;
      }
      if (a.r) {
        p.resolve(a.r);
        continue;
      }
      this.stats.stores++;
      this.stats.records += p.req.payloads.length;
      for (const payload of p.req.payloads) this.stats.bytes += payload.length;
      this.metrics?.stored((now - p.receivedMs) / 1000);
      const st = this.states.get(p.req.logletId)!;
      p.resolve({ status: 'ok', localTail: st.localTail, sealed: st.sealed });
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
    // Aborted while the state loaded: the listener below would never hear of it.
    signal?.throwIfAborted();
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

  seal(req: SealRequest): Promise<LogletState> {
    return this.enqueue('seal', req.logletId, 0n);
  }

  trim(req: TrimRequest): Promise<LogletState> {
    return this.enqueue('trim', req.logletId, req.upTo);
  }

  private enqueue(kind: 'seal' | 'trim', logletId: LogletId, upTo: bigint): Promise<LogletState> {
    if (logletId === '') return Promise.reject(new Error(`${kind}: loglet id missing`));
    return new Promise((resolve, reject) => {
      this.queue.push({ kind, logletId, upTo, resolve, reject });
      if (!this.flushing) void this.flush();
    });
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
