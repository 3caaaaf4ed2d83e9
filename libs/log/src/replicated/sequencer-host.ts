import type { ChainStore, SequencerApi, TailSink, TailStream } from '../bifrost/bifrost.ts';
import { paramsOf, readChain } from '../bifrost/chain.ts';
import type { Random, Timers } from './quorum.ts';
import type { ReleaseSink, ReleaseSubscription } from './release-window.ts';
import { SequencerCore, type SequencerOptions } from './sequencer-core.ts';
import { type AppendCall, LogletSealedError, type LogServerDirectory, LogUnavailableError } from './types.ts';

export interface SequencerHostOptions {
  /** This sequencer's node id (as named in segments). */
  id: string;
  /** Random per process start: segments name the instance that owns them, so a restarted process owns nothing. */
  instance: string;
  metadata: ChainStore;
  logServers: LogServerDirectory;
  timers: Timers;
  random: Random;
  sequencer?: Omit<SequencerOptions, 'timers' | 'random'>;
}

/** Loglet ids are `<logId>.<segment index>`. */
export function logIdOfLoglet(logletId: string): string | undefined {
  const i = logletId.lastIndexOf('.');
  return i > 0 ? logletId.slice(0, i) : undefined;
}

/**
 * A sequencer that has taken no append for this long asks the metadata store whether its segment is sealed (a
 * worker sequences the logs it leads, and a new leader seals the old leader's segment without telling it); one
 * that is sealed, or closed, is dropped once it has been so this long with no reader following it (its window
 * served the followers catching up to the sealed tail).
 */
const IDLE_CHECK_MS = 60_000;
const SWEEP_EVERY_MS = 10_000;

/**
 * Hosts the sequencers of one process. A loglet's sequencer is created on the first request, after checking in
 * the metadata store that the loglet's segment names this very instance and is not sealed. A sequencer is
 * dropped only when its loglet is known to be sealed (recreating one for an open loglet would restart offsets at
 * 0): see IDLE_CHECK_MS.
 */
export class SequencerHost implements SequencerApi {
  private readonly o: SequencerHostOptions;
  private readonly cores = new Map<string, SequencerCore | Promise<SequencerCore>>();
  private nextSweepMs = 0;
  private sweeping = false;
  private closed = false;

  constructor(opts: SequencerHostOptions) {
    this.o = opts;
  }

  get id(): string {
    return this.o.id;
  }
  get instance(): string {
    return this.o.instance;
  }

  /** Sequencers of this process (for metrics). */
  loglets(): Array<[string, SequencerCore]> {
    void this.sweep(); // metrics scrapes call this regularly
    const out: Array<[string, SequencerCore]> = [];
    for (const [id, c] of this.cores) if (c instanceof SequencerCore) out.push([id, c]);
    return out;
  }

  /**
   * Drops ended sequencers nobody reads any more, and closes idle ones whose segment the chain names sealed.
   * Runs at most every SWEEP_EVERY_MS, from requests; resolves when done (tests await it).
   */
  async sweep(): Promise<void> {
    const now = this.o.timers.now();
    if (this.sweeping || now < this.nextSweepMs) return;
    this.sweeping = true;
    this.nextSweepMs = now + SWEEP_EVERY_MS;
    try {
      for (const [logletId, c] of [...this.cores]) {
        if (!(c instanceof SequencerCore)) continue;
        if (c.endedAtMs !== undefined) {
          if (now - c.endedAtMs >= IDLE_CHECK_MS && c.windowStats().subscribers === 0) this.cores.delete(logletId);
        } else if (now - c.lastAppendAtMs >= IDLE_CHECK_MS && (await this.sealedInChain(logletId))) {
          c.close(new LogletSealedError(`loglet ${logletId} is sealed`));
        }
      }
    } catch {
      // The metadata store is unreachable: try again at the next sweep.
    } finally {
      this.sweeping = false;
    }
  }

  /** Whether the chain in the metadata store names the loglet's segment sealed (or no longer has it). */
  private async sealedInChain(logletId: string): Promise<boolean> {
    const logId = logIdOfLoglet(logletId);
    if (!logId) return false;
    const entry = await readChain(this.o.metadata, logId);
    if (!entry) return false;
    const seg = entry.chain.segments.find((s) => s.logletId === logletId);
    return seg === undefined || seg.sealedTail !== undefined;
  }

  private core(logletId: string): SequencerCore | Promise<SequencerCore> {
    if (this.closed) throw new LogUnavailableError(`sequencer ${this.o.id} is shutting down`);
    void this.sweep();
    const have = this.cores.get(logletId);
    if (have) return have;
    const p = this.adopt(logletId).then(
      (c) => {
        this.cores.set(logletId, c);
        return c;
      },
      (e: unknown) => {
        this.cores.delete(logletId);
        throw e;
      },
    );
    this.cores.set(logletId, p);
    return p;
  }

  private async adopt(logletId: string): Promise<SequencerCore> {
    const logId = logIdOfLoglet(logletId);
    if (!logId) throw new LogUnavailableError(`malformed loglet id ${JSON.stringify(logletId)}`);
    const seg = (await readChain(this.o.metadata, logId))?.chain.segments.find((s) => s.logletId === logletId);
    if (!seg) throw new LogUnavailableError(`loglet ${logletId} is not in the chain of log ${logId}`);
    if (seg.sequencer.id !== this.o.id || seg.sequencer.instance !== this.o.instance)
      throw new LogUnavailableError(
        `loglet ${logletId} is sequenced by ${seg.sequencer.id}/${seg.sequencer.instance}, not by this process (${this.o.id}/${this.o.instance})`,
      );
    if (seg.sealedTail !== undefined) throw new LogletSealedError(`loglet ${logletId} is sealed`);
    return new SequencerCore(paramsOf(seg), this.o.logServers, {
      ...this.o.sequencer,
      timers: this.o.timers,
      random: this.o.random,
    });
  }

  async append(logletId: string, payloads: Uint8Array[], call?: AppendCall): Promise<bigint> {
    return (await this.core(logletId)).append(payloads, call);
  }

  async tail(logletId: string): Promise<bigint> {
    const c = await this.core(logletId);
    if (c.isSealed) throw new LogletSealedError(`loglet ${logletId} is sealed`);
    return c.tail;
  }

  async waitForTail(logletId: string, above: bigint, signal?: AbortSignal): Promise<bigint> {
    return (await this.core(logletId)).waitForTail(above, signal);
  }

  /** Follows the released records of a loglet (see SequencerCore.subscribe). */
  async subscribe(logletId: string, from: bigint, sink: ReleaseSink): Promise<ReleaseSubscription> {
    return (await this.core(logletId)).subscribe(from, sink);
  }

  /**
   * The in-process ReadStream (SequencerApi.readStream): a reader in this process follows a loglet sequenced
   * here without a network hop. `pause` takes effect at the next batch (like a transport's full buffer).
   */
  readStream(logletId: string, from: bigint, sink: TailSink): TailStream {
    let sub: ReleaseSubscription | undefined;
    let paused = false;
    let stalled = false;
    let cancelled = false;
    const release: ReleaseSink = {
      records: (first, payloads) => {
        if (cancelled) return true;
        sink.records(first, payloads);
        stalled = paused;
        return !paused;
      },
      end: (e) => {
        if (!cancelled) sink.end(e);
      },
    };
    const resume = () => {
      if (!stalled || !sub) return;
      stalled = false;
      sub.resume();
    };
    this.subscribe(logletId, from, release).then(
      (s) => {
        sub = s;
        if (cancelled) s.cancel();
        else if (!paused) resume();
      },
      (e: unknown) => {
        if (!cancelled) sink.end({ kind: 'closed', error: e instanceof Error ? e : new Error(String(e)) });
      },
    );
    return {
      pause: () => {
        paused = true;
      },
      resume: () => {
        paused = false;
        resume();
      },
      cancel: () => {
        cancelled = true;
        sub?.cancel();
      },
    };
  }

  /** Rejects every unacknowledged append of every loglet; the process is going away. */
  close(): void {
    this.closed = true;
    for (const c of this.cores.values()) if (c instanceof SequencerCore) c.close();
  }
}
