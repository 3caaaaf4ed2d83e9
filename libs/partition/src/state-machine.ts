import type { InvocationOutcome } from '@stead/core';
import { decodeValue, hex, type PartitionStore } from '@stead/storage';
import * as J from './journal.ts';
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
  type ResponseSink,
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

type PromiseRow = { done: J.Result } | { waiters: { invocationId: string; completionId: number; peek: boolean }[] };

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
      // The same invocation submitted again (idempotency key, workflow key, resent message): attach.
      if (inv.reportSubmit) this.effects.push({ kind: 'submitted', invocationId: inv.id, previouslyAccepted: true });
      if (inv.sink) {
        if (existing.phase === 'completed' && existing.output)
          await this.respond(existing.id, inv.sink, existing.output, now);
        else existing.sinks.push(inv.sink);
        this.saveStatus(existing);
      }
      return;
    }
    if (inv.reportSubmit) this.effects.push({ kind: 'submitted', invocationId: inv.id, previouslyAccepted: false });
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
      const lockKey = this.lockKey(st.target);
      const holder = await this.store.get<string>(lockKey);
      if (holder !== undefined && holder !== st.id) {
        const seq = ((await this.store.get<number>('meta/inboxSeq')) ?? 0) + 1;
        this.store.put('meta/inboxSeq', seq);
        this.store.put(`q/${this.keyPath(st.target)}${hex(seq, 12)}`, st.id);
        st.phase = 'inboxed';
        return;
      }
      this.store.put(lockKey, st.id);
      st.locked = true;
    }
    st.phase = 'invoked';
    this.effects.push({ kind: 'invoke', invocationId: st.id });
  }

  /** Releases the key's lock and starts the next queued invocation of that key. */
  private async release(st: InvocationStatus, now: number): Promise<void> {
    if (!st.locked) return;
    st.locked = false;
    this.store.del(this.lockKey(st.target));
    const [next] = await this.store.scan(`q/${this.keyPath(st.target)}`, 1);
    if (!next) return;
    this.store.del(next[0]);
    const nst = await this.status(decodeValue<string>(next[1]));
    if (!nst || nst.phase !== 'inboxed') return;
    nst.modifiedAt = now;
    await this.admit(nst);
    this.saveStatus(nst);
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
          this.effects.push({ kind: 'invoke', invocationId: id });
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
    const index = this.writeEntry(st, entry);
    const cmd = J.decodeCommand(entry);
    switch (cmd.kind) {
      case 'output':
        st.output = cmd.outcome;
        return;
      case 'setState':
        if (st.target.key !== undefined) this.store.putRaw(this.stateKey(st.target, cmd.key), cmd.value);
        return;
      case 'clearState':
        if (st.target.key !== undefined) this.store.del(this.stateKey(st.target, cmd.key));
        return;
      case 'clearAllState':
        if (st.target.key !== undefined) await this.store.delPrefix(this.statePrefix(st.target));
        return;
      case 'getLazyState': {
        const value =
          st.target.key === undefined ? undefined : await this.store.getRaw(this.stateKey(st.target, cmd.key));
        await this.addNotification(st, J.getLazyStateCompletion(cmd.completionId, value), cmd, now);
        return;
      }
      case 'getLazyStateKeys': {
        const prefix = this.statePrefix(st.target);
        const keys =
          st.target.key === undefined
            ? []
            : (await this.store.scan(prefix)).map(([k]) => Buffer.from(k.slice(prefix.length), 'base64url'));
        await this.addNotification(st, J.getLazyStateKeysCompletion(cmd.completionId, keys), cmd, now);
        return;
      }
      case 'sleep':
        this.addTimer({ wakeAt: cmd.wakeUpTime, invocationId: st.id, completionId: cmd.completionId });
        return;
      case 'call':
      case 'oneWayCall': {
        const target: Target = { ...cmd.target, ...enriched };
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

  private promiseKey(t: Target, name: string): string {
    return `p/${this.keyPath(t)}${name}`;
  }

  private async readPromise(st: InvocationStatus, name: string, completionId: number, peek: boolean, now: number) {
    const key = this.promiseKey(st.target, name);
    const row = (await this.store.get<PromiseRow>(key)) ?? { waiters: [] };
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
      this.store.put(key, row);
    }
  }

  private async completePromise(t: Target, name: string, result: J.Result, now: number): Promise<boolean> {
    const key = this.promiseKey(t, name);
    const row = (await this.store.get<PromiseRow>(key)) ?? { waiters: [] };
    if ('done' in row) return false;
    this.store.put(key, { done: result });
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
    const key = this.timerKey(timer);
    if (!(await this.store.getRaw(key))) return; // already fired
    this.store.del(key);
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
    const input = await this.store.getRaw(`j/${st.id}/${hex(0, 8)}`);
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
      if (input) st.input = decodeValue<JournalEntry>(input);
      this.saveStatus(st);
      this.addTimer({ wakeAt: now + retention, invocationId: st.id, completionId: TIMER_PURGE });
      if (journalRetention > 0 && journalRetention < retention)
        this.addTimer({ wakeAt: now + journalRetention, invocationId: st.id, completionId: TIMER_PURGE_JOURNAL });
    } else {
      this.store.del(`i/${st.id}`);
    }
  }

  /** Journal entries are j/<id>/<index> for index < journalLength: no scan needed. */
  private deleteJournal(st: InvocationStatus): void {
    for (let i = 0; i < st.journalLength; i++) this.store.del(`j/${st.id}/${hex(i, 8)}`);
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
    this.store.del(`i/${st.id}`);
    if (st.target.serviceType === 'WORKFLOW' && st.target.handlerType === 'WORKFLOW') {
      await this.store.delPrefix(this.statePrefix(st.target));
      await this.store.delPrefix(`p/${this.keyPath(st.target)}`);
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
            this.effects.push({ kind: 'invoke', invocationId: st.id });
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
        this.effects.push({ kind: 'invoke', invocationId: id });
        this.saveStatus(st);
        return answer({ ok: true, value: new Uint8Array() });
    }
  }

  private async dropQueued(st: InvocationStatus): Promise<void> {
    if (st.phase === 'inboxed') {
      for (const [k, v] of await this.store.scan(`q/${this.keyPath(st.target)}`)) {
        if (decodeValue<string>(v) === st.id) this.store.del(k);
      }
    }
    if (st.phase === 'scheduled' && st.executionTime !== undefined) {
      this.store.del(this.timerKey({ wakeAt: st.executionTime, invocationId: st.id, completionId: TIMER_INVOKE }));
    }
  }

  /** Sends `op` to every invocation this one called and that has not answered yet. */
  private async propagateToChildren(st: InvocationStatus, op: ControlOp, now: number): Promise<void> {
    const journal = await this.store.scan(`j/${st.id}/`);
    for (const [k, v] of journal) {
      const entry = decodeValue<JournalEntry>(v);
      if (entry.type !== J.T.Call) continue;
      const cmd = J.decodeCommand(entry);
      if (cmd.kind !== 'call' || st.arrived.completions.includes(cmd.resultCompletionId)) continue;
      const index = Number.parseInt(k.slice(k.lastIndexOf('/') + 1), 16);
      const childId = cmd.idempotencyKey
        ? this.opts.idempotentId(cmd.target.service, cmd.target.key, cmd.target.handler, cmd.idempotencyKey)
        : this.opts.childId(st.id, index, cmd.target);
      await this.sendTo(this.opts.partitionKeyOfInvocation(childId), {
        kind: 'Control',
        ts: now,
        invocationId: childId,
        op,
      });
    }
  }

  private async onAttach(id: string, sink: ResponseSink, mode: 'attach' | 'output', now: number): Promise<void> {
    const st = await this.status(id);
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
    st.sinks.push(sink);
    this.saveStatus(st);
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
      this.effects.push({ kind: 'invoke', invocationId: st.id });
    }
  }

  // ---------- outbox, timers, dedup ----------

  private async sendTo(partitionKey: bigint, command: Command): Promise<void> {
    const seq = ((await this.store.get<number>('meta/outboxSeq')) ?? 0) + 1;
    this.store.put('meta/outboxSeq', seq);
    const withDedup = { ...command, dedup: { producer: this.opts.partitionId, seq } } as Command;
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
    const kind =
      t.completionId === TIMER_INVOKE
        ? 'inv'
        : t.completionId === TIMER_PURGE
          ? 'prg'
          : t.completionId === TIMER_PURGE_JOURNAL
            ? 'prj'
            : hex(t.completionId, 8);
    return `t/${hex(t.wakeAt, 12)}/${t.invocationId}/${kind}`;
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

  private keyPath(t: Target): string {
    return `${t.service}\u0000${t.key}\u0000`;
  }

  private lockKey(t: Target): string {
    return `l/${this.keyPath(t)}`;
  }

  private statePrefix(t: Target): string {
    return `s/${this.keyPath(t)}`;
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
    const out: JournalEntry[] = [];
    for (let i = 0; i < st.journalLength; i++) {
      const e = await this.store.get<JournalEntry>(`j/${st.id}/${hex(i, 8)}`);
      if (e === undefined)
        throw new Error(`journal entry ${i} of ${st.id} is missing (journal length ${st.journalLength})`);
      out.push(e);
    }
    return out;
  }
  async stateOf(t: Target): Promise<[Uint8Array, Uint8Array][]> {
    if (t.key === undefined) return [];
    const prefix = `s/${t.service}\u0000${t.key}\u0000`;
    return (await this.store.scan(prefix)).map(([k, v]) => [Buffer.from(k.slice(prefix.length), 'base64url'), v]);
  }
  async invocations(): Promise<InvocationStatus[]> {
    return (await this.store.scan('i/')).map(([, v]) => decodeValue<InvocationStatus>(v));
  }
  async timers(): Promise<TimerKey[]> {
    return (await this.store.scan('t/')).map(([, v]) => decodeValue<TimerKey>(v));
  }
  async outbox(): Promise<{ seq: number; partitionKey: bigint; command: Command }[]> {
    return (await this.store.scan('o/')).map(([k, v]) => ({
      seq: Number.parseInt(k.slice(2), 16),
      ...decodeValue<{ partitionKey: bigint; command: Command }>(v),
    }));
  }
}
