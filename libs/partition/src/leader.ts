import type { InvocationOutcome } from '@stead/core';
import type { EffectSink, PartitionProcessor } from './processor.ts';
import { PartitionReader } from './state-machine.ts';
import type { Command, Effect, JournalEntry, ResponseSink, TimerKey } from './types.ts';

/** The invoker as a partition leader uses it (see invoker-driver.ts). */
export interface Invoker {
  invoke(leader: PartitionLeader, invocationId: string): void;
  notify(invocationId: string, index: number, entry: JournalEntry): void;
  stop(invocationId: string): void;
}

export interface LeaderDeps {
  processor: PartitionProcessor;
  /** The processor of the partition owning `partitionKey` (outbox delivery). */
  route: (partitionKey: bigint) => PartitionProcessor;
  /** Delivers a result to an ingress request waiting in this process. */
  respond: (invocationId: string, sink: ResponseSink, outcome: InvocationOutcome) => void;
  /** Tells a waiting send whether its (idempotent) invocation existed already. */
  submitted: (invocationId: string, previouslyAccepted: boolean) => void;
  invoker: Invoker;
  now: () => number;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

const MAX_TIMEOUT = 2 ** 31 - 1;

/**
 * Performs a partition's effects while this process leads it: starts invocations, fires timers,
 * delivers outbox messages to other partitions' logs, answers waiting ingress requests.
 */
export class PartitionLeader implements EffectSink {
  readonly deps: LeaderDeps;
  readonly reader: PartitionReader;
  epoch = 0;
  private active = false;
  private timers: TimerKey[] = [];
  private timerHandle: NodeJS.Timeout | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  private outbox: { seq: number; partitionKey: bigint; command: Command }[] = [];
  private shipping: Promise<void> | undefined;

  constructor(deps: LeaderDeps) {
    this.deps = deps;
    this.reader = new PartitionReader(deps.processor.store);
  }

  get processor(): PartitionProcessor {
    return this.deps.processor;
  }

  async activate(epoch: number): Promise<void> {
    this.epoch = epoch;
    this.active = true;
    for (const t of await this.reader.timers()) this.addTimer(t);
    this.outbox.push(...(await this.reader.outbox()));
    this.ship();
    for (const st of await this.reader.invocations()) {
      if (st.phase === 'invoked') this.startInvocation(st.id);
    }
    this.deps.log('info', 'partition leader active', {
      partition: this.processor.partitionId,
      epoch,
      timers: this.timers.length,
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
    this.timers.push(t);
    if (t.wakeAt < this.timerDue) this.armTimer();
  }

  private armTimer(): void {
    if (this.timerHandle) clearTimeout(this.timerHandle);
    this.timerHandle = undefined;
    if (!this.active || this.timers.length === 0) {
      this.timerDue = Number.POSITIVE_INFINITY;
      return;
    }
    let due = Number.POSITIVE_INFINITY;
    for (const t of this.timers) due = Math.min(due, t.wakeAt);
    this.timerDue = due;
    const delay = Math.min(Math.max(0, due - this.deps.now()), MAX_TIMEOUT);
    this.timerHandle = setTimeout(() => this.fireTimers(), delay);
  }

  private fireTimers(): void {
    const now = this.deps.now();
    const due = this.timers.filter((t) => t.wakeAt <= now);
    this.timers = this.timers.filter((t) => t.wakeAt > now);
    if (due.length > 0) {
      this.processor
        .appendMany(due.map((timer) => ({ kind: 'TimerFired', ts: now, timer }) as Command))
        .catch((err) => {
          // Put them back; they fire again on the next arm.
          this.timers.push(...due);
          this.deps.log('warn', 'failed to append fired timers', { error: String(err) });
        });
    }
    this.armTimer();
  }

  // ---------- outbox ----------

  private ship(): void {
    if (this.shipping || !this.active) return;
    this.shipping = (async () => {
      while (this.active && this.outbox.length > 0) {
        const batch = this.outbox.sort((a, b) => a.seq - b.seq);
        this.outbox = [];
        try {
          const byTarget = new Map<PartitionProcessor, Command[]>();
          for (const m of batch) {
            const target = this.deps.route(m.partitionKey);
            const list = byTarget.get(target) ?? [];
            list.push(m.command);
            byTarget.set(target, list);
          }
          await Promise.all([...byTarget].map(([target, cmds]) => target.appendMany(cmds)));
          await this.processor.append({ kind: 'OutboxTruncate', ts: this.deps.now(), upTo: batch.at(-1)!.seq });
        } catch (err) {
          this.outbox.unshift(...batch);
          this.deps.log('warn', 'outbox delivery failed; retrying', { error: String(err) });
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })().finally(() => {
      this.shipping = undefined;
      if (this.active && this.outbox.length > 0) this.ship();
    });
  }

  async deactivate(): Promise<void> {
    this.active = false;
    if (this.timerHandle) clearTimeout(this.timerHandle);
    this.timerHandle = undefined;
    await this.shipping;
  }
}
