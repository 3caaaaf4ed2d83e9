/**
 * Journal and completions: a command the SDK wrote is journaled, decoded once (`J.decodeCommand`) and handed
 * to the handler of its group; a notification from elsewhere (Notify) is added to the journal.
 */
import * as J from '../journal.ts';
import type { Command, InvocationStatus, InvokerEffect } from '../types.ts';
import { applyCall, applyInvocationRef } from './calls.ts';
import type { ApplyContext } from './context.ts';
import { applyCompleteAwakeable, applyCompletePromise, applyReadPromise, applySendSignal } from './promises.ts';
import { applyClearAllState, applyGetLazyState, applyGetLazyStateKeys } from './state.ts';

export async function applyJournalCommand(
  ctx: ApplyContext,
  st: InvocationStatus,
  effect: Extract<InvokerEffect, { kind: 'command' }>,
  now: number,
): Promise<void> {
  const entry = effect.entry;
  const cmd = J.decodeCommand(entry);
  const enriched = effect.target;
  const isCall = cmd.kind === 'call' || cmd.kind === 'oneWayCall';
  const index = ctx.writeEntry(st, isCall && enriched ? { ...entry, callTarget: enriched } : entry, now);
  switch (cmd.kind) {
    case 'output':
      st.output = cmd.outcome;
      return;
    case 'setState':
      if (st.target.key !== undefined) ctx.tables.putState(st.target, cmd.key, cmd.value);
      return;
    case 'clearState':
      if (st.target.key !== undefined) ctx.tables.delState(st.target, cmd.key);
      return;
    case 'clearAllState':
      return applyClearAllState(ctx, st);
    case 'getLazyState':
      return applyGetLazyState(ctx, st, cmd, now);
    case 'getLazyStateKeys':
      return applyGetLazyStateKeys(ctx, st, cmd, now);
    case 'sleep':
      ctx.addTimer({ wakeAt: cmd.wakeUpTime, invocationId: st.id, completionId: cmd.completionId });
      return;
    case 'call':
    case 'oneWayCall':
      return applyCall(ctx, st, cmd, index, effect, now);
    case 'getPromise':
    case 'peekPromise':
      return applyReadPromise(ctx, st, cmd.key, cmd.completionId, cmd.kind === 'peekPromise', now);
    case 'completePromise':
      return applyCompletePromise(ctx, st, cmd, now);
    case 'sendSignal':
      return applySendSignal(ctx, cmd, now);
    case 'completeAwakeable':
      return applyCompleteAwakeable(ctx, cmd, now);
    case 'attach':
    case 'getOutput':
      return applyInvocationRef(ctx, st, cmd, now);
    case 'other':
      return;
  }
}

/** A notification from another invocation, a timer or a partition (completion, signal). */
export async function applyNotify(ctx: ApplyContext, cmd: Extract<Command, { kind: 'Notify' }>): Promise<void> {
  const st = await ctx.status(cmd.invocationId);
  if (st && st.phase !== 'completed') {
    await ctx.addNotification(st, cmd.entry, cmd.id, cmd.ts);
    if (await ctx.status(st.id)) ctx.saveStatus(st);
  }
}
