/**
 * Lifecycle control from the admin API (cancel, kill, purge, purge-journal, pause, resume, restart-as-new):
 * one function per operation; each returns the answer for the request's sink.
 */
import type { InvocationOutcome } from '@stead/core';
import * as J from '../journal.ts';
import type { Command, InvocationStatus } from '../types.ts';
import type { ApplyContext } from './context.ts';
import { ALREADY_COMPLETED, CANCEL_SIGNAL, CANCELLED, KILLED, NOT_FOUND, refused } from './outcomes.ts';

type ControlCommand = Extract<Command, { kind: 'Control' }>;

export async function applyControl(ctx: ApplyContext, cmd: ControlCommand): Promise<void> {
  const st = await ctx.status(cmd.invocationId);
  const outcome = st ? await control(ctx, st, cmd) : NOT_FOUND;
  if (cmd.sink) await ctx.respond(cmd.invocationId, cmd.sink, outcome, cmd.ts);
}

function control(ctx: ApplyContext, st: InvocationStatus, cmd: ControlCommand): Promise<InvocationOutcome> {
  const now = cmd.ts;
  switch (cmd.op) {
    case 'cancel':
      return cancel(ctx, st, now);
    case 'kill':
      return kill(ctx, st, now);
    case 'purge':
      return purge(ctx, st);
    case 'purge-journal':
      return purgeJournal(ctx, st);
    case 'pause':
      return Promise.resolve(pause(ctx, st, now));
    case 'resume':
      return Promise.resolve(resume(ctx, st, now));
    case 'restart-as-new':
      return restartAsNew(ctx, st, now, cmd.newInvocationId);
  }
}

const done = (): InvocationOutcome => ({ ok: true, value: new Uint8Array() });

async function cancel(ctx: ApplyContext, st: InvocationStatus, now: number): Promise<InvocationOutcome> {
  if (st.phase === 'completed') return ALREADY_COMPLETED;
  if (st.phase === 'scheduled' || st.phase === 'inboxed') {
    await ctx.abandon(st, CANCELLED, now);
    return done();
  }
  const signal = J.signalNotification({ idx: CANCEL_SIGNAL }, { void: true });
  await ctx.addNotification(st, signal, { signalId: CANCEL_SIGNAL }, now);
  if (st.phase === 'paused') {
    st.phase = 'invoked';
    ctx.startAttempt(st);
  }
  ctx.saveStatus(st);
  return done();
}

async function kill(ctx: ApplyContext, st: InvocationStatus, now: number): Promise<InvocationOutcome> {
  if (st.phase === 'completed') return ALREADY_COMPLETED;
  await ctx.dropQueued(st);
  await ctx.propagateToChildren(st, 'kill', now);
  await ctx.complete(st, KILLED, now);
  return done();
}

async function purge(ctx: ApplyContext, st: InvocationStatus): Promise<InvocationOutcome> {
  if (st.phase !== 'completed') return refused('only completed invocations can be purged');
  await ctx.purge(st);
  return done();
}

async function purgeJournal(ctx: ApplyContext, st: InvocationStatus): Promise<InvocationOutcome> {
  if (st.phase !== 'completed') return refused('only the journal of a completed invocation can be purged');
  await ctx.dropRetainedJournal(st);
  return done();
}

function pause(ctx: ApplyContext, st: InvocationStatus, now: number): InvocationOutcome {
  if (st.phase !== 'invoked' && st.phase !== 'suspended')
    return refused(`cannot pause an invocation that is ${st.phase}`);
  st.phase = 'paused';
  st.modifiedAt = now;
  ctx.effects.push({ kind: 'stopAttempt', invocationId: st.id });
  ctx.saveStatus(st);
  return done();
}

function resume(ctx: ApplyContext, st: InvocationStatus, now: number): InvocationOutcome {
  if (st.phase !== 'paused') return refused(`cannot resume an invocation that is ${st.phase}`);
  st.phase = 'invoked';
  st.modifiedAt = now;
  ctx.startAttempt(st);
  ctx.saveStatus(st);
  return done();
}

/** A completed invocation runs again as a new one with the same input (the appender chose its id). */
async function restartAsNew(
  ctx: ApplyContext,
  st: InvocationStatus,
  now: number,
  newInvocationId: string | undefined,
): Promise<InvocationOutcome> {
  if (st.phase !== 'completed')
    return refused(`the invocation is ${st.phase}; only completed invocations can be restarted`);
  if (st.target.serviceType === 'WORKFLOW' && st.target.handlerType === 'WORKFLOW')
    return refused('a workflow run executes once per key; purge the workflow and submit it again instead', 400);
  const input = await ctx.inputOf(st);
  if (!input) return refused('the input of the invocation is no longer retained', 410);
  if (!newInvocationId || (await ctx.status(newInvocationId)))
    return refused('restart-as-new needs a fresh invocation id', 400);
  const fresh: InvocationStatus = {
    id: newInvocationId,
    target: st.target,
    phase: 'scheduled',
    createdAt: now,
    modifiedAt: now,
    journalLength: 0,
    sinks: [],
    arrived: { completions: [], signals: [], names: [] },
    restartedFrom: st.id,
  };
  // Kept once completed as long as the one it copies (same target, same service settings; the state machine has
  // no schema to ask): without it the copy was forgotten the moment it completed.
  if (st.retentionMs !== undefined) fresh.retentionMs = st.retentionMs;
  if (st.journalRetentionMs !== undefined) fresh.journalRetentionMs = st.journalRetentionMs;
  ctx.writeEntry(fresh, input, now);
  await ctx.admit(fresh, now);
  ctx.saveStatus(fresh);
  return { ok: true, value: new TextEncoder().encode(newInvocationId) };
}
