/**
 * The partition state machine: `apply(command) → Effect[]`. The command handlers live in `apply/`, one file
 * per command group; this file dispatches, and makes apply total (a command that throws is rolled back and
 * fails its own invocation).
 */
import type { InvocationOutcome } from '@stead/core';
import { CorruptValueError, type PartitionStore } from '@stead/storage';
import { applyAttach } from './apply/calls.ts';
import { applyNotify } from './apply/commands.ts';
import { ApplyContext } from './apply/context.ts';
import { applyControl } from './apply/control.ts';
import { applyInvoke, applyInvokerEffect } from './apply/invocation.ts';
import type { StateMachineOptions } from './apply/outcomes.ts';
import { applySchedule } from './apply/schedules.ts';
import { applyReplaceState } from './apply/state.ts';
import { applyTimerFired } from './apply/timers.ts';
import { InvariantError } from './assert.ts';
import { PartitionTables } from './tables.ts';
import type { Command, Effect, InvocationStatus, JournalEntry, ScheduleRecord, Target, TimerKey } from './types.ts';

export {
  ALREADY_COMPLETED,
  CANCELLED,
  type IdFunctions,
  KILLED,
  MAX_SINKS_PER_INVOCATION,
  NOT_FOUND,
  NOT_READY,
  type StateMachineOptions,
  TOO_MANY_WAITERS,
} from './apply/outcomes.ts';

/**
 * The partition state machine: applies one log command to the partition store and returns the effects
 * the leader must perform. Deterministic: its only inputs are the command (with its timestamp) and the
 * store; every replica that applies the same log ends in the same state.
 */
export class PartitionStateMachine {
  private readonly store: PartitionStore;
  private readonly tables: PartitionTables;
  private readonly opts: StateMachineOptions;
  /** Shared by the handlers; holds the effects of the command being applied. */
  private readonly ctx: ApplyContext;
  /** Commands that could not be applied (their invocation failed, or they were skipped). */
  rejectedCommands = 0;

  constructor(store: PartitionStore, opts: StateMachineOptions) {
    this.store = store;
    this.ctx = new ApplyContext(store, opts);
    this.tables = this.ctx.tables;
    this.opts = opts;
  }

  /**
   * Applies one command. Total: a command that cannot be applied has its writes rolled back and fails its
   * invocation with a terminal error (or is skipped when it belongs to none). Only a corrupt store or a
   * broken invariant throws: then the processor must stop.
   */
  async apply(cmd: Command): Promise<Effect[]> {
    const ctx = this.ctx;
    ctx.effects = [];
    // A record its producer appended before (a retried append) is dropped whole. The producer's sequence number
    // is recorded before the savepoint: a command that cannot be applied is still applied once.
    if (cmd.dedup !== undefined && (await ctx.isDuplicate(cmd.dedup))) return ctx.effects;
    this.store.savepoint();
    try {
      await this.applyCommand(cmd);
    } catch (err) {
      if (err instanceof CorruptValueError || err instanceof InvariantError) throw err;
      this.store.rollback();
      ctx.effects = [];
      await this.reject(cmd, err);
    }
    return ctx.effects;
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
      await this.failCommand(cmd, failure);
    } catch (err2) {
      if (err2 instanceof CorruptValueError || err2 instanceof InvariantError) throw err2;
      this.store.rollback();
      this.ctx.effects = [];
      this.opts.log?.('error', 'the failure of a command that cannot be applied cannot be recorded; skipped', {
        partition: this.opts.partitionId,
        command: cmd.kind,
        invocationId,
        error: err2 instanceof Error ? err2.message : String(err2),
      });
    }
  }

  /** The invocation of a rejected command fails, and its requester (if any) gets the failure. */
  private async failCommand(cmd: Command, failure: InvocationOutcome): Promise<void> {
    const ctx = this.ctx;
    switch (cmd.kind) {
      case 'Effect':
      case 'Notify':
      case 'Control': {
        const st = await ctx.status(cmd.invocationId);
        if (st && st.phase !== 'completed') await ctx.abandon(st, failure, cmd.ts);
        if (cmd.kind === 'Control' && cmd.sink) await ctx.respond(cmd.invocationId, cmd.sink, failure, cmd.ts);
        return;
      }
      case 'Invoke':
        if (cmd.inv.sink) await ctx.respond(cmd.inv.id, cmd.inv.sink, failure, cmd.ts);
        return;
      case 'Attach':
        await ctx.respond(cmd.invocationId, cmd.sink, failure, cmd.ts);
        return;
      case 'ReplaceState':
      case 'Schedule':
        if (cmd.sink) await ctx.respond('', cmd.sink, failure, cmd.ts);
        return;
      default:
        return; // not tied to an invocation: skipped
    }
  }

  /** One handler per command kind (HANDLERS): one lookup is the only dispatch. */
  private applyCommand(cmd: Command): Promise<void> {
    return (HANDLERS[cmd.kind] as Handler<Command['kind']>)(this.ctx, cmd);
  }

  /** The highest leader epoch announced in this partition's log (0 before any). */
  async epoch(): Promise<number> {
    return this.tables.epoch();
  }

  async status(id: string): Promise<InvocationStatus | undefined> {
    return this.tables.status(id);
  }
}

type Handler<K extends Command['kind']> = (ctx: ApplyContext, cmd: Extract<Command, { kind: K }>) => Promise<void>;

/** The handler of each command kind; all but the last two live in apply/, one file per group. */
const HANDLERS: { readonly [K in Command['kind']]: Handler<K> } = {
  Invoke: applyInvoke,
  Effect: applyInvokerEffect,
  TimerFired: applyTimerFired,
  Notify: applyNotify,
  Control: applyControl,
  Attach: applyAttach,
  ReplaceState: applyReplaceState,
  Schedule: applySchedule,
  /** A leader's epoch: effects of older epochs are dropped from now on (the epoch only grows). */
  AnnounceLeader: async (ctx, cmd) => {
    if (cmd.epoch > (await ctx.tables.epoch())) ctx.tables.putEpoch(cmd.epoch);
  },
  /** Outbox messages up to `upTo` are in their target partitions' logs. */
  OutboxTruncate: (ctx, cmd) => ctx.tables.truncateOutbox(cmd.upTo),
};

/** Reads the tables a leader needs when it takes over (journal, pending work). */
export class PartitionReader {
  private readonly tables: PartitionTables;
  constructor(store: PartitionStore) {
    this.tables = new PartitionTables(store);
  }
  status(id: string): Promise<InvocationStatus | undefined> {
    return this.tables.status(id);
  }
  journal(st: InvocationStatus): Promise<JournalEntry[]> {
    return this.tables.journalEntries(st);
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
  /** Every cron schedule of the partition. */
  async schedules(): Promise<ScheduleRecord[]> {
    const out: ScheduleRecord[] = [];
    let after: string | undefined;
    do {
      const page = await this.tables.schedulePage(after, 1024);
      out.push(...page.rows);
      after = page.next;
    } while (after !== undefined);
    return out;
  }
  /** Unfinished invocations pinned to `deploymentId` (an index: no scan of all invocations). */
  pinnedCount(deploymentId: string): Promise<number> {
    return this.tables.pinnedCount(deploymentId);
  }
}
