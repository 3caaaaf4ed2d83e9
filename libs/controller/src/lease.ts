import { type MetadataClient, Precondition } from '@stead/metadata';
import type { Logger } from '@stead/observability';
import { ControllerError } from './errors.ts';
import { isPreconditionFailed } from './nodes.ts';
import { CLUSTER_KEYS, decodeLease, encodeLease, type LeaseRecord } from './records.ts';
import { type Clock, systemClock, systemTimers, type Timers } from './time.ts';

export interface LeaseOptions {
  client: MetadataClient;
  nodeId: string;
  /** Random per process start. */
  instance: string;
  /** The holder rewrites the lease this often; contenders read it this often (default 1 s). */
  renewMs?: number;
  /**
   * A contender takes the lease when its version has not changed for this long on the contender's clock; a holder
   * whose last successful renewal was sent this long ago stops acting (default 5 s; at least 2 × renewMs).
   */
  leaseTimeoutMs?: number;
  key?: string;
  clock?: Clock;
  timers?: Timers;
  log?: Logger;
}

/** Where this process stands. `term` (while holding) is the version of the lease write that began the tenure. */
export type LeaseStatus = { holding: true; term: number } | { holding: false; holder?: string };

export interface LeaseHandle {
  /** Whether this process holds the lease now (by its own clock). Check it before every action. */
  holding(): boolean;
  /** The term while holding, else undefined. */
  term(): number | undefined;
  status(): LeaseStatus;
  /** Called when this process gains or loses the lease; returns the unsubscribe function. */
  onChange(listener: (s: LeaseStatus) => void): () => void;
  /** Stops renewing and contending; with `release`, a holder marks the lease free so a contender takes it at once. */
  stop(opts?: { release?: boolean }): Promise<void>;
}

/**
 * The controller lease: at most one holder acts at a time, without synchronised clocks. Only versions are
 * compared across processes; durations are measured on each process's own clock.
 *
 * - The holder rewrites the lease every `renewMs` with a write conditional on the version it last wrote.
 * - A contender reads the lease every `renewMs`. When it has seen the same version for `leaseTimeoutMs` (counted
 *   from when it first read it, which is after it was written) it writes itself in, conditional on that version.
 *   A missing or released lease is taken at once.
 * - A holder whose last successful write was sent `leaseTimeoutMs` ago considers itself deposed: by then a
 *   contender may have waited out the timeout. A conditional write that fails means someone else took it.
 *
 * Since a takeover needs a write conditional on the version the holder last wrote, two tenures never overlap in
 * the store; the term (a store version, unique and growing) fences what each tenure writes elsewhere.
 */
export function runLease(opts: LeaseOptions): LeaseHandle {
  return new Lease(opts);
}

class Lease implements LeaseHandle {
  private readonly client: MetadataClient;
  private readonly key: string;
  private readonly me: LeaseRecord;
  private readonly renewMs: number;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly log: Logger;
  /** The lease value as last read or written; `record` undefined when it did not decode. */
  private known: { version: number; record: LeaseRecord | undefined } | undefined;
  /** When (our clock) `known.version` was first read; a contender's timeout counts from here. */
  private observedAtMs = 0;
  /** Set while holding: the term, and when our last successful write was sent. */
  private tenure: { term: number; renewSentAtMs: number } | undefined;
  private readonly listeners = new Set<(s: LeaseStatus) => void>();
  private tickTimer: unknown;
  private expiryTimer: unknown;
  private inFlight: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(opts: LeaseOptions) {
    this.client = opts.client;
    this.key = opts.key ?? CLUSTER_KEYS.controllerLease;
    this.me = { nodeId: opts.nodeId, instance: opts.instance, released: false };
    this.renewMs = opts.renewMs ?? 1_000;
    this.timeoutMs = opts.leaseTimeoutMs ?? 5_000;
    if (!(this.renewMs > 0) || !(this.timeoutMs >= 2 * this.renewMs)) {
      throw new ControllerError(
        'invalid-config',
        `lease timeout (${this.timeoutMs} ms) must be at least twice the renew interval (${this.renewMs} ms)`,
      );
    }
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? systemTimers;
    this.log = opts.log ?? (() => {});
    this.schedule(0);
  }

  holding(): boolean {
    return this.tenure !== undefined && this.clock.now() - this.tenure.renewSentAtMs < this.timeoutMs;
  }

  term(): number | undefined {
    return this.holding() ? this.tenure?.term : undefined;
  }

  status(): LeaseStatus {
    const term = this.term();
    if (term !== undefined) return { holding: true, term };
    const holder = this.known?.record?.released === false ? this.known.record.nodeId : undefined;
    return holder === undefined ? { holding: false } : { holding: false, holder };
  }

  onChange(listener: (s: LeaseStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.clearTimeout(this.tickTimer);
    await this.inFlight;
    const known = this.known;
    if (opts.release && this.holding() && known) {
      try {
        await this.client.put(
          this.key,
          encodeLease({ ...this.me, released: true }),
          Precondition.matchesVersion(known.version),
        );
        this.log('info', 'released the controller lease', { term: this.tenure?.term });
      } catch (e) {
        this.log('warn', 'could not release the controller lease', { error: (e as Error).message });
      }
    }
    this.lose('stopped');
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.tickTimer = this.timers.setTimeout(() => {
      const started = this.clock.now();
      this.inFlight = this.tick().then(
        () => this.schedule(Math.max(0, this.renewMs - (this.clock.now() - started))),
        (e) => {
          this.log('error', 'controller lease step failed', { error: (e as Error).message });
          this.schedule(this.renewMs);
        },
      );
    }, delayMs);
  }

  private isMine(r: LeaseRecord | undefined): boolean {
    return r !== undefined && r.nodeId === this.me.nodeId && r.instance === this.me.instance && !r.released;
  }

  private async tick(): Promise<void> {
    if (this.known && this.isMine(this.known.record)) {
      await this.write(Precondition.matchesVersion(this.known.version)); // renew
      return;
    }
    let cur: Awaited<ReturnType<MetadataClient['get']>>;
    try {
      cur = await this.client.get(this.key);
    } catch (e) {
      this.log('debug', 'reading the controller lease failed', { error: (e as Error).message });
      return;
    }
    if (this.stopped) return;
    if (!cur) {
      await this.write(Precondition.doesNotExist);
      return;
    }
    if (this.known?.version !== cur.version) {
      this.known = { version: cur.version, record: this.decode(cur.value, cur.version) };
      this.observedAtMs = this.clock.now();
      const r = this.known.record;
      // Our own write whose answer we missed, or a holder that let go: no need to wait.
      if (this.isMine(r) || r?.released) await this.write(Precondition.matchesVersion(cur.version));
      return;
    }
    if (this.clock.now() - this.observedAtMs >= this.timeoutMs) {
      this.log('info', 'taking over the controller lease', {
        holder: this.known.record?.nodeId,
        silentForMs: this.clock.now() - this.observedAtMs,
      });
      await this.write(Precondition.matchesVersion(cur.version));
    }
  }

  private decode(bytes: Uint8Array, version: number): LeaseRecord | undefined {
    try {
      return decodeLease(this.key, bytes);
    } catch (e) {
      // Treated as held by someone unknown: taken over once it has not changed for the timeout.
      this.log('error', 'the controller lease does not decode', { version, error: (e as Error).message });
      return undefined;
    }
  }

  /** Writes ourselves in under `pre`; on success holds (or keeps holding) from the time the write was sent. */
  private async write(pre: Precondition): Promise<void> {
    if (this.stopped) return;
    const sentAtMs = this.clock.now();
    let version: number;
    try {
      version = await this.client.put(this.key, encodeLease(this.me), pre);
    } catch (e) {
      if (isPreconditionFailed(e)) {
        this.known = undefined; // someone else wrote it: read it again next time
        this.lose('taken');
      } else {
        this.log('warn', 'writing the controller lease failed', { error: (e as Error).message });
      }
      return;
    }
    this.known = { version, record: this.me };
    this.observedAtMs = this.clock.now();
    if (this.stopped || this.clock.now() - sentAtMs >= this.timeoutMs) return; // too late to count
    const wasHolding = this.holding();
    this.tenure = { term: wasHolding && this.tenure ? this.tenure.term : version, renewSentAtMs: sentAtMs };
    this.timers.clearTimeout(this.expiryTimer);
    this.expiryTimer = this.timers.setTimeout(() => this.expire(), sentAtMs + this.timeoutMs - this.clock.now());
    if (!wasHolding) {
      this.log('info', 'holding the controller lease', { term: version });
      this.notify();
    }
  }

  private expire(): void {
    if (this.tenure && !this.holding()) this.lose('not renewed in time');
  }

  private lose(why: string): void {
    this.timers.clearTimeout(this.expiryTimer);
    const had = this.tenure;
    this.tenure = undefined;
    if (!had) return;
    this.log(why === 'stopped' ? 'info' : 'warn', 'no longer holding the controller lease', { term: had.term, why });
    this.notify();
  }

  private notify(): void {
    const s = this.status();
    for (const l of this.listeners) {
      try {
        l(s);
      } catch (e) {
        this.log('warn', 'lease listener failed', { error: (e as Error).message });
      }
    }
  }
}
