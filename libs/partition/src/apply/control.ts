/**
 * Lifecycle control from the admin API (cancel, kill, purge, purge-journal, pause, resume, restart-as-new):
 * one function per operation; each returns the answer for the request's sink.
 */
import type { InvocationOutcome } from '@stead/core';
import { assert } from '../assert.ts';
import { markArrived } from '../await-point.ts';
import * as J from '../journal.ts';
import type { Command, InvocationStatus, JournalEntry, NotificationId } from '../types.ts';
import type { ApplyContext } from './context.ts';
import { pin } from './invocation.ts';
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
      return restartAsNew(ctx, st, now, cmd);
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

/**
 * A completed invocation runs again as a new one with the same input (the appender chose its id); with
 * `restartFrom` > 0 it also starts with the old journal's prefix (see copyPrefix), so the handler replays the
 * steps in it instead of running them again.
 */
async function restartAsNew(
  ctx: ApplyContext,
  st: InvocationStatus,
  now: number,
  cmd: ControlCommand,
): Promise<InvocationOutcome> {
  const newInvocationId = cmd.newInvocationId;
  const from = cmd.restartFrom ?? 0;
  if (st.phase !== 'completed')
    return refused(`the invocation is ${st.phase}; only completed invocations can be restarted`);
  if (st.target.serviceType === 'WORKFLOW' && st.target.handlerType === 'WORKFLOW')
    return refused('a workflow run executes once per key; purge the workflow and submit it again instead', 400);
  const input = await ctx.inputOf(st);
  if (!input) return refused('the input of the invocation is no longer retained', 410);
  if (!newInvocationId || (await ctx.status(newInvocationId)))
    return refused('restart-as-new needs a fresh invocation id', 400);
  if (from > 0 && st.journalLength === 0)
    return refused(`the journal of the invocation is no longer retained; only from=0 (the input) is possible`, 410);
  if (from > 0 && from >= st.journalLength)
    return refused(`from=${from} is past the end of the journal (last entry ${st.journalLength - 1})`, 400);
  if (cmd.restartOn === 'keep' && st.deploymentId === undefined)
    return refused("the invocation was never pinned to a deployment; use deployment 'latest' or an id", 409);
  // The copied journal keeps its protocol version; a deployment speaking only older ones could not replay it.
  const named = typeof cmd.restartOn === 'object' ? cmd.restartOn : undefined;
  if (from > 0 && named && st.protocolVersion !== undefined && named.protocolVersion < st.protocolVersion)
    return refused(
      `deployment '${named.deploymentId}' speaks the service protocol up to v${named.protocolVersion}, but the journal was written in v${st.protocolVersion}; choose a deployment that speaks v${st.protocolVersion}`,
      400,
    );
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
  if (from > 0) {
    const prefix = await prefixOf(ctx, st, from);
    if (!Array.isArray(prefix)) return prefix;
    for (const { entry, nid } of prefix) {
      ctx.writeEntry(fresh, entry, now);
      if (nid) markCopied(fresh, entry, nid);
    }
  } else ctx.writeEntry(fresh, input, now);
  await ctx.admit(fresh, now);
  const on = cmd.restartOn === 'keep' ? keptPin(st) : cmd.restartOn;
  // Pinned even while queued behind its key (a later start would pick the latest). The copied journal was written
  // in the old protocol version: the new pin keeps it (the invoker refuses a deployment that does not speak it).
  if (on) pin(ctx, fresh, { deploymentId: on.deploymentId, protocolVersion: st.protocolVersion ?? on.protocolVersion });
  ctx.saveStatus(fresh);
  return { ok: true, value: new TextEncoder().encode(newInvocationId) };
}

function keptPin(st: InvocationStatus): { deploymentId: string; protocolVersion: number } | undefined {
  if (st.deploymentId === undefined) return undefined;
  return { deploymentId: st.deploymentId, protocolVersion: st.protocolVersion ?? 0 };
}

interface Copied {
  entry: JournalEntry;
  /** For a notification: what it completes or signals (recorded as arrived in the new invocation). */
  nid?: NotificationId;
}

/**
 * The entries a restart from `from` copies, in journal order: entries 0..from, then the later completions of the
 * commands among them, leaving out a cancellation signal. A command of the prefix whose completion never arrived
 * makes the copy impossible (its handler would wait forever for a result nothing will send): refused with 409
 * naming the command's index.
 */
async function prefixOf(ctx: ApplyContext, st: InvocationStatus, from: number): Promise<Copied[] | InvocationOutcome> {
  const out: Copied[] = [];
  const expected = new Map<number, number>(); // completion id -> index of the command awaiting it
  for (let index = 0; index < st.journalLength; index++) {
    const entry = await ctx.tables.journalEntry(st, index);
    assert(entry !== undefined, `journal entry ${index} of ${st.id} is missing (journal length ${st.journalLength})`);
    if (J.isCommandType(entry.type)) {
      if (index > from) continue;
      for (const id of J.awaitedCompletions(entry)) expected.set(id, index);
      out.push({ entry });
      continue;
    }
    const nid = J.notificationId(entry);
    // A cancellation was meant for the old invocation: the new one starts uncancelled.
    if ('signalId' in nid && nid.signalId === CANCEL_SIGNAL) continue;
    if (index <= from) out.push({ entry, nid });
    else if ('completionId' in nid && expected.has(nid.completionId)) out.push({ entry, nid });
    if ('completionId' in nid) expected.delete(nid.completionId);
  }
  for (const index of expected.values())
    return refused(
      `journal entry ${index} (a command within from=${from}) has not been completed; restart from an entry before it`,
      409,
    );
  return out;
}

function markCopied(st: InvocationStatus, entry: JournalEntry, nid: NotificationId): void {
  markArrived(st.arrived, nid, J.isFailureNotification(entry));
}
