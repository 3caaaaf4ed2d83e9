import type { InvocationOutcome } from '@stead/core';
import { CorruptValueError, type PartitionStore } from '@stead/storage';
import { assert, InvariantError } from './assert.ts';
import type { PromiseRow } from './codec.ts';
import * as J from './journal.ts';
import { PartitionTables } from './tables.ts';
import {
  type Command,
  type ControlOp,
  type Dedup,
  type Effect,
  type InvocationStatus,
  type InvokerEffect,
  isExclusive,
  type JournalEntry,
  type NewInvocation,
  type NotificationId,
  normalizeKey,
  type ResponseSink,
  sameSink,
  type Target,
  TIMER_INVOKE,
  TIMER_PURGE,
  TIMER_PURGE_JOURNAL,
  type TimerKey,
} from './types.ts';

/** Id arithmetic the state machine needs; all pure functions (replay must give the same ids). */
export interface IdFunctions {
  /** Partition key of an invocation id (to route messages to the partition that owns it). */
  partitionKeyOfInvocation: (invocationId: string) => bigint;
  /** Id of an invocation started by a handler: a function of the parent and the journal index. */
  childId: (parentId: string, journalIndex: number, target: Target) => string;
  /** Target invocation and signal index of an awakeable id; throws on a malformed id. */
  awakeable: (awakeableId: string) => { invocationId: string; signalIndex: number };
  /** Id of the invocation an idempotent request or a workflow run gets (same inputs, same id). */
  idempotentId: (service: string, key: string | undefined, handler: string, idempotencyKey: string) => string;
  workflowId: (name: string, key: string) => string;
}

export interface StateMachineOptions extends IdFunctions {
  partitionId: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** Failure codes and messages as Restate reports them. */
export const CANCELLED: InvocationOutcome = { ok: false, code: 409, message: 'cancelled' };
export const KILLED: InvocationOutcome = { ok: false, code: 409, message: 'killed' };
export const NOT_FOUND: InvocationOutcome = { ok: false, code: 404, message: 'invocation not found' };
export const NOT_READY: InvocationOutcome = { ok: false, code: 470, message: 'invocation not completed yet' };
export const ALREADY_COMPLETED: InvocationOutcome = {
  ok: false,
  code: 409,
  message: 'the invocation is already completed; it can be purged',
};
const CANCEL_SIGNAL = 1;

/**
 * Most waiters (attached requests, calling invocations) one invocation keeps in its status; a further attach is
 * answered with TOO_MANY_WAITERS. A constant, not a setting: every replay of the log must decide the same.
 */
export const MAX_SINKS_PER_INVOCATION = 1000;
export const TOO_MANY_WAITERS: InvocationOutcome = {
  ok: false,
  code: 429,
  message: `too many requests are attached to this invocation (the limit is ${MAX_SINKS_PER_INVOCATION}); retry later`,
};

/**
 * The partition state machine: applies one log command to the partition store and returns the effects
 * the leader must perform. Deterministic: its only inputs are the command (with its timestamp) and the
 * store; every replica that applies the same log ends in the same state.
 */
export class PartitionStateMachine {
  private readonly store: PartitionStore;
  private readonly tables: PartitionTables;
  private readonly opts: StateMachineOptions;
  private effects: Effect[] = [];
  /** Commands that could not be applied (their invocation failed, or they were skipped). */
  rejectedCommands = 0;

  constructor(store: PartitionStore, opts: StateMachineOptions) {
    this.store = store;
    this.tables = new PartitionTables(store);
    this.opts = opts;
  }

  /**
   * Applies one command. Total: a command that cannot be applied has its writes rolled back and fails its
   * invocation with a terminal error (or is skipped when it belongs to none). Only a corrupt store or a
   * broken invariant throws: then the processor must stop.
   */
  async apply(cmd: Command): Promise<Effect[]> {
    this.effects = [];
    this.store.savepoint();
    try {
      await this.applyCommand(cmd);
    } catch (err) {
      if (err instanceof CorruptValueError || err instanceof InvariantError) throw err;
      this.store.rollback();
      this.effects = [];
      await this.reject(cmd, err);
    }
    return this.effects;
  }

  /** Records that `cmd` could not be applied: its invocation completes with a failure naming the problem. */
  private async reject(cmd: Command, err: unknown): Promise<void> {
    this.rejectedCommands++;
    const reason = err instanceof Error ? err.message : String(err);
    const invocationId = 'invocationId' in cmd ? cmd.invocationId : cmd.kind === 'Invoke' ? cmd.inv.id : undefined;
    const failure: InvocationOutcome = {
      ok: false,
      code: 500,
      message: `the partition could not apply a ${cmd.kind} command${invocationId ? ` of invocation ${invocationId}` : ''}: ${reason}`,
    };
    this.opts.log?.(
      'error',
      'a command cannot be applied: its writes are rolled back and its invocation fails (if it has one)',
      {
        partition: this.opts.partitionId,
        command: cmd.kind,
        invocationId,
        error: reason,
      },
    );
    try {
      if ('dedup' in cmd && (await this.isDuplicate(cmd.dedup))) return;
      switch (cmd.kind) {
        case 'Effect':
        case 'Notify':
        case 'Control': {
          const st = await this.status(cmd.invocationId);
          if (st && st.phase !== 'completed') {
            await this.dropQueued(st);
            await this.complete(st, failure, cmd.ts);
          }
          if (cmd.kind === 'Control' && cmd.sink) await this.respond(cmd.invocationId, cmd.sink, failure, cmd.ts);
          return;
        }
        case 'Invoke':
          if (cmd.inv.sink) await this.respond(cmd.inv.id, cmd.inv.sink, failure, cmd.ts);
          return;
        case 'Attach':
          await this.respond(cmd.invocationId, cmd.sink, failure, cmd.ts);
          return;
        default:
          return; // not tied to an invocation: skipped
      }
    } catch (err2) {
      if (err2 instanceof CorruptValueError || err2 instanceof InvariantError) throw err2;
      this.store.rollback();
      this.effects = [];
      this.opts.log?.('error', 'the failure of a command that cannot be applied cannot be recorded; skipped', {
        partition: this.opts.partitionId,
        command: cmd.kind,
        invocationId,
        error: err2 instanceof Error ? err2.message : String(err2),
      });
    }
  }

  private async applyCommand(cmd: Command): Promise<void> {
    switch (cmd.kind) {
      case 'Invoke':
        if (await this.isDuplicate(cmd.dedup)) break;
        await this.onInvoke(cmd.inv, cmd.ts);
        break;
      case 'Effect': {
        const epoch = await this.tables.epoch();
        if (cmd.epoch < epoch) break; // from a deposed leader's invoker
        await this.onInvokerEffect(cmd.invocationId, cmd.effect, cmd.ts, cmd.attempt);
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
          if (await this.status(st.id)) this.saveStatus(st);
        }
        break;
      }
      case 'Control':
        if (await this.isDuplicate(cmd.dedup)) break;
        await this.onControl(cmd.invocationId, cmd.op, cmd.ts, cmd.sink, cmd.newInvocationId);
        break;
      case 'Attach':
        if (await this.isDuplicate(cmd.dedup)) break;
        await this.onAttach(cmd.invocationId, cmd.sink, cmd.mode, cmd.ts);
        break;
      case 'AnnounceLeader': {
        const epoch = await this.tables.epoch();
        if (cmd.epoch > epoch) this.tables.putEpoch(cmd.epoch);
        break;
      }
      case 'OutboxTruncate':
        await this.tables.truncateOutbox(cmd.upTo);
        break;
    }
  }

  /** The highest leader epoch announced in this partition's log (0 before any). */
  async epoch(): Promise<number> {
    return this.tables.epoch();
  }

  // ---------- invocations ----------

  private async onInvoke(inv: NewInvocation, now: number): Promise<void> {
    const existing = await this.status(inv.id);
    if (existing) {
      // The same invocation submitted again (idempotency key, workflow key, resent message): attach.
      if (inv.reportSubmit) this.effects.push({ kind: 'submitted', invocationId: inv.id, previouslyAccepted: true });
      if (inv.sink) {
        if (existing.phase === 'completed' && existing.output)
          await this.respond(existing.id, inv.sink, existing.output, now);
        else if (!(await this.addSink(existing, inv.sink, now))) return;
        this.saveStatus(existing);
      }
      return;
    }
    if (inv.reportSubmit) this.effects.push({ kind: 'submitted', invocationId: inv.id, previouslyAccepted: false });
    const st: InvocationStatus = {
      id: inv.id,
      target: normalizeKey(inv.target),
      phase: 'scheduled',
      createdAt: now,
      modifiedAt: now,
      executionTime: inv.executionTime,
      journalLength: 0,
      sinks: inv.sink ? [inv.sink] : [],
      arrived: { completions: [], signals: [], names: [] },
      idempotencyKey: inv.idempotencyKey,
      retentionMs: inv.retentionMs,
      journalRetentionMs: inv.journalRetentionMs,
    };
    this.writeEntry(st, J.inputCommand(inv.headers, inv.input));
    if (inv.executionTime !== undefined && inv.executionTime > now) {
      this.addTimer({ wakeAt: inv.executionTime, invocationId: inv.id, completionId: TIMER_INVOKE });
    } else {
      await this.admit(st);
    }
    this.saveStatus(st);
  }

  /** Runs the invocation now, or queues it behind the current holder of its key. */
  private async admit(st: InvocationStatus): Promise<void> {
    if (isExclusive(st.target)) {
      const holder = await this.tables.lockHolder(st.target);
      if (holder !== undefined && holder !== st.id) {
        const seq = await this.tables.nextInboxSeq();
        this.tables.putInbox(st.target, seq, st.id);
        st.phase = 'inboxed';
        st.inboxSeq = seq;
        return;
      }
      this.tables.putLock(st.target, st.id);
      st.locked = true;
    }
    st.inboxSeq = undefined;
    st.phase = 'invoked';
    this.startAttempt(st);
  }

  /** Releases the key's lock and starts the next queued invocation of that key. */
  private async release(st: InvocationStatus, now: number): Promise<void> {
    if (!st.locked) return;
    st.locked = false;
    this.tables.delLock(st.target);
    const next = await this.tables.firstInInbox(st.target);
    if (!next) return;
    this.tables.delInbox(st.target, next.seq);
    const nst = await this.status(next.invocationId);
    if (!nst || nst.phase !== 'inboxed') return;
    nst.modifiedAt = now;
    await this.admit(nst);
    this.saveStatus(nst);
  }

  private async onInvokerEffect(id: string, effect: InvokerEffect, now: number, attempt?: number): Promise<void> {
    const st = await this.status(id);
    if (!st || st.phase !== 'invoked') return;
    // From an attempt that was stopped (paused, suspended, cancelled) before this one started.
    if (attempt !== undefined && attempt !== (st.attempt ?? 0)) return;
    st.modifiedAt = now;
    switch (effect.kind) {
      case 'pin':
        if (st.deploymentId !== undefined && st.deploymentId !== effect.deploymentId)
          this.tables.delPinned(st.deploymentId, st.id);
        this.tables.putPinned(effect.deploymentId, st.id);
        st.deploymentId = effect.deploymentId;
        st.protocolVersion = effect.protocolVersion;
        break;
      case 'command':
        await this.onCommand(st, effect.entry, now, effect.target, effect.retention);
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
          this.startAttempt(st);
        } else {
          st.phase = 'suspended';
          st.waiting = w;
        }
        break;
      }
      case 'end':
        await this.complete(st, st.output ?? { ok: false, code: 500, message: 'invocation ended without output' }, now);
        return;
      case 'fail':
        await this.complete(st, { ok: false, code: effect.failure.code, message: effect.failure.message }, now);
        return;
      case 'pause':
        st.phase = 'paused';
        this.effects.push({ kind: 'stopAttempt', invocationId: id });
        break;
    }
    if (await this.status(st.id)) this.saveStatus(st);
  }

  /** A command the SDK wrote: journal it and perform what it asks for. */
  private async onCommand(
    st: InvocationStatus,
    entry: JournalEntry,
    now: number,
    enriched?: Pick<Target, 'serviceType' | 'handlerType'>,
    retention?: { retentionMs: number; journalRetentionMs: number },
  ): Promise<void> {
    const cmd = J.decodeCommand(entry);
    const isCall = cmd.kind === 'call' || cmd.kind === 'oneWayCall';
    const index = this.writeEntry(st, isCall && enriched ? { ...entry, callTarget: enriched } : entry);
    switch (cmd.kind) {
      case 'output':
        st.output = cmd.outcome;
        return;
      case 'setState':
        if (st.target.key !== undefined) this.tables.putState(st.target, cmd.key, cmd.value);
        return;
      case 'clearState':
        if (st.target.key !== undefined) this.tables.delState(st.target, cmd.key);
        return;
      case 'clearAllState':
        if (st.target.key !== undefined) await this.tables.clearState(st.target);
        return;
      case 'getLazyState': {
        const value = st.target.key === undefined ? undefined : await this.tables.stateValue(st.target, cmd.key);
        await this.addNotification(st, J.getLazyStateCompletion(cmd.completionId, value), cmd, now);
        return;
      }
      case 'getLazyStateKeys': {
        const keys = st.target.key === undefined ? [] : (await this.tables.state(st.target)).map(([k]) => k);
        await this.addNotification(st, J.getLazyStateKeysCompletion(cmd.completionId, keys), cmd, now);
        return;
      }
      case 'sleep':
        this.addTimer({ wakeAt: cmd.wakeUpTime, invocationId: st.id, completionId: cmd.completionId });
        return;
      case 'call':
      case 'oneWayCall': {
        const target: Target = normalizeKey({ ...cmd.target, ...enriched });
        const childId = cmd.idempotencyKey
          ? this.opts.idempotentId(target.service, target.key, target.handler, cmd.idempotencyKey)
          : target.serviceType === 'WORKFLOW' && target.handlerType === 'WORKFLOW' && target.key !== undefined
            ? this.opts.workflowId(target.service, target.key)
            : this.opts.childId(st.id, index, target);
        await this.addNotification(
          st,
          J.callInvocationIdCompletion(cmd.invocationIdCompletionId, childId),
          { completionId: cmd.invocationIdCompletionId },
          now,
        );
        const inv: NewInvocation = {
          id: childId,
          target,
          input: cmd.parameter,
          headers: cmd.headers,
          idempotencyKey: cmd.idempotencyKey,
          ...retention,
        };
        if (cmd.kind === 'call') {
          inv.sink = { kind: 'invocation', invocationId: st.id, completionId: cmd.resultCompletionId };
        } else if (cmd.invokeTime > now) inv.executionTime = cmd.invokeTime;
        await this.sendTo(this.opts.partitionKeyOfInvocation(childId), { kind: 'Invoke', ts: now, inv });
        return;
      }
      case 'other':
        break;
    }
    const c2 = J.decodeCommand2(entry);
    if (!c2) return;
    switch (c2.kind) {
      case 'getPromise':
      case 'peekPromise':
        await this.readPromise(st, c2.key, c2.completionId, c2.kind === 'peekPromise', now);
        return;
      case 'completePromise': {
        const ok = await this.completePromise(st.target, c2.key, c2.result, now);
        const r: J.Result = ok
          ? { void: true }
          : { failure: { code: 409, message: `promise '${c2.key}' is already completed` } };
        await this.addNotification(
          st,
          J.completionNotification(J.T2.CompletePromiseN, c2.completionId, r),
          { completionId: c2.completionId },
          now,
        );
        return;
      }
      case 'sendSignal':
        await this.signal(c2.targetInvocationId, c2.signal, c2.result, now);
        return;
      case 'completeAwakeable': {
        let target: { invocationId: string; signalIndex: number };
        try {
          target = this.opts.awakeable(c2.awakeableId);
        } catch {
          return; // a malformed id resolves nothing
        }
        await this.signal(target.invocationId, { idx: target.signalIndex }, c2.result, now);
        return;
      }
      case 'attach':
      case 'getOutput': {
        const type = c2.kind === 'attach' ? J.T2.AttachInvocationN : J.T2.GetInvocationOutputN;
        const targetId = c2.ref ? this.refId(c2.ref) : undefined;
        const sink: ResponseSink = {
          kind: 'invocation',
          invocationId: st.id,
          completionId: c2.completionId,
          entryType: type,
        };
        if (targetId === undefined) {
          await this.respond(st.id, sink, NOT_FOUND, now);
          return;
        }
        await this.sendTo(this.opts.partitionKeyOfInvocation(targetId), {
          kind: 'Attach',
          ts: now,
          invocationId: targetId,
          sink,
          mode: c2.kind === 'attach' ? 'attach' : 'output',
        });
        return;
      }
    }
  }

  private refId(ref: J.InvocationRef): string {
    if ('invocationId' in ref) return ref.invocationId;
    if ('workflow' in ref) return this.opts.workflowId(ref.workflow.name, ref.workflow.key);
    const r = ref.idempotent;
    return this.opts.idempotentId(r.service, r.key, r.handler, r.idempotencyKey);
  }

  /** Delivers a signal (awakeable completion, cancellation, named signal) to an invocation anywhere. */
  private async signal(
    invocationId: string,
    signal: { idx: number } | { name: string },
    result: J.Result,
    now: number,
  ): Promise<void> {
    let pk: bigint;
    try {
      pk = this.opts.partitionKeyOfInvocation(invocationId);
    } catch {
      return;
    }
    await this.sendTo(pk, {
      kind: 'Notify',
      ts: now,
      invocationId,
      entry: J.signalNotification(signal, result),
      id: 'idx' in signal ? { signalId: signal.idx } : { signalName: signal.name },
    });
  }

  // ---------- workflow promises ----------

  private async readPromise(st: InvocationStatus, name: string, completionId: number, peek: boolean, now: number) {
    const row: PromiseRow = (await this.tables.promise(st.target, name)) ?? { waiters: [] };
    const type = peek ? J.T2.PeekPromiseN : J.T2.GetPromiseN;
    if ('done' in row) {
      await this.addNotification(st, J.completionNotification(type, completionId, row.done), { completionId }, now);
    } else if (peek) {
      await this.addNotification(
        st,
        J.completionNotification(type, completionId, { void: true }),
        { completionId },
        now,
      );
    } else {
      row.waiters.push({ invocationId: st.id, completionId, peek });
      this.tables.putPromise(st.target, name, row);
    }
  }

  private async completePromise(t: Target, name: string, result: J.Result, now: number): Promise<boolean> {
    const row: PromiseRow = (await this.tables.promise(t, name)) ?? { waiters: [] };
    if ('done' in row) return false;
    this.tables.putPromise(t, name, { done: result });
    for (const w of row.waiters) {
      await this.sendTo(this.opts.partitionKeyOfInvocation(w.invocationId), {
        kind: 'Notify',
        ts: now,
        invocationId: w.invocationId,
        entry: J.completionNotification(J.T2.GetPromiseN, w.completionId, result),
        id: { completionId: w.completionId },
      });
    }
    return true;
  }

  // ---------- timers, completion, lifecycle ----------

  private async onTimer(timer: TimerKey, now: number): Promise<void> {
    if (!(await this.tables.hasTimer(timer))) return; // already fired
    this.tables.delTimer(timer);
    const st = await this.status(timer.invocationId);
    if (!st) return;
    if (timer.completionId === TIMER_PURGE) {
      if (st.phase === 'completed') await this.purge(st);
      return;
    }
    if (timer.completionId === TIMER_PURGE_JOURNAL) {
      if (st.phase === 'completed') this.dropRetainedJournal(st);
      return;
    }
    if (st.phase === 'completed') return;
    if (timer.completionId === TIMER_INVOKE) {
      if (st.phase === 'scheduled') {
        st.modifiedAt = now;
        await this.admit(st);
        this.saveStatus(st);
      }
      return;
    }
    await this.addNotification(st, J.sleepCompletion(timer.completionId), { completionId: timer.completionId }, now);
    this.saveStatus(st);
  }

  private async complete(st: InvocationStatus, outcome: InvocationOutcome, now: number): Promise<void> {
    for (const sink of st.sinks) await this.respond(st.id, sink, outcome, now);
    this.effects.push({ kind: 'stopAttempt', invocationId: st.id });
    // Journal entries are keyed by index < journalLength: no scan needed.
    const input = st.journalLength > 0 ? await this.tables.journalEntry(st.id, 0) : undefined;
    if (st.deploymentId !== undefined) this.tables.delPinned(st.deploymentId, st.id);
    const retention = st.retentionMs ?? 0;
    const journalRetention = retention > 0 ? Math.min(st.journalRetentionMs ?? 0, retention) : 0;
    if (journalRetention <= 0) this.deleteJournal(st);
    await this.release(st, now);
    if (retention > 0) {
      // Keep the result (attach, output, idempotent re-submission) until the retention ends, and the journal
      // (admin introspection) until the journal retention ends.
      st.phase = 'completed';
      st.output = outcome;
      st.completedAt = now;
      st.sinks = [];
      st.waiting = undefined;
      if (input) st.input = input;
      this.saveStatus(st);
      this.addTimer({ wakeAt: now + retention, invocationId: st.id, completionId: TIMER_PURGE });
      if (journalRetention > 0 && journalRetention < retention)
        this.addTimer({ wakeAt: now + journalRetention, invocationId: st.id, completionId: TIMER_PURGE_JOURNAL });
    } else {
      this.tables.delStatus(st.id);
    }
  }

  /** Journal entries are keyed by index < journalLength: no scan needed. */
  private deleteJournal(st: InvocationStatus): void {
    for (let i = 0; i < st.journalLength; i++) this.tables.delJournalEntry(st.id, i);
    st.journalLength = 0;
  }

  /** The journal retention of a completed invocation ended before its status retention. */
  private dropRetainedJournal(st: InvocationStatus): void {
    this.deleteJournal(st);
    this.saveStatus(st);
  }

  /** Forgets a completed invocation; for a workflow also its state and promises. */
  private async purge(st: InvocationStatus): Promise<void> {
    this.deleteJournal(st);
    this.tables.delStatus(st.id);
    if (st.target.serviceType === 'WORKFLOW' && st.target.handlerType === 'WORKFLOW' && st.target.key !== undefined) {
      await this.tables.clearState(st.target);
      await this.tables.clearPromises(st.target);
    }
  }

  private async onControl(
    id: string,
    op: ControlOp,
    now: number,
    sink?: ResponseSink,
    newInvocationId?: string,
  ): Promise<void> {
    const st = await this.status(id);
    const answer = async (o: InvocationOutcome) => {
      if (sink) await this.respond(id, sink, o, now);
    };
    if (!st) return answer(NOT_FOUND);
    switch (op) {
      case 'cancel':
        if (st.phase === 'completed') return answer(ALREADY_COMPLETED);
        if (st.phase === 'scheduled' || st.phase === 'inboxed') {
          await this.dropQueued(st);
          await this.complete(st, CANCELLED, now);
        } else {
          await this.addNotification(
            st,
            J.signalNotification({ idx: CANCEL_SIGNAL }, { void: true }),
            { signalId: CANCEL_SIGNAL },
            now,
          );
          if (st.phase === 'paused') {
            st.phase = 'invoked';
            this.startAttempt(st);
          }
          this.saveStatus(st);
        }
        return answer({ ok: true, value: new Uint8Array() });
      case 'kill':
        if (st.phase === 'completed') return answer(ALREADY_COMPLETED);
        await this.dropQueued(st);
        await this.propagateToChildren(st, 'kill', now);
        await this.complete(st, KILLED, now);
        return answer({ ok: true, value: new Uint8Array() });
      case 'purge':
        if (st.phase !== 'completed') {
          return answer({ ok: false, code: 409, message: 'only completed invocations can be purged' });
        }
        await this.purge(st);
        return answer({ ok: true, value: new Uint8Array() });
      case 'purge-journal':
        if (st.phase !== 'completed') {
          return answer({ ok: false, code: 409, message: 'only the journal of a completed invocation can be purged' });
        }
        this.dropRetainedJournal(st);
        return answer({ ok: true, value: new Uint8Array() });
      case 'pause':
        if (st.phase !== 'invoked' && st.phase !== 'suspended') {
          return answer({ ok: false, code: 409, message: `cannot pause an invocation that is ${st.phase}` });
        }
        st.phase = 'paused';
        st.modifiedAt = now;
        this.effects.push({ kind: 'stopAttempt', invocationId: id });
        this.saveStatus(st);
        return answer({ ok: true, value: new Uint8Array() });
      case 'restart-as-new': {
        if (st.phase !== 'completed')
          return answer({
            ok: false,
            code: 409,
            message: `the invocation is ${st.phase}; only completed invocations can be restarted`,
          });
        if (st.target.serviceType === 'WORKFLOW' && st.target.handlerType === 'WORKFLOW')
          return answer({
            ok: false,
            code: 400,
            message: 'a workflow run executes once per key; purge the workflow and submit it again instead',
          });
        if (!st.input)
          return answer({ ok: false, code: 410, message: 'the input of the invocation is no longer retained' });
        if (!newInvocationId || (await this.status(newInvocationId)))
          return answer({ ok: false, code: 400, message: 'restart-as-new needs a fresh invocation id' });
        const fresh: InvocationStatus = {
          id: newInvocationId,
          target: st.target,
          phase: 'scheduled',
          createdAt: now,
          modifiedAt: now,
          journalLength: 0,
          sinks: [],
          arrived: { completions: [], signals: [], names: [] },
        };
        this.writeEntry(fresh, st.input);
        await this.admit(fresh);
        this.saveStatus(fresh);
        return answer({ ok: true, value: new TextEncoder().encode(newInvocationId) });
      }
      case 'resume':
        if (st.phase !== 'paused') {
          return answer({ ok: false, code: 409, message: `cannot resume an invocation that is ${st.phase}` });
        }
        st.phase = 'invoked';
        st.modifiedAt = now;
        this.startAttempt(st);
        this.saveStatus(st);
        return answer({ ok: true, value: new Uint8Array() });
    }
  }

  private async dropQueued(st: InvocationStatus): Promise<void> {
    if (st.phase === 'inboxed' && st.inboxSeq !== undefined) {
      this.tables.delInbox(st.target, st.inboxSeq);
      st.inboxSeq = undefined;
    }
    if (st.phase === 'scheduled' && st.executionTime !== undefined) {
      this.tables.delTimer({ wakeAt: st.executionTime, invocationId: st.id, completionId: TIMER_INVOKE });
    }
  }

  /** Sends `op` to every invocation this one called and that has not answered yet. */
  private async propagateToChildren(st: InvocationStatus, op: ControlOp, now: number): Promise<void> {
    for (let index = 0; index < st.journalLength; index++) {
      const entry = await this.tables.journalEntry(st.id, index);
      assert(entry !== undefined, `journal entry ${index} of ${st.id} is missing (journal length ${st.journalLength})`);
      if (entry.type !== J.T.Call) continue;
      const cmd = J.decodeCommand(entry);
      if (cmd.kind !== 'call' || st.arrived.completions.includes(cmd.resultCompletionId)) continue;
      const target = normalizeKey({ ...cmd.target, ...entry.callTarget });
      const childId = cmd.idempotencyKey
        ? this.opts.idempotentId(target.service, target.key, target.handler, cmd.idempotencyKey)
        : this.opts.childId(st.id, index, target);
      await this.sendTo(this.opts.partitionKeyOfInvocation(childId), {
        kind: 'Control',
        ts: now,
        invocationId: childId,
        op,
      });
    }
  }

  private async onAttach(
    id: string,
    sink: ResponseSink,
    mode: 'attach' | 'output' | 'detach',
    now: number,
  ): Promise<void> {
    const st = await this.status(id);
    if (mode === 'detach') {
      // The request behind an attach went away: nobody waits on its sink any more.
      const kept = st?.sinks.filter((s) => !sameSink(s, sink));
      if (st && kept && kept.length !== st.sinks.length) {
        st.sinks = kept;
        this.saveStatus(st);
      }
      return;
    }
    if (!st) {
      if (mode === 'output' && sink.kind === 'invocation') {
        return this.respondVoid(sink, now);
      }
      return this.respond(id, sink, NOT_FOUND, now);
    }
    if (st.phase === 'completed' && st.output) return this.respond(id, sink, st.output, now);
    if (mode === 'output') {
      if (sink.kind === 'invocation') return this.respondVoid(sink, now);
      return this.respond(id, sink, NOT_READY, now);
    }
    if (await this.addSink(st, sink, now)) this.saveStatus(st);
  }

  /**
   * Adds a waiter to the invocation (the caller saves the status if true): an identical one is kept once, and
   * beyond MAX_SINKS_PER_INVOCATION the new one is answered with TOO_MANY_WAITERS instead (false).
   */
  private async addSink(st: InvocationStatus, sink: ResponseSink, now: number): Promise<boolean> {
    if (st.sinks.some((s) => sameSink(s, sink))) return false;
    if (st.sinks.length >= MAX_SINKS_PER_INVOCATION) {
      await this.respond(st.id, sink, TOO_MANY_WAITERS, now);
      return false;
    }
    st.sinks.push(sink);
    return true;
  }

  private async respondVoid(sink: Extract<ResponseSink, { kind: 'invocation' }>, now: number): Promise<void> {
    await this.sendTo(this.opts.partitionKeyOfInvocation(sink.invocationId), {
      kind: 'Notify',
      ts: now,
      invocationId: sink.invocationId,
      entry: J.completionNotification(sink.entryType ?? J.T2.GetInvocationOutputN, sink.completionId, { void: true }),
      id: { completionId: sink.completionId },
    });
  }

  private async respond(invocationId: string, sink: ResponseSink, outcome: InvocationOutcome, now: number) {
    if (sink.kind === 'ingress') {
      this.effects.push({ kind: 'respond', invocationId, sink, outcome });
      return;
    }
    const entry =
      sink.entryType === undefined
        ? J.callCompletion(sink.completionId, outcome)
        : J.completionNotification(sink.entryType, sink.completionId, J.resultOf(outcome));
    let pk: bigint;
    try {
      pk = this.opts.partitionKeyOfInvocation(sink.invocationId);
    } catch (err) {
      // No invocation has a malformed id: nobody waits on this sink. Dropping it keeps completion total.
      this.opts.log?.('warn', 'dropping a response to a malformed invocation id', {
        partition: this.opts.partitionId,
        invocationId,
        sink: sink.invocationId,
        error: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    // Routed through the log of the caller's partition (possibly this one) via the outbox.
    await this.sendTo(pk, {
      kind: 'Notify',
      ts: now,
      invocationId: sink.invocationId,
      entry,
      id: { completionId: sink.completionId },
    });
  }

  /** Starts a new attempt of the invocation (the caller saves its status): effects of earlier ones are dropped. */
  private startAttempt(st: InvocationStatus): void {
    st.attempt = (st.attempt ?? 0) + 1;
    this.effects.push({ kind: 'invoke', invocationId: st.id });
  }

  // ---------- journal, notifications ----------

  private writeEntry(st: InvocationStatus, entry: JournalEntry): number {
    const index = st.journalLength++;
    assert(Number.isSafeInteger(index) && index >= 0, `journal length of ${st.id} is ${index}`);
    this.tables.putJournalEntry(st.id, index, entry);
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
    } else if ('signalId' in nid) {
      if (st.arrived.signals.includes(nid.signalId)) return;
      st.arrived.signals.push(nid.signalId);
    } else st.arrived.names.push(nid.signalName);
    if ('signalId' in nid && nid.signalId === CANCEL_SIGNAL) {
      if (st.phase === 'scheduled' || st.phase === 'inboxed') {
        await this.dropQueued(st);
        await this.complete(st, CANCELLED, now);
        return;
      }
      await this.propagateToChildren(st, 'cancel', now);
    }
    const index = this.writeEntry(st, entry);
    st.modifiedAt = now;
    if (st.phase === 'invoked') {
      this.effects.push({ kind: 'notify', invocationId: st.id, index, entry });
    } else if (
      st.phase === 'suspended' &&
      st.waiting &&
      (waits(st.waiting, nid) || ('signalId' in nid && nid.signalId === CANCEL_SIGNAL))
    ) {
      st.phase = 'invoked';
      st.waiting = undefined;
      this.startAttempt(st);
    }
  }

  // ---------- outbox, timers, dedup ----------

  private async sendTo(partitionKey: bigint, command: Command): Promise<void> {
    const seq = await this.tables.nextOutboxSeq();
    const withDedup = { ...command, dedup: { producer: this.opts.partitionId, seq } } as Command;
    this.tables.putOutbox({ seq, partitionKey, command: withDedup });
    this.effects.push({ kind: 'outbox', seq, partitionKey, command: withDedup });
  }

  private async isDuplicate(dedup: Dedup | undefined): Promise<boolean> {
    if (!dedup) return false;
    const last = await this.tables.dedupSeq(dedup.producer);
    if (dedup.seq <= last) return true;
    this.tables.putDedupSeq(dedup.producer, dedup.seq);
    return false;
  }

  private addTimer(timer: TimerKey): void {
    this.tables.putTimer(timer);
    this.effects.push({ kind: 'timer', timer });
  }

  // ---------- tables ----------

  async status(id: string): Promise<InvocationStatus | undefined> {
    return this.tables.status(id);
  }

  private saveStatus(st: InvocationStatus): void {
    this.tables.putStatus(st);
  }
}

function waits(w: { completions: number[]; signals: number[]; names: string[] }, nid: NotificationId): boolean {
  if ('completionId' in nid) return w.completions.includes(nid.completionId);
  if ('signalId' in nid) return w.signals.includes(nid.signalId);
  return w.names.includes(nid.signalName);
}

/** Reads the tables a leader needs when it takes over (journal, pending work). */
export class PartitionReader {
  private readonly tables: PartitionTables;
  constructor(store: PartitionStore) {
    this.tables = new PartitionTables(store);
  }
  status(id: string): Promise<InvocationStatus | undefined> {
    return this.tables.status(id);
  }
  async journal(st: InvocationStatus): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    for (let i = 0; i < st.journalLength; i++) {
      const e = await this.tables.journalEntry(st.id, i);
      assert(e !== undefined, `journal entry ${i} of ${st.id} is missing (journal length ${st.journalLength})`);
      out.push(e);
    }
    assert(out.length === st.journalLength, `journal of ${st.id} has ${out.length} entries, not ${st.journalLength}`);
    return out;
  }
  async stateOf(t: Target): Promise<[Uint8Array, Uint8Array][]> {
    if (t.key === undefined) return [];
    return this.tables.state(t);
  }
  invocations(): Promise<InvocationStatus[]> {
    return this.tables.allStatuses();
  }
  /** One page of the time index: at most `limit` timers with keys after `after`, in wake-time order. */
  timersAfter(after: string | undefined, limit: number): Promise<{ key: string; timer: TimerKey }[]> {
    return this.tables.timersAfter(after, limit);
  }
  outbox(): Promise<{ seq: number; partitionKey: bigint; command: Command }[]> {
    return this.tables.outbox();
  }
  /** Unfinished invocations pinned to `deploymentId` (an index: no scan of all invocations). */
  pinnedCount(deploymentId: string): Promise<number> {
    return this.tables.pinnedCount(deploymentId);
  }
}
