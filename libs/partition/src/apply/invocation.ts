/** Invocation lifecycle: a new invocation (Invoke), and what the invoker reports about an attempt (Effect). */
import { canResolve } from '../await-point.ts';
import * as J from '../journal.ts';
import {
  type Command,
  type InvocationStatus,
  type NewInvocation,
  normalizeKey,
  TIMER_INVOKE,
  type WaitingSet,
} from '../types.ts';
import { applyJournalCommand } from './commands.ts';
import type { ApplyContext } from './context.ts';

export async function applyInvoke(ctx: ApplyContext, cmd: Extract<Command, { kind: 'Invoke' }>): Promise<void> {
  const inv = cmd.inv;
  const now = cmd.ts;
  const existing = await ctx.status(inv.id);
  if (existing) return resubmitted(ctx, existing, inv, now);
  if (inv.reportSubmit) ctx.effects.push({ kind: 'submitted', invocationId: inv.id, previouslyAccepted: false });
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
  if (inv.invokedBy) st.invokedBy = inv.invokedBy;
  ctx.writeEntry(st, J.inputCommand(inv.headers, inv.input), now);
  if (inv.executionTime !== undefined && inv.executionTime > now) {
    ctx.addTimer({ wakeAt: inv.executionTime, invocationId: inv.id, completionId: TIMER_INVOKE });
  } else {
    await ctx.admit(st, now);
    if (inv.pin && st.phase === 'invoked' && st.deploymentId === undefined) pin(ctx, st, inv.pin);
  }
  ctx.saveStatus(st);
}

/** The same invocation submitted again (idempotency key, workflow key, resent message): attach. */
async function resubmitted(ctx: ApplyContext, existing: InvocationStatus, inv: NewInvocation, now: number) {
  if (inv.reportSubmit) ctx.effects.push({ kind: 'submitted', invocationId: inv.id, previouslyAccepted: true });
  if (!inv.sink) return;
  if (existing.phase === 'completed' && existing.output) await ctx.respond(existing.id, inv.sink, existing.output, now);
  else if (!(await ctx.addSink(existing, inv.sink, now))) return;
  ctx.saveStatus(existing);
}

export async function applyInvokerEffect(ctx: ApplyContext, cmd: Extract<Command, { kind: 'Effect' }>): Promise<void> {
  if (cmd.epoch < (await ctx.tables.epoch())) return; // from a deposed leader's invoker
  const st = await ctx.status(cmd.invocationId);
  if (!st || st.phase !== 'invoked') return;
  // From an attempt that was stopped (paused, suspended, cancelled) before this one started.
  if (cmd.attempt !== undefined && cmd.attempt !== (st.attempt ?? 0)) return;
  const now = cmd.ts;
  st.modifiedAt = now;
  const effect = cmd.effect;
  switch (effect.kind) {
    case 'pin':
      pin(ctx, st, effect);
      break;
    case 'command':
      await applyJournalCommand(ctx, st, effect, now);
      break;
    case 'runCompletion':
      await ctx.addNotification(
        st,
        J.runCompletion(effect.completionId, effect.value, effect.failure),
        { completionId: effect.completionId },
        now,
      );
      break;
    case 'suspend':
      suspend(ctx, st, effect.waiting);
      break;
    case 'end':
      return ctx.complete(st, st.output ?? { ok: false, code: 500, message: 'invocation ended without output' }, now);
    case 'fail':
      return ctx.complete(st, { ok: false, code: effect.failure.code, message: effect.failure.message }, now);
    case 'pause':
      st.phase = 'paused';
      ctx.effects.push({ kind: 'stopAttempt', invocationId: st.id });
      break;
  }
  if (await ctx.status(st.id)) ctx.saveStatus(st);
}

export function pin(
  ctx: ApplyContext,
  st: InvocationStatus,
  effect: { deploymentId: string; protocolVersion: number },
): void {
  if (st.deploymentId !== undefined && st.deploymentId !== effect.deploymentId)
    ctx.tables.delPinned(st.deploymentId, st.id);
  ctx.tables.putPinned(effect.deploymentId, st.id);
  st.deploymentId = effect.deploymentId;
  st.protocolVersion = effect.protocolVersion;
}

/**
 * The attempt suspended: it waits, unless what arrived meanwhile (after the journal the attempt read) already lets
 * its await point resolve: then it runs again at once.
 */
function suspend(ctx: ApplyContext, st: InvocationStatus, w: WaitingSet): void {
  if (canResolve(w, st.arrived)) {
    ctx.startAttempt(st);
  } else {
    st.phase = 'suspended';
    st.waiting = w;
  }
}
