/**
 * What every command handler of the state machine shares: the store's tables, the effects of the command being
 * applied, and the steps several commands take (admit, complete, notify, respond, send through the outbox).
 * Pure like the state machine: time is the command's `ts`, passed in as `now`; no I/O but the store.
 */
import type { InvocationOutcome } from '@stead/core';
import type { PartitionStore } from '@stead/storage';
import { assert } from '../assert.ts';
import { canResolve, markArrived } from '../await-point.ts';
import * as J from '../journal.ts';
import { PartitionTables } from '../tables.ts';
import {
  type Command,
  type ControlOp,
  type Dedup,
  type Effect,
  type InvocationStatus,
  isExclusive,
  type JournalEntry,
  type NotificationId,
  normalizeKey,
  outboxProducer,
  type ResponseSink,
  sameSink,
  type Target,
  TIMER_INVOKE,
  TIMER_PURGE,
  TIMER_PURGE_JOURNAL,
  type TimerKey,
} from '../types.ts';
import {
  CANCEL_SIGNAL,
  CANCELLED,
  MAX_SINKS_PER_INVOCATION,
  type StateMachineOptions,
  TOO_MANY_WAITERS,
} from './outcomes.ts';
import { scheduledInvocationEnded } from './schedules.ts';
import { replaceState } from './state.ts';

export class ApplyContext {
  readonly tables: PartitionTables;
  readonly opts: StateMachineOptions;
  /** Effects of the command being applied (reset by `apply`). */
  effects: Effect[] = [];

  constructor(store: PartitionStore, opts: StateMachineOptions) {
    this.tables = new PartitionTables(store);
    this.opts = opts;
  }

  status(id: string): Promise<InvocationStatus | undefined> {
    return this.tables.status(id);
  }

  saveStatus(st: InvocationStatus): void {
    this.tables.putStatus(st);
  }

  // ---------- lifecycle ----------

  /** Runs the invocation now, or queues it behind the current holder of its key. */
  async admit(st: InvocationStatus, now: number): Promise<void> {
    if (isExclusive(st.target)) {
      const holder = await this.tables.lockHolder(st.target);
      if (holder !== undefined && holder !== st.id) {
        const seq = await this.tables.nextInboxSeq();
        this.tables.putInbox(st.target, seq, st.id);
        st.phase = 'inboxed';
        st.inboxSeq = seq;
        st.inboxedAt = now;
        return;
      }
      this.tables.putLock(st.target, st.id);
      st.locked = true;
    }
    st.inboxSeq = undefined;
    st.phase = 'invoked';
    st.runningAt ??= now;
    this.startAttempt(st);
  }

  /**
   * Releases the key's lock and starts the next queued invocation of that key, after applying the state
   * replacements queued before it (admin API: they waited for the lock; one whose expected version is no longer
   * the state's is dropped, as Restate drops it).
   */
  private async release(st: InvocationStatus, now: number): Promise<void> {
    if (!st.locked) return;
    st.locked = false;
    this.tables.delLock(st.target);
    const next = await this.tables.firstInInbox(st.target);
    for (;;) {
      const queued = await this.tables.firstQueuedReplacement(st.target);
      if (!queued || (next && next.seq < queued.seq)) break;
      this.tables.delQueuedReplacement(st.target, queued.seq);
      const outcome = await replaceState(this, st.target, queued.replacement);
      if (!outcome.ok)
        this.opts.log?.('warn', 'a queued state replacement is dropped', {
          partition: this.opts.partitionId,
          service: st.target.service,
          key: st.target.key,
          reason: outcome.message,
        });
    }
    if (!next) return;
    this.tables.delInbox(st.target, next.seq);
    const nst = await this.status(next.invocationId);
    if (!nst || nst.phase !== 'inboxed') return;
    nst.modifiedAt = now;
    await this.admit(nst, now);
    this.saveStatus(nst);
  }

  /** Starts a new attempt of the invocation (the caller saves its status): effects of earlier ones are dropped. */
  startAttempt(st: InvocationStatus): void {
    st.attempt = (st.attempt ?? 0) + 1;
    this.effects.push({ kind: 'invoke', invocationId: st.id });
  }

  async complete(st: InvocationStatus, outcome: InvocationOutcome, now: number): Promise<void> {
    for (const sink of st.sinks) await this.respond(st.id, sink, outcome, now);
    this.effects.push({ kind: 'stopAttempt', invocationId: st.id, ended: outcome.ok ? 'completed' : 'failed' });
    if (st.deploymentId !== undefined) this.tables.delPinned(st.deploymentId, st.id);
    const retention = st.retentionMs ?? 0;
    const journalRetention = retention > 0 ? Math.min(st.journalRetentionMs ?? 0, retention) : 0;
    // The input (for restart-as-new) stays in the journal while the journal is retained, else in the status.
    const input =
      retention > 0 && journalRetention <= 0 && st.journalLength > 0
        ? await this.tables.journalEntry(st, 0)
        : undefined;
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
    await scheduledInvocationEnded(this, st, now);
  }

  /** Journal entries are keyed by index < journalLength: no scan needed. */
  private deleteJournal(st: InvocationStatus): void {
    for (let i = 0; i < st.journalLength; i++) this.tables.delJournalEntry(st, i);
    st.journalLength = 0;
    st.journalCommands = 0;
  }

  /** The journal retention of a completed invocation ended before its status retention: its input moves over. */
  async dropRetainedJournal(st: InvocationStatus): Promise<void> {
    st.input ??= await this.inputOf(st);
    this.deleteJournal(st);
    this.saveStatus(st);
  }

  /** The input command of an invocation: journal entry 0, or the copy a completed status keeps without a journal. */
  async inputOf(st: InvocationStatus): Promise<JournalEntry | undefined> {
    return st.input ?? (st.journalLength > 0 ? await this.tables.journalEntry(st, 0) : undefined);
  }

  /** Forgets a completed invocation; for a workflow also its state and promises. */
  async purge(st: InvocationStatus): Promise<void> {
    this.deleteJournal(st);
    this.tables.delStatus(st.id);
    if (st.target.serviceType === 'WORKFLOW' && st.target.handlerType === 'WORKFLOW' && st.target.key !== undefined) {
      await this.tables.clearState(st.target);
      await this.tables.clearPromises(st.target);
    }
  }

  async dropQueued(st: InvocationStatus): Promise<void> {
    if (st.phase === 'inboxed' && st.inboxSeq !== undefined) {
      this.tables.delInbox(st.target, st.inboxSeq);
      st.inboxSeq = undefined;
    }
    if (st.phase === 'scheduled' && st.executionTime !== undefined) {
      this.tables.delTimer({ wakeAt: st.executionTime, invocationId: st.id, completionId: TIMER_INVOKE });
    }
  }

  /** Drops a queued invocation, or ends a running one, with `outcome` (cancel, kill, a command that failed). */
  async abandon(st: InvocationStatus, outcome: InvocationOutcome, now: number): Promise<void> {
    await this.dropQueued(st);
    await this.complete(st, outcome, now);
  }

  /** Sends `op` to every invocation this one called and that has not answered yet. */
  async propagateToChildren(st: InvocationStatus, op: ControlOp, now: number): Promise<void> {
    for (let index = 0; index < st.journalLength; index++) {
      const entry = await this.tables.journalEntry(st, index);
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

  // ---------- waiters, responses ----------

  /**
   * Adds a waiter to the invocation (the caller saves the status if true): an identical one is kept once, and
   * beyond MAX_SINKS_PER_INVOCATION the new one is answered with TOO_MANY_WAITERS instead (false).
   */
  async addSink(st: InvocationStatus, sink: ResponseSink, now: number): Promise<boolean> {
    if (st.sinks.some((s) => sameSink(s, sink))) return false;
    if (st.sinks.length >= MAX_SINKS_PER_INVOCATION) {
      await this.respond(st.id, sink, TOO_MANY_WAITERS, now);
      return false;
    }
    st.sinks.push(sink);
    return true;
  }

  async respondVoid(sink: Extract<ResponseSink, { kind: 'invocation' }>, now: number): Promise<void> {
    await this.notifyRemote(
      this.opts.partitionKeyOfInvocation(sink.invocationId),
      sink.invocationId,
      J.completionNotification(sink.entryType ?? J.T2.GetInvocationOutputN, sink.completionId, { void: true }),
      { completionId: sink.completionId },
      now,
    );
  }

  async respond(invocationId: string, sink: ResponseSink, outcome: InvocationOutcome, now: number): Promise<void> {
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
    await this.notifyRemote(pk, sink.invocationId, entry, { completionId: sink.completionId }, now);
  }

  /** Delivers a signal (awakeable completion, cancellation, named signal) to an invocation anywhere. */
  async signal(
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
    const id = 'idx' in signal ? { signalId: signal.idx } : { signalName: signal.name };
    await this.notifyRemote(pk, invocationId, J.signalNotification(signal, result), id, now);
  }

  /** A Notify command for an invocation in any partition, through the outbox. */
  notifyRemote(pk: bigint, invocationId: string, entry: JournalEntry, id: NotificationId, now: number): Promise<void> {
    return this.sendTo(pk, { kind: 'Notify', ts: now, invocationId, entry, id });
  }

  // ---------- journal, notifications ----------

  /** Appends `entry` to the journal of `st`, stamped with `now` (its append time, for introspection). */
  writeEntry(st: InvocationStatus, entry: JournalEntry, now: number): number {
    const index = st.journalLength++;
    assert(Number.isSafeInteger(index) && index >= 0, `journal length of ${st.id} is ${index}`);
    this.tables.putJournalEntry(st, index, { ...entry, appendedAt: now });
    // Counted from the first entry on: a journal begun before the count existed stays uncounted.
    if (index === 0) st.journalCommands = 0;
    if (st.journalCommands !== undefined && J.isCommandType(entry.type)) st.journalCommands++;
    return index;
  }

  async addNotification(st: InvocationStatus, entry: JournalEntry, nid: NotificationId, now: number): Promise<void> {
    if (!markArrived(st.arrived, nid, J.isFailureNotification(entry))) return; // duplicate delivery
    const cancel = 'signalId' in nid && nid.signalId === CANCEL_SIGNAL;
    if (cancel) {
      if (st.phase === 'scheduled' || st.phase === 'inboxed') return this.abandon(st, CANCELLED, now);
      await this.propagateToChildren(st, 'cancel', now);
    }
    const index = this.writeEntry(st, entry, now);
    st.modifiedAt = now;
    if (st.phase === 'invoked') {
      this.effects.push({ kind: 'notify', invocationId: st.id, index, entry });
    } else if (st.phase === 'suspended' && st.waiting && (cancel || canResolve(st.waiting, st.arrived))) {
      st.phase = 'invoked';
      st.waiting = undefined;
      this.startAttempt(st);
    }
  }

  // ---------- outbox, timers, dedup ----------

  async sendTo(partitionKey: bigint, command: Command): Promise<void> {
    const seq = await this.tables.nextOutboxSeq();
    const withDedup: Command = { ...command, dedup: { producer: outboxProducer(this.opts.partitionId), seq } };
    this.tables.putOutbox({ seq, partitionKey, command: withDedup });
    this.effects.push({ kind: 'outbox', seq, partitionKey, command: withDedup });
  }

  /** True if `dedup`'s producer has had a record with this sequence number or a later one applied; else records it. */
  async isDuplicate(dedup: Dedup): Promise<boolean> {
    const last = await this.tables.dedupSeq(dedup.producer);
    if (dedup.seq <= last) return true;
    this.tables.putDedupSeq(dedup.producer, dedup.seq);
    return false;
  }

  addTimer(timer: TimerKey): void {
    this.tables.putTimer(timer);
    this.effects.push({ kind: 'timer', timer });
  }

  // ---------- ids ----------

  /** The id of the invocation an attach or get-output command refers to. */
  refId(ref: J.InvocationRef): string {
    if ('invocationId' in ref) return ref.invocationId;
    if ('workflow' in ref) return this.opts.workflowId(ref.workflow.name, ref.workflow.key);
    const r = ref.idempotent;
    return this.opts.idempotentId(r.service, r.key, r.handler, r.idempotencyKey);
  }

  /** Id of the invocation a call or one-way call at journal `index` of `parentId` starts. */
  calleeId(parentId: string, index: number, target: Target, idempotencyKey: string | undefined): string {
    if (idempotencyKey) return this.opts.idempotentId(target.service, target.key, target.handler, idempotencyKey);
    if (target.serviceType === 'WORKFLOW' && target.handlerType === 'WORKFLOW' && target.key !== undefined)
      return this.opts.workflowId(target.service, target.key);
    return this.opts.childId(parentId, index, target);
  }
}
