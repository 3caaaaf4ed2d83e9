import type { InvocationOutcome } from '@stead/core';
import { hex, type PartitionStore } from '@stead/storage';
import * as J from './journal.ts';
import type {
  Command,
  Dedup,
  Effect,
  Failure,
  InvocationStatus,
  InvokerEffect,
  JournalEntry,
  NewInvocation,
  NotificationId,
  ResponseSink,
  Target,
  TimerKey,
} from './types.ts';

/** Derives ids of invocations started by a handler; must be a pure function of its inputs (replay). */
export type ChildIdFactory = (parentId: string, journalIndex: number, target: Target) => string;

export interface StateMachineOptions {
  partitionId: number;
  /** Partition key of an invocation id (to route notifications to the partition that owns it). */
  partitionKeyOfInvocation: (invocationId: string) => bigint;
  childId: ChildIdFactory;
}

/**
 * The partition state machine: applies one log command to the partition store and returns the effects
 * the leader must perform. Deterministic: its only inputs are the command (with its timestamp) and the
 * store; every replica that applies the same log ends in the same state.
 */
export class PartitionStateMachine {
  private readonly store: PartitionStore;
  private readonly opts: StateMachineOptions;
  private effects: Effect[] = [];

  constructor(store: PartitionStore, opts: StateMachineOptions) {
    this.store = store;
    this.opts = opts;
  }

  async apply(cmd: Command): Promise<Effect[]> {
    this.effects = [];
    switch (cmd.kind) {
      case 'Invoke':
        if (await this.isDuplicate(cmd.dedup)) break;
        await this.onInvoke(cmd.inv, cmd.ts);
        break;
      case 'Effect': {
        const epoch = (await this.store.get<number>('meta/epoch')) ?? 0;
        if (cmd.epoch < epoch) break; // from a deposed leader's invoker
        await this.onInvokerEffect(cmd.invocationId, cmd.effect, cmd.ts);
        break;
      }
      case 'TimerFired':
        await this.onTimer(cmd.timer, cmd.ts);
        break;
      case 'Notify': {
        if (await this.isDuplicate(cmd.dedup)) break;
        const st = await this.status(cmd.invocationId);
        if (st && st.phase !== 'completed') {
          await this.addNotification(st, cmd.entry, cmd.id, cmd.ts);
          this.saveStatus(st);
        }
        break;
      }
      case 'AnnounceLeader': {
        const epoch = (await this.store.get<number>('meta/epoch')) ?? 0;
        if (cmd.epoch > epoch) this.store.put('meta/epoch', cmd.epoch);
        break;
      }
      case 'OutboxTruncate': {
        for (const [key] of await this.store.scan('o/')) {
          if (Number.parseInt(key.slice(2), 16) <= cmd.upTo) this.store.del(key);
          else break;
        }
        break;
      }
    }
    return this.effects;
  }

  // ---------- invocations ----------

  private async onInvoke(inv: NewInvocation, now: number): Promise<void> {
    const existing = await this.status(inv.id);
    if (existing) {
      // The same invocation submitted again (e.g. a resent outbox message): attach the new sink.
      if (inv.sink) {
        if (existing.phase === 'completed' && existing.output)
          await this.respond(existing.id, inv.sink, existing.output, now);
        else existing.sinks.push(inv.sink);
        this.saveStatus(existing);
      }
      return;
    }
    const st: InvocationStatus = {
      id: inv.id,
      target: inv.target,
      phase: 'scheduled',
      createdAt: now,
      modifiedAt: now,
      executionTime: inv.executionTime,
      journalLength: 0,
      sinks: inv.sink ? [inv.sink] : [],
      arrived: { completions: [], signals: [], names: [] },
      idempotencyKey: inv.idempotencyKey,
    };
    this.writeEntry(st, J.inputCommand(inv.headers, inv.input));
    if (inv.executionTime !== undefined && inv.executionTime > now) {
      this.addTimer({ wakeAt: inv.executionTime, invocationId: inv.id, completionId: -1 });
    } else {
      st.phase = 'invoked';
      this.effects.push({ kind: 'invoke', invocationId: st.id });
    }
    this.saveStatus(st);
  }

  private async onInvokerEffect(id: string, effect: InvokerEffect, now: number): Promise<void> {
    const st = await this.status(id);
    if (!st || st.phase !== 'invoked') return;
    st.modifiedAt = now;
    switch (effect.kind) {
      case 'pin':
        st.deploymentId = effect.deploymentId;
        st.protocolVersion = effect.protocolVersion;
        break;
      case 'command':
        await this.onCommand(st, effect.entry, now);
        break;
      case 'runCompletion':
        await this.addNotification(
          st,
          J.runCompletion(effect.completionId, effect.value, effect.failure),
          { completionId: effect.completionId },
          now,
        );
        break;
      case 'suspend': {
        const w = effect.waiting;
        const ready =
          w.completions.some((c) => st.arrived.completions.includes(c)) ||
          w.signals.some((s) => st.arrived.signals.includes(s)) ||
          w.names.some((n) => st.arrived.names.includes(n));
        if (ready) {
          this.effects.push({ kind: 'invoke', invocationId: id });
        } else {
          st.phase = 'suspended';
          st.waiting = w;
        }
        break;
      }
      case 'end':
        await this.complete(st, st.output ?? { ok: false, code: 500, message: 'invocation ended without output' });
        return;
      case 'fail':
        await this.complete(st, { ok: false, code: effect.failure.code, message: effect.failure.message });
        return;
    }
    this.saveStatus(st);
  }

  /** A command the SDK wrote: journal it and perform what it asks for. */
  private async onCommand(st: InvocationStatus, entry: JournalEntry, now: number): Promise<void> {
    const index = this.writeEntry(st, entry);
    const cmd = J.decodeCommand(entry);
    switch (cmd.kind) {
      case 'output':
        st.output = cmd.outcome;
        break;
      case 'setState':
        if (st.target.key !== undefined) this.store.putRaw(this.stateKey(st.target, cmd.key), cmd.value);
        break;
      case 'clearState':
        if (st.target.key !== undefined) this.store.del(this.stateKey(st.target, cmd.key));
        break;
      case 'clearAllState':
        if (st.target.key !== undefined) await this.store.delPrefix(this.statePrefix(st.target));
        break;
      case 'getLazyState': {
        const value =
          st.target.key === undefined ? undefined : await this.store.getRaw(this.stateKey(st.target, cmd.key));
        await this.addNotification(st, J.getLazyStateCompletion(cmd.completionId, value), cmd, now);
        break;
      }
      case 'getLazyStateKeys': {
        const keys =
          st.target.key === undefined
            ? []
            : (await this.store.scan(this.statePrefix(st.target))).map(([k]) =>
                Buffer.from(k.slice(this.statePrefix(st.target).length), 'base64url'),
              );
        await this.addNotification(st, J.getLazyStateKeysCompletion(cmd.completionId, keys), cmd, now);
        break;
      }
      case 'sleep':
        this.addTimer({ wakeAt: cmd.wakeUpTime, invocationId: st.id, completionId: cmd.completionId });
        break;
      case 'call':
      case 'oneWayCall': {
        const childId = this.opts.childId(st.id, index, cmd.target);
        await this.addNotification(
          st,
          J.callInvocationIdCompletion(cmd.invocationIdCompletionId, childId),
          { completionId: cmd.invocationIdCompletionId },
          now,
        );
        const inv: NewInvocation = {
          id: childId,
          target: cmd.target,
          input: cmd.parameter,
          headers: cmd.headers,
          idempotencyKey: cmd.idempotencyKey,
        };
        if (cmd.kind === 'call')
          inv.sink = { kind: 'invocation', invocationId: st.id, completionId: cmd.resultCompletionId };
        else if (cmd.invokeTime > now) inv.executionTime = cmd.invokeTime;
        await this.sendTo(this.opts.partitionKeyOfInvocation(childId), { kind: 'Invoke', ts: now, inv });
        break;
      }
      case 'other':
        break;
    }
  }

  private async onTimer(timer: TimerKey, now: number): Promise<void> {
    const key = this.timerKey(timer);
    if (!(await this.store.getRaw(key))) return; // already fired
    this.store.del(key);
    const st = await this.status(timer.invocationId);
    if (!st || st.phase === 'completed') return;
    if (timer.completionId < 0) {
      if (st.phase === 'scheduled') {
        st.phase = 'invoked';
        st.modifiedAt = now;
        this.effects.push({ kind: 'invoke', invocationId: st.id });
        this.saveStatus(st);
      }
      return;
    }
    await this.addNotification(st, J.sleepCompletion(timer.completionId), { completionId: timer.completionId }, now);
    this.saveStatus(st);
  }

  private async complete(st: InvocationStatus, outcome: InvocationOutcome): Promise<void> {
    for (const sink of st.sinks) await this.respond(st.id, sink, outcome, st.modifiedAt);
    this.effects.push({ kind: 'stopAttempt', invocationId: st.id });
    await this.store.delPrefix(`j/${st.id}/`);
    this.store.del(`i/${st.id}`);
  }

  private async respond(invocationId: string, sink: ResponseSink, outcome: InvocationOutcome, now: number) {
    if (sink.kind === 'ingress') {
      this.effects.push({ kind: 'respond', invocationId, sink, outcome });
      return;
    }
    const entry = J.callCompletion(sink.completionId, outcome);
    // Routed through the log of the caller's partition (possibly this one) via the outbox.
    await this.sendTo(this.opts.partitionKeyOfInvocation(sink.invocationId), {
      kind: 'Notify',
      ts: now,
      invocationId: sink.invocationId,
      entry,
      id: { completionId: sink.completionId },
    });
  }

  // ---------- journal, notifications ----------

  private writeEntry(st: InvocationStatus, entry: JournalEntry): number {
    const index = st.journalLength++;
    this.store.put(`j/${st.id}/${hex(index, 8)}`, entry);
    return index;
  }

  private async addNotification(
    st: InvocationStatus,
    entry: JournalEntry,
    nid: NotificationId,
    now: number,
  ): Promise<void> {
    if ('completionId' in nid) {
      if (st.arrived.completions.includes(nid.completionId)) return; // duplicate delivery
      st.arrived.completions.push(nid.completionId);
    } else if ('signalId' in nid) st.arrived.signals.push(nid.signalId);
    else st.arrived.names.push(nid.signalName);
    const index = this.writeEntry(st, entry);
    st.modifiedAt = now;
    if (st.phase === 'invoked') {
      this.effects.push({ kind: 'notify', invocationId: st.id, index, entry });
    } else if (st.phase === 'suspended' && st.waiting && waits(st.waiting, nid)) {
      st.phase = 'invoked';
      st.waiting = undefined;
      this.effects.push({ kind: 'invoke', invocationId: st.id });
    }
  }

  // ---------- outbox, timers, dedup ----------

  private async sendTo(partitionKey: bigint, command: Command): Promise<void> {
    const seq = ((await this.store.get<number>('meta/outboxSeq')) ?? 0) + 1;
    this.store.put('meta/outboxSeq', seq);
    const withDedup: Command =
      command.kind === 'Invoke' || command.kind === 'Notify'
        ? { ...command, dedup: { producer: this.opts.partitionId, seq } }
        : command;
    this.store.put(`o/${hex(seq, 16)}`, { partitionKey, command: withDedup });
    this.effects.push({ kind: 'outbox', seq, partitionKey, command: withDedup });
  }

  private async isDuplicate(dedup: Dedup | undefined): Promise<boolean> {
    if (!dedup) return false;
    const key = `d/${hex(dedup.producer, 4)}`;
    const last = (await this.store.get<number>(key)) ?? 0;
    if (dedup.seq <= last) return true;
    this.store.put(key, dedup.seq);
    return false;
  }

  private timerKey(t: TimerKey): string {
    return `t/${hex(t.wakeAt, 12)}/${t.invocationId}/${t.completionId < 0 ? 'inv' : hex(t.completionId, 8)}`;
  }

  private addTimer(timer: TimerKey): void {
    this.store.put(this.timerKey(timer), timer);
    this.effects.push({ kind: 'timer', timer });
  }

  // ---------- tables ----------

  async status(id: string): Promise<InvocationStatus | undefined> {
    return this.store.get<InvocationStatus>(`i/${id}`);
  }

  private saveStatus(st: InvocationStatus): void {
    this.store.put(`i/${st.id}`, st);
  }

  private statePrefix(t: Target): string {
    return `s/${t.service}\u0000${t.key}\u0000`;
  }

  private stateKey(t: Target, key: Uint8Array): string {
    return this.statePrefix(t) + Buffer.from(key).toString('base64url');
  }
}

function waits(w: { completions: number[]; signals: number[]; names: string[] }, nid: NotificationId): boolean {
  if ('completionId' in nid) return w.completions.includes(nid.completionId);
  if ('signalId' in nid) return w.signals.includes(nid.signalId);
  return w.names.includes(nid.signalName);
}

/** Reads the tables a leader needs when it takes over (journal, pending work). */
export class PartitionReader {
  private readonly store: PartitionStore;
  constructor(store: PartitionStore) {
    this.store = store;
  }
  status(id: string): Promise<InvocationStatus | undefined> {
    return this.store.get<InvocationStatus>(`i/${id}`);
  }
  async journal(st: InvocationStatus): Promise<JournalEntry[]> {
    const rows = await this.store.scan(`j/${st.id}/`);
    return rows.map(([, v]) => decodeEntry(v));
  }
  async stateOf(t: Target): Promise<[Uint8Array, Uint8Array][]> {
    if (t.key === undefined) return [];
    const prefix = `s/${t.service}\u0000${t.key}\u0000`;
    return (await this.store.scan(prefix)).map(([k, v]) => [Buffer.from(k.slice(prefix.length), 'base64url'), v]);
  }
  async invocations(): Promise<InvocationStatus[]> {
    return (await this.store.scan('i/')).map(([, v]) => decodeStatus(v));
  }
  async timers(): Promise<TimerKey[]> {
    return (await this.store.scan('t/')).map(([, v]) => decodeTimer(v));
  }
  async outbox(): Promise<{ seq: number; partitionKey: bigint; command: Command }[]> {
    return (await this.store.scan('o/')).map(([k, v]) => {
      const row = decodeOutbox(v);
      return { seq: Number.parseInt(k.slice(2), 16), ...row };
    });
  }
}

import { decodeValue } from '@stead/storage';

const decodeEntry = (v: Uint8Array) => decodeValue<JournalEntry>(v);
const decodeStatus = (v: Uint8Array) => decodeValue<InvocationStatus>(v);
const decodeTimer = (v: Uint8Array) => decodeValue<TimerKey>(v);
const decodeOutbox = (v: Uint8Array) => decodeValue<{ partitionKey: bigint; command: Command }>(v);

export type { Failure };
