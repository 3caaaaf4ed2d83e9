import type { AppendMetrics } from '../append-metrics.ts';
import { abortableWait, type Waiter } from '../wait.ts';
import { Quorum, type Random, type Timers } from './quorum.ts';
import {
  type ReleaseSink,
  type ReleaseSubscription,
  ReleaseWindow,
  type ReleaseWindowOptions,
} from './release-window.ts';
import { withTimeout } from './sealer.ts';
import {
  type AppendCall,
  type LogletParams,
  LogletSealedError,
  LogOutOfOrderError,
  LogOverloadedError,
  type LogServerDirectory,
  LogUnavailableError,
  type NodeId,
} from './types.ts';

export interface SequencerOptions {
  timers: Timers;
  random: Random;
  /** A store not answered within this is treated as failed and sent to another node. */
  storeTimeoutMs?: number;
  /** A node whose store failed is avoided for this long when picking copysets. */
  avoidMs?: number;
  /** Limits of one wave (one Store per copy). */
  maxWaveRecords?: number;
  maxWaveBytes?: number;
  /** Waves in flight at once (pipelining); further appends queue. */
  maxInflightWaves?: number;
  /** Bounds of that queue (default 65,536 records, 64 MiB): an append beyond them is refused (LogOverloadedError). */
  maxQueuedRecords?: number;
  maxQueuedBytes?: number;
  /** Offset to start at (a loglet always starts at 0; tests may differ). */
  startOffset?: bigint;
  /** The window of recently released records pushed to readers (ReadStream): bytes kept, bytes per message. */
  window?: ReleaseWindowOptions;
  /**
   * Producers whose call numbering is remembered (default 10,000; the least recently seen is forgotten first),
   * and how long an idle one is kept (default 10 min). A forgotten producer is a new one to this loglet: see
   * ProducerState for why that keeps its order.
   */
  maxProducers?: number;
  producerIdleMs?: number;
  /** Answers of the most recent calls kept per producer for duplicates (default 64; a client's calls in flight per log must stay below it). */
  maxRememberedCalls?: number;
  /** Told of each wave and of each append acknowledged. */
  metrics?: AppendMetrics;
}

/**
 * What a loglet's sequencer remembers of one producer that numbers its calls (AppendCall). Invariant: every
 * call number below `expected` was sequenced here, or the producer gave up waiting for it (it said so by sending
 * a call with a higher `firstUnacked`); a call numbered `expected` is the only one that may be sequenced next.
 *
 * A producer this loglet does not know (a new segment, or one forgotten as idle or over the cap) starts at the
 * `firstUnacked` of its first call: only the lowest call it still waits for is accepted, so a later call cannot
 * land first. A retry of a call sequenced before the producer was forgotten lands a second time; such a copy
 * comes after the original and is dropped by the (producer, sequence number) rule of readers.
 */
interface ProducerState {
  expected: number;
  /** Answers of the last calls sequenced (number → first offset), in number order, none below `firstUnacked`. */
  recent: Map<number, Promise<bigint>>;
  lastSeenMs: number;
}

interface Appender {
  payloads: Uint8Array[];
  resolve: (first: bigint) => void;
  reject: (e: unknown) => void;
  /** When it was accepted (`performance.now()`, only with metrics): for the append duration metric. */
  acceptedMs: number;
}

interface Wave {
  first: bigint;
  payloads: Uint8Array[];
  appenders: Array<{ a: Appender; first: bigint }>;
  acked: Set<NodeId>;
  /** Nodes with a store in flight. */
  pending: Set<NodeId>;
  /** Nodes that failed for this wave (tried again only when nothing else helps). */
  failed: Set<NodeId>;
  done: boolean;
  retrying: boolean;
}

/**
 * The sequencer of one replicated loglet: assigns offsets, batches appends into waves, stores each wave on a
 * copyset (spilling to other nodes when one fails), and releases the global tail in offset order once each wave
 * has a write quorum. All state is in memory: a sequencer that dies takes its loglet with it (the loglet is then
 * sealed and the virtual log moves on), so an offset is never assigned twice.
 */
export class SequencerCore {
  readonly params: LogletParams;
  private readonly quorum: Quorum;
  private readonly directory: LogServerDirectory;
  private readonly timers: Timers;
  private readonly random: Random;
  private readonly storeTimeoutMs: number;
  private readonly avoidMs: number;
  private readonly maxWaveRecords: number;
  private readonly maxWaveBytes: number;
  private readonly maxInflight: number;
  private queue: Appender[] = [];
  /** Records and payload bytes in `queue` (bounded by maxQueuedRecords / maxQueuedBytes). */
  private queuedRecords = 0;
  private queuedBytes = 0;
  private readonly maxQueuedRecords: number;
  private readonly maxQueuedBytes: number;
  private scheduled = false;
  private readonly inflight: Wave[] = [];
  private nextOffset: bigint;
  private released: bigint;
  private sealedAt: bigint | undefined;
  private endedMs: number | undefined;
  private lastAppendMs: number;
  private closed: Error | undefined;
  private rotation: number;
  private readonly avoidUntil = new Map<NodeId, number>();
  private readonly tailWaiters = new Set<Waiter<bigint> & { above: bigint }>();
  /** Recently released records, for readers following the loglet; its end is always `released`. */
  private readonly window: ReleaseWindow;
  /** Least recently seen first (an entry is moved to the end on every call). */
  private readonly producers = new Map<string, ProducerState>();
  private readonly maxProducers: number;
  private readonly producerIdleMs: number;
  private readonly maxRememberedCalls: number;
  readonly stats = { appends: 0, records: 0, waves: 0, spills: 0, duplicateCalls: 0, outOfOrderCalls: 0 };
  private readonly metrics: AppendMetrics | undefined;

  constructor(params: LogletParams, directory: LogServerDirectory, opts: SequencerOptions) {
    this.params = params;
    this.quorum = new Quorum(params.nodeset, params.replication);
    this.directory = directory;
    this.timers = opts.timers;
    this.random = opts.random;
    this.storeTimeoutMs = opts.storeTimeoutMs ?? 2_000;
    this.avoidMs = opts.avoidMs ?? 1_000;
    this.maxWaveRecords = opts.maxWaveRecords ?? 1024;
    this.maxWaveBytes = opts.maxWaveBytes ?? 4 << 20;
    this.maxInflight = opts.maxInflightWaves ?? 4;
    this.maxQueuedRecords = opts.maxQueuedRecords ?? 65_536;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 << 20;
    this.lastAppendMs = this.timers.now();
    this.nextOffset = opts.startOffset ?? 0n;
    this.released = this.nextOffset;
    this.window = new ReleaseWindow(this.released, opts.window);
    this.rotation = Math.floor(this.random() * params.nodeset.length);
    this.maxProducers = opts.maxProducers ?? 10_000;
    this.producerIdleMs = opts.producerIdleMs ?? 600_000;
    this.maxRememberedCalls = opts.maxRememberedCalls ?? 64;
    this.metrics = opts.metrics;
  }

  /** Released (acknowledged) tail: every offset below it has a write quorum. */
  get tail(): bigint {
    return this.released;
  }

  get isSealed(): boolean {
    return this.sealedAt !== undefined;
  }

  /** When (timers' clock) this sequencer learnt that its loglet is sealed, or was closed; undefined while open. */
  get endedAtMs(): number | undefined {
    return this.endedMs;
  }

  /** When (timers' clock) it last accepted an append, or was created. */
  get lastAppendAtMs(): number {
    return this.lastAppendMs;
  }

  /**
   * Appends records; resolves with the offset of the first once all of them are acknowledged. With `call`, the
   * call is one of a producer's numbered calls: it is sequenced only if it is the next one expected from that
   * producer; a call already sequenced is answered with its first offset and appends nothing (a retry); a call
   * whose predecessor has not arrived is refused with LogOutOfOrderError.
   *
   * Refused rather than held until the predecessor arrives: a hold needs a timer and a bound per producer, and
   * the predecessor may never come (its request was lost, or the producer gave up on it); the producer's
   * recovery (wait for what is in flight, send every unacknowledged call again in order) is needed anyway for
   * lost calls, and on one gRPC connection calls arrive in the order they were sent, so refusals are rare.
   */
  append(payloads: Uint8Array[], call?: AppendCall): Promise<bigint> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.sealedAt !== undefined)
      return Promise.reject(new LogletSealedError(`loglet ${this.params.logletId} is sealed`));
    if (payloads.length === 0) return Promise.reject(new Error('append needs at least one record'));
    if (!call) return this.enqueue(payloads);
    const p = this.producer(call);
    if (call.seq < p.expected) {
      const answered = p.recent.get(call.seq);
      if (answered) {
        this.stats.duplicateCalls++;
        return answered;
      }
      return Promise.reject(
        new LogOutOfOrderError(
          `out of order: call ${call.seq} of producer ${call.producer} is below ${p.expected} and no longer remembered by loglet ${this.params.logletId}`,
        ),
      );
    }
    if (call.seq > p.expected) {
      this.stats.outOfOrderCalls++;
      return Promise.reject(
        new LogOutOfOrderError(
          `out of order: call ${call.seq} of producer ${call.producer} arrived before call ${p.expected} at loglet ${this.params.logletId}`,
        ),
      );
    }
    const overloaded = this.overloaded(payloads);
    if (overloaded) return Promise.reject(overloaded); // nothing accepted: still the expected call
    const answer = this.enqueue(payloads);
    p.expected = call.seq + 1;
    p.recent.set(call.seq, answer);
    answer.catch(() => {}); // a duplicate may ask for it later; the caller handles the rejection
    for (const seq of p.recent.keys()) {
      if (p.recent.size <= this.maxRememberedCalls) break;
      p.recent.delete(seq);
    }
    return answer;
  }

  /** The state of `call`'s producer, created or brought up to its `firstUnacked`; forgets idle producers. */
  private producer(call: AppendCall): ProducerState {
    const now = this.timers.now();
    for (const [id, q] of this.producers) {
      if (q.lastSeenMs + this.producerIdleMs > now) break;
      this.producers.delete(id);
    }
    let p = this.producers.get(call.producer);
    if (p) this.producers.delete(call.producer);
    else p = { expected: call.firstUnacked, recent: new Map(), lastSeenMs: now };
    p.lastSeenMs = now;
    this.producers.set(call.producer, p);
    for (const id of this.producers.keys()) {
      if (this.producers.size <= this.maxProducers) break;
      this.producers.delete(id);
    }
    // The producer has its answers below firstUnacked (or gave up on them): they will not be asked for again.
    if (call.firstUnacked > p.expected) p.expected = call.firstUnacked;
    for (const seq of p.recent.keys()) {
      if (seq >= call.firstUnacked) break;
      p.recent.delete(seq);
    }
    return p;
  }

  /** The refusal of `payloads` when the queue is full. */
  private overloaded(payloads: Uint8Array[]): LogOverloadedError | undefined {
    const bytes = payloads.reduce((n, p) => n + p.length, 0);
    if (
      this.queue.length > 0 &&
      (this.queuedRecords + payloads.length > this.maxQueuedRecords || this.queuedBytes + bytes > this.maxQueuedBytes)
    )
      return new LogOverloadedError(
        `sequencer of loglet ${this.params.logletId} has ${this.queuedRecords} records (${this.queuedBytes} bytes) waiting; retry later`,
      );
    return undefined;
  }

  private enqueue(payloads: Uint8Array[]): Promise<bigint> {
    const overloaded = this.overloaded(payloads);
    if (overloaded) return Promise.reject(overloaded);
    const bytes = payloads.reduce((n, p) => n + p.length, 0);
    this.queuedRecords += payloads.length;
    this.queuedBytes += bytes;
    return new Promise((resolve, reject) => {
      this.queue.push({ payloads, resolve, reject, acceptedMs: this.metrics ? performance.now() : 0 });
      this.stats.appends++;
      this.lastAppendMs = this.timers.now();
      this.schedule();
    });
  }

  /** Resolves with the released tail once it is above `above`; rejects when the loglet is sealed first. */
  waitForTail(above: bigint, signal?: AbortSignal): Promise<bigint> {
    if (this.released > above) return Promise.resolve(this.released);
    if (this.closed) return Promise.reject(this.closed);
    if (this.sealedAt !== undefined)
      return Promise.reject(new LogletSealedError(`loglet ${this.params.logletId} is sealed`));
    return abortableWait<bigint>(signal, (w) => {
      const entry = { above, resolve: w.resolve, reject: w.reject };
      this.tailWaiters.add(entry);
      return () => this.tailWaiters.delete(entry);
    });
  }

  /**
   * Pushes released records from `from` on to `sink` (see ReleaseWindow.subscribe): what the window holds now,
   * then every release, until the loglet is sealed or the sequencer stops.
   */
  subscribe(from: bigint, sink: ReleaseSink): ReleaseSubscription {
    return this.window.subscribe(from, sink);
  }

  /** Readers following this loglet, and the window that serves them (for metrics). */
  windowStats(): { subscribers: number; windowStart: bigint } {
    return { subscribers: this.window.subscribers, windowStart: this.window.windowStart };
  }

  debug(): unknown {
    return {
      queue: this.queue.length,
      inflight: this.inflight.map((w) => ({
        first: String(w.first),
        n: w.payloads.length,
        acked: [...w.acked],
        pending: [...w.pending],
        failed: [...w.failed],
        done: w.done,
      })),
      released: String(this.released),
      sealed: this.sealedAt !== undefined,
      closed: !!this.closed,
    };
  }

  /** Stops: rejects every unacknowledged append (they may or may not end up in the log). */
  close(reason = new LogUnavailableError(`sequencer of ${this.params.logletId} stopped`)): void {
    if (this.closed) return;
    this.closed = reason;
    this.endedMs ??= this.timers.now();
    this.failAll(reason);
    this.window.close({ kind: 'closed', error: reason });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Group the appends that arrive in the same turn into one wave.
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (
      this.queue.length > 0 &&
      this.inflight.length < this.maxInflight &&
      !this.closed &&
      this.sealedAt === undefined
    ) {
      const wave: Wave = {
        first: this.nextOffset,
        payloads: [],
        appenders: [],
        acked: new Set(),
        pending: new Set(),
        failed: new Set(),
        done: false,
        retrying: false,
      };
      let bytes = 0;
      while (this.queue.length > 0) {
        const a = this.queue[0]!;
        const size = a.payloads.reduce((n, p) => n + p.length, 0);
        if (
          wave.payloads.length > 0 &&
          (wave.payloads.length + a.payloads.length > this.maxWaveRecords || bytes + size > this.maxWaveBytes)
        )
          break;
        this.queue.shift();
        this.queuedRecords -= a.payloads.length;
        this.queuedBytes -= size;
        wave.appenders.push({ a, first: wave.first + BigInt(wave.payloads.length) });
        wave.payloads.push(...a.payloads);
        bytes += size;
      }
      this.nextOffset += BigInt(wave.payloads.length);
      this.inflight.push(wave);
      this.stats.waves++;
      this.stats.records += wave.payloads.length;
      this.metrics?.batch(wave.payloads.length);
      const copyset = this.quorum.pickCopyset(this.rotation++, (id) => this.healthy(id));
      for (const node of copyset) this.send(wave, node);
    }
  }

  private healthy(id: NodeId): boolean {
    const until = this.avoidUntil.get(id);
    return until === undefined || until <= this.timers.now();
  }

  private send(wave: Wave, node: NodeId): void {
    wave.pending.add(node);
    const request = {
      logletId: this.params.logletId,
      firstOffset: wave.first,
      payloads: wave.payloads,
      knownGlobalTail: this.released,
    };
    // A timeout, an error and a refusal all count as a failed store on this node.
    withTimeout(this.timers, this.storeTimeoutMs, () => this.directory(node).store(request)).then(
      (r) => {
        if (r.status === 'ok') this.onStored(wave, node);
        else if (r.status === 'sealed') this.onSealed();
        else this.onStoreFailed(wave, node);
      },
      () => this.onStoreFailed(wave, node),
    );
  }

  private onStored(wave: Wave, node: NodeId): void {
    wave.pending.delete(node);
    wave.acked.add(node);
    this.progress(wave);
  }

  private onStoreFailed(wave: Wave, node: NodeId): void {
    wave.pending.delete(node);
    wave.failed.add(node);
    this.avoidUntil.set(node, this.timers.now() + this.avoidMs);
    this.progress(wave);
  }

  /**
   * After any store outcome: done once the acknowledged copies form a write quorum; otherwise make sure enough
   * stores are in flight that they could, spilling to other nodes; when every useful node has failed, retry
   * the failed ones after a pause.
   */
  private progress(wave: Wave): void {
    if (wave.done || this.closed || this.sealedAt !== undefined) return;
    if (this.quorum.isWriteQuorum(wave.acked)) {
      wave.done = true;
      this.release();
      return;
    }
    const healthy = (id: NodeId) => this.healthy(id);
    while (!this.quorum.isWriteQuorum([...wave.acked, ...wave.pending])) {
      const tried = new Set([...wave.pending, ...wave.failed]);
      const extra = this.quorum.pickExtra(new Set([...wave.acked, ...wave.pending]), tried, healthy);
      if (extra === undefined) break;
      this.stats.spills++;
      this.send(wave, extra);
    }
    if (wave.pending.size > 0 || wave.retrying) return;
    // Nothing in flight and no quorum possible with untried nodes: try the failed ones again after a pause.
    wave.retrying = true;
    this.timers.after(Math.min(this.avoidMs, 50 + Math.floor(this.random() * 100)), () => {
      wave.retrying = false;
      wave.failed.clear();
      this.progress(wave);
    });
  }

  private onSealed(): void {
    if (this.sealedAt !== undefined) return;
    this.endedMs ??= this.timers.now();
    this.sealedAt = this.released;
    this.failAll(new LogletSealedError(`loglet ${this.params.logletId} was sealed`));
    this.window.close({ kind: 'sealed', tail: this.released });
  }

  private release(): void {
    while (this.inflight.length > 0 && this.inflight[0]!.done) {
      const wave = this.inflight.shift()!;
      this.released = wave.first + BigInt(wave.payloads.length);
      // Readers first: a stream push leaves before the append's answer, so an appender that also follows the
      // log usually holds its records by the time its append resolves.
      this.window.add(wave.first, wave.payloads);
      for (const { a, first } of wave.appenders) a.resolve(first);
      if (this.metrics) {
        const now = performance.now();
        for (const { a } of wave.appenders) this.metrics.appended((now - a.acceptedMs) / 1000);
      }
    }
    for (const w of this.tailWaiters) {
      if (this.released > w.above) {
        this.tailWaiters.delete(w);
        w.resolve(this.released);
      }
    }
    if (this.queue.length > 0) this.schedule();
  }

  private failAll(e: Error): void {
    for (const wave of this.inflight.splice(0)) for (const { a } of wave.appenders) a.reject(e);
    for (const a of this.queue.splice(0)) a.reject(e);
    this.queuedRecords = 0;
    this.queuedBytes = 0;
    for (const w of this.tailWaiters) w.reject(e);
    this.tailWaiters.clear();
  }
}
