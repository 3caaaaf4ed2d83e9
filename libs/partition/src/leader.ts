import type { InvocationOutcome } from '@stead/core';
import { type Clock, clockOf, sleep, systemTimers, type TimerHandle, type Timers } from './clock.ts';
import type { InvocationMetrics } from './metrics.ts';
import type { EffectSink, PartitionProcessor } from './processor.ts';
import { PartitionReader } from './state-machine.ts';
import { timerKey } from './tables.ts';
import { type TimerEntry, TimerQueue } from './timer-queue.ts';
import type { Command, Effect, JournalEntry, ResponseSink, TimerKey } from './types.ts';

/** The invoker as a partition leader uses it (see invoker-driver.ts). */
export interface Invoker {
  invoke(leader: PartitionLeader, invocationId: string): void;
  notify(invocationId: string, index: number, entry: JournalEntry): void;
  stop(invocationId: string): void;
  /** Stops every attempt started for `leader` (it no longer leads: what they would append is fenced anyway). */
  stopLeader(leader: PartitionLeader): void;
}

export interface LeaderDeps {
  processor: PartitionProcessor;
  /** The partition owning `partitionKey` (outbox delivery). */
  partitionOf: (partitionKey: bigint) => number;
  /**
   * Appends outbox messages (each tagged with this partition's producer and sequence number) to the log of
   * `partition`; resolves once they are durable there. May be retried: the target drops what it has seen.
   */
  deliver: (partition: number, commands: Command[]) => Promise<unknown>;
  /** Delivers a result to an ingress request waiting in this process. */
  respond: (invocationId: string, sink: ResponseSink, outcome: InvocationOutcome) => void;
  /** Tells a waiting send whether its (idempotent) invocation existed already. */
  submitted: (invocationId: string, previouslyAccepted: boolean) => void;
  invoker: Invoker;
  /** Reads the time (default: the system clock). */
  clock?: Clock;
  /** The older form of `clock`: a bare function; `clock` wins when both are given. */
  now?: () => number;
  /** Arms the timer wake-ups and the retry pauses (default: the system's). */
  timers?: Timers;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** The most durable timers held in memory; the others are paged in from the time index (default 4096). */
  maxTimersInMemory?: number;
  /** Told when an invocation of this partition ends while this process leads it. */
  metrics?: InvocationMetrics;
}

const MAX_TIMEOUT = 2 ** 31 - 1;
/** Wait before firing timers again after their TimerFired records could not be appended. */
const TIMER_RETRY_MS = 200;
/** Wait before shipping the outbox again after a delivery failed. */
const OUTBOX_RETRY_MS = 200;

/**
 * Performs a partition's effects while this process leads it: starts invocations, fires timers,
 * delivers outbox messages to other partitions' logs, answers waiting ingress requests.
 */
export class PartitionLeader implements EffectSink {
  readonly deps: LeaderDeps;
  readonly reader: PartitionReader;
  private readonly clock: Clock;
  private readonly timeouts: Timers;
  epoch = 0;
  private active = false;
  /** The earliest timers of the partition (a bounded window of its time index); replaced on activation. */
  private timers: TimerQueue;
  /** The queue whose next page is being read, if any. */
  private refillingTimers: TimerQueue | undefined;
  private timerHandle: TimerHandle | undefined;
  /** The time `timerHandle` fires at (infinity when none is armed). */
  private timerDue = Number.POSITIVE_INFINITY;
  private outbox: { seq: number; partitionKey: bigint; command: Command }[] = [];
  private shipping: Promise<void> | undefined;

  constructor(deps: LeaderDeps) {
    this.deps = deps;
    this.clock = clockOf(deps);
    this.timeouts = deps.timers ?? systemTimers;
    this.reader = new PartitionReader(deps.processor.store);
    this.timers = this.newTimerQueue();
  }

  private newTimerQueue(): TimerQueue {
    return new TimerQueue({
      load: (after, limit) => this.reader.timersAfter(after, limit),
      keyOf: timerKey,
      maxInMemory: this.deps.maxTimersInMemory,
    });
  }

  /** Timers held in memory, and pages of the time index read (for tests and metrics). */
  get timerStats(): { inMemory: number; pages: number } {
    return { inMemory: this.timers.size, pages: this.timers.stats.pages };
  }

  get processor(): PartitionProcessor {
    return this.deps.processor;
  }

  async activate(epoch: number): Promise<void> {
    this.epoch = epoch;
    this.active = true;
    this.timers = this.newTimerQueue();
    await this.timers.refill();
    this.armTimer();
    this.outbox = await this.reader.outbox();
    this.ship();
    for (const st of await this.reader.invocations()) {
      if (st.phase === 'invoked') this.startInvocation(st.id);
    }
    this.deps.log('info', 'partition leader active', {
      partition: this.processor.partitionId,
      epoch,
      timers: this.timers.size,
      outbox: this.outbox.length,
    });
  }

  execute(effects: Effect[]): void {
    if (!this.active) return;
    for (const e of effects) {
      switch (e.kind) {
        case 'invoke':
          this.startInvocation(e.invocationId);
          break;
        case 'notify':
          this.deps.invoker.notify(e.invocationId, e.index, e.entry);
          break;
        case 'timer':
          this.addTimer(e.timer);
          break;
        case 'outbox':
          this.outbox.push({ seq: e.seq, partitionKey: e.partitionKey, command: e.command });
          break;
        case 'respond':
          this.deps.respond(e.invocationId, e.sink, e.outcome);
          break;
        case 'submitted':
          this.deps.submitted(e.invocationId, e.previouslyAccepted);
          break;
        case 'stopAttempt':
          this.deps.invoker.stop(e.invocationId);
          if (e.ended !== undefined) this.deps.metrics?.ended(e.ended === 'completed');
          break;
      }
    }
    if (this.outbox.length > 0) this.ship();
  }

  private startInvocation(id: string): void {
    this.deps.invoker.invoke(this, id);
  }

  // ---------- timers ----------

  private addTimer(t: TimerKey): void {
    this.timers.add(t);
    if (t.wakeAt < this.timerDue) this.armTimer();
  }

  /** Arms the wake-up for the earliest timer in memory, reading the next page first when memory runs low. */
  private armTimer(): void {
    if (!this.active) return;
    if (this.timers.needsPage) this.refillTimers();
    const due = this.timers.nextWakeAt();
    if (due === undefined) return; // none in memory: a page read in flight arms when it is done
    if (this.timerHandle !== undefined && this.timerDue <= due) return;
    if (this.timerHandle !== undefined) this.timeouts.clearTimeout(this.timerHandle);
    this.timerDue = due;
    const delay = Math.min(Math.max(0, due - this.clock.now()), MAX_TIMEOUT);
    this.timerHandle = this.timeouts.setTimeout(this.onTimerDue, delay);
  }

  private refillTimers(): void {
    const queue = this.timers;
    if (this.refillingTimers === queue) return;
    this.refillingTimers = queue;
    const done = () => {
      if (this.refillingTimers === queue) this.refillingTimers = undefined;
    };
    queue.refill().then(
      () => {
        done();
        if (queue === this.timers) this.armTimer();
      },
      (err: unknown) => {
        done();
        this.deps.log('warn', 'failed to read timers from the store; retrying', { error: String(err) });
        this.retryTimers(queue);
      },
    );
  }

  /** Arms the timers of `queue` again after a pause (a page read or an append failed). */
  private retryTimers(queue: TimerQueue): void {
    this.timeouts.setTimeout(() => queue === this.timers && this.armTimer(), TIMER_RETRY_MS);
  }

  /** Bound once: re-arming allocates no closure. */
  private readonly onTimerDue = () => this.fireTimers();

  private fireTimers(): void {
    this.timerHandle = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    if (!this.active) return;
    const now = this.clock.now();
    const due = this.timers.takeDue(now);
    if (due.length > 0) this.appendFired(this.timers, due, now);
    this.armTimer();
  }

  /** Appends TimerFired records; the queue forgets the timers once applied (removed from the store). */
  private appendFired(queue: TimerQueue, due: TimerEntry[], now: number): void {
    this.processor.appendMany(due.map(({ timer }) => ({ kind: 'TimerFired', ts: now, timer }) as Command)).then(
      async (first) => {
        await this.processor.waitApplied(first + BigInt(due.length - 1));
        queue.settled(due);
      },
      (err: unknown) => {
        // Put them back; they fire again after a pause.
        queue.failed(due);
        this.deps.log('warn', 'failed to append fired timers', { error: String(err) });
        this.retryTimers(queue);
      },
    );
  }

  // ---------- outbox ----------

  private ship(): void {
    if (this.shipping || !this.active) return;
    this.shipping = (async () => {
      while (this.active && this.outbox.length > 0) {
        const batch = this.outbox.sort((a, b) => a.seq - b.seq);
        this.outbox = [];
        try {
          const byTarget = new Map<number, Command[]>();
          for (const m of batch) {
            const target = this.deps.partitionOf(m.partitionKey);
            const list = byTarget.get(target) ?? [];
            list.push(m.command);
            byTarget.set(target, list);
          }
          await Promise.all([...byTarget].map(([target, cmds]) => this.deps.deliver(target, cmds)));
          await this.processor.append({ kind: 'OutboxTruncate', ts: this.clock.now(), upTo: batch.at(-1)!.seq });
        } catch (err) {
          this.outbox.unshift(...batch);
          this.deps.log('warn', 'outbox delivery failed; retrying', { error: String(err) });
          await sleep(this.timeouts, OUTBOX_RETRY_MS);
        }
      }
    })().finally(() => {
      this.shipping = undefined;
      if (this.active && this.outbox.length > 0) this.ship();
    });
  }

  async deactivate(): Promise<void> {
    this.active = false;
    this.deps.invoker.stopLeader(this);
    if (this.timerHandle !== undefined) this.timeouts.clearTimeout(this.timerHandle);
    this.timerHandle = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    await this.shipping;
  }
}
