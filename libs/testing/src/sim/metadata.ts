import { type MetadataClient, MetadataError, type Precondition } from '@stead/metadata';
import type { Clock, Timers } from './clock.ts';

interface Stored {
  value: Uint8Array;
  version: number;
}

interface ChangeEvent {
  key: string;
  deleted: boolean;
  value: Uint8Array;
  version: number;
}

/** One applied write, in apply order (the store's linearization). */
export interface SimMetadataWrite {
  key: string;
  /** undefined for a deletion. */
  value: Uint8Array | undefined;
  version: number;
  /** Name of the client that wrote it. */
  by: string;
  atMs: number;
}

export interface SimMetadataStoreOptions {
  clock: Clock & Timers;
  /** One-way delay of each request and each response, in ms (default 1); a function draws it per message. */
  latencyMs?: number | (() => number);
}

/**
 * An in-memory metadata store with the real one's semantics, driven by simulated time: versions are one global
 * counter (like the Raft index) so they grow per key also across deletions; put/delete take the same
 * preconditions and fail with the same `MetadataError`s; watches start with the current value when newer than
 * `fromVersion` and deliver later values in order. `client(name)` gives each simulated process its own
 * connection, which a test can cut (`down = true`): requests then fail with `unavailable`, a write whose answer
 * is lost fails with `unknown-outcome` although applied, and watch events wait until the connection is back (only
 * the latest value is delivered then, as after a real watch resumes). Every applied write is kept in `writes`.
 */
export class SimMetadataStore {
  readonly writes: SimMetadataWrite[] = [];
  /** Every read that reached the store: which key, by which client, when. */
  readonly reads: Array<{ key: string; by: string; atMs: number }> = [];
  private readonly data = new Map<string, Stored>();
  private index = 0;
  private readonly watchers = new Map<string, Set<(e: ChangeEvent) => void>>();
  readonly clock: Clock & Timers;
  private readonly latency: () => number;

  constructor(opts: SimMetadataStoreOptions) {
    this.clock = opts.clock;
    const l = opts.latencyMs ?? 1;
    this.latency = typeof l === 'function' ? l : () => l;
  }

  client(name: string): SimMetadataClient {
    return new SimMetadataClient(this, name);
  }

  /** The stored value, without going through a client or the clock. */
  peek(key: string): { value: Uint8Array; version: number } | undefined {
    return this.data.get(key);
  }

  /** @internal */
  delay(): number {
    return Math.max(0, this.latency());
  }

  /** @internal */
  applyGet(by: string, key: string): Stored | undefined {
    this.reads.push({ key, by, atMs: this.clock.now() });
    return this.data.get(key);
  }

  /** @internal */
  applyPut(by: string, key: string, value: Uint8Array, pre: Precondition | undefined): number {
    this.check(key, pre);
    const version = ++this.index;
    const v = new Uint8Array(value);
    this.data.set(key, { value: v, version });
    this.writes.push({ key, value: v, version, by, atMs: this.clock.now() });
    this.notify({ key, deleted: false, value: v, version });
    return version;
  }

  /** @internal */
  applyDelete(by: string, key: string, pre: Precondition | undefined): boolean {
    this.check(key, pre);
    const existed = this.data.delete(key);
    const version = ++this.index;
    if (existed) {
      this.writes.push({ key, value: undefined, version, by, atMs: this.clock.now() });
      this.notify({ key, deleted: true, value: new Uint8Array(0), version });
    }
    return existed;
  }

  /** @internal */
  subscribe(key: string, fromVersion: number, listener: (e: ChangeEvent) => void): () => void {
    let set = this.watchers.get(key);
    if (!set) {
      set = new Set();
      this.watchers.set(key, set);
    }
    set.add(listener);
    const cur = this.data.get(key);
    if (cur && cur.version > fromVersion) listener({ key, deleted: false, ...cur });
    return () => set.delete(listener);
  }

  private check(key: string, pre: Precondition | undefined): void {
    const cur = this.data.get(key);
    const holds =
      !pre ||
      pre.kind === 'none' ||
      (pre.kind === 'does-not-exist' ? cur === undefined : cur !== undefined && cur.version === pre.version);
    if (!holds) {
      throw new MetadataError(
        'precondition-failed',
        `precondition failed: key '${key}' is at version ${cur?.version ?? 0}`,
        { currentVersion: cur?.version ?? 0 },
      );
    }
  }

  private notify(e: ChangeEvent): void {
    for (const l of [...(this.watchers.get(e.key) ?? [])]) l(e);
  }
}

/** One simulated process's connection to a `SimMetadataStore`. */
export class SimMetadataClient implements MetadataClient {
  /** Cut the connection: requests fail, watch events wait. */
  get down(): boolean {
    return this.isDown;
  }
  set down(v: boolean) {
    this.isDown = v;
    if (!v) for (const flush of [...this.flushers]) flush();
  }
  private isDown = false;
  private closed = false;
  private readonly flushers = new Set<() => void>();
  private readonly watches = new Set<() => void>();
  readonly name: string;
  private readonly store: SimMetadataStore;

  constructor(store: SimMetadataStore, name: string) {
    this.store = store;
    this.name = name;
  }

  /** Runs `op` at the store after one delay and answers after another, failing when the connection is down. */
  private call<T>(op: () => T, write: boolean): Promise<T> {
    const { clock } = this.store;
    return new Promise<T>((resolve, reject) => {
      clock.setTimeout(() => {
        if (this.closed) return reject(new MetadataError('closed', 'client is closed'));
        if (this.isDown) return reject(new MetadataError('unavailable', `${this.name}: metadata store unreachable`));
        let result: T;
        try {
          result = op();
        } catch (e) {
          clock.setTimeout(() => reject(e), this.store.delay());
          return;
        }
        clock.setTimeout(() => {
          if (!this.isDown) resolve(result);
          else if (write) reject(new MetadataError('unknown-outcome', `${this.name}: answer lost`));
          else reject(new MetadataError('unavailable', `${this.name}: answer lost`));
        }, this.store.delay());
      }, this.store.delay());
    });
  }

  get(key: string) {
    return this.call(() => this.store.applyGet(this.name, key), false);
  }

  put(key: string, value: Uint8Array, precondition?: Precondition): Promise<number> {
    return this.call(() => this.store.applyPut(this.name, key, value, precondition), true);
  }

  delete(key: string, precondition?: Precondition): Promise<boolean> {
    return this.call(() => this.store.applyDelete(this.name, key, precondition), true);
  }

  watch(key: string, fromVersion: number, onEvent: (e: ChangeEvent) => void) {
    let last = fromVersion;
    let pending: ChangeEvent | undefined;
    let open = true;
    const deliver = () => {
      const e = pending;
      pending = undefined;
      if (!open || !e || e.version <= last) return;
      last = e.version;
      onEvent(e);
    };
    const flush = () => {
      if (pending) this.store.clock.setTimeout(deliver, this.store.delay());
    };
    const unsubscribe = this.store.subscribe(key, fromVersion, (e) => {
      pending = e; // the latest wins, as when a real watch resumes
      if (!this.isDown) flush();
    });
    this.flushers.add(flush);
    const close = () => {
      open = false;
      unsubscribe();
      this.flushers.delete(flush);
      this.watches.delete(close);
    };
    this.watches.add(close);
    return { close };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const close of [...this.watches]) close();
  }
}
