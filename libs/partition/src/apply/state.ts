/**
 * Object and workflow state commands that read or clear more than one key (set and clear are one write each), and
 * the admin API's replacement of a key's whole state.
 */
import { type InvocationOutcome, stateVersion } from '@stead/core';
import type { QueuedReplacement } from '../codec.ts';
import * as J from '../journal.ts';
import type { Command, InvocationStatus, Target } from '../types.ts';
import type { ApplyContext } from './context.ts';
import { refused } from './outcomes.ts';

export async function applyClearAllState(ctx: ApplyContext, st: InvocationStatus): Promise<void> {
  if (st.target.key !== undefined) await ctx.tables.clearState(st.target);
}

export async function applyGetLazyState(
  ctx: ApplyContext,
  st: InvocationStatus,
  cmd: J.DecodedOf<'getLazyState'>,
  now: number,
): Promise<void> {
  const value = st.target.key === undefined ? undefined : await ctx.tables.stateValue(st.target, cmd.key);
  await ctx.addNotification(st, J.getLazyStateCompletion(cmd.completionId, value), cmd, now);
}

export async function applyGetLazyStateKeys(
  ctx: ApplyContext,
  st: InvocationStatus,
  cmd: J.DecodedOf<'getLazyStateKeys'>,
  now: number,
): Promise<void> {
  const keys = st.target.key === undefined ? [] : (await ctx.tables.state(st.target)).map(([k]) => k);
  await ctx.addNotification(st, J.getLazyStateKeysCompletion(cmd.completionId, keys), cmd, now);
}

/**
 * The admin API's replacement of a key's whole state. While an invocation holds the key's lock (its handler works
 * on the state it read at its start and would write over the new one), the replacement waits in the key's inbox
 * order and is applied when the lock is released (see ApplyContext.release), as Restate does; the request is
 * answered as accepted. Otherwise it is applied now, and refused (409) when it names a version that is not the
 * current state's.
 */
export async function applyReplaceState(
  ctx: ApplyContext,
  cmd: Extract<Command, { kind: 'ReplaceState' }>,
): Promise<void> {
  const target: Target = { service: cmd.service, handler: '', key: cmd.key, serviceType: cmd.serviceType };
  const replacement = cmd.version === undefined ? { state: cmd.state } : { state: cmd.state, version: cmd.version };
  let outcome: InvocationOutcome;
  if ((await ctx.tables.lockHolder(target)) !== undefined) {
    ctx.tables.putQueuedReplacement(target, await ctx.tables.nextInboxSeq(), replacement);
    outcome = REPLACED;
  } else {
    outcome = await replaceState(ctx, target, replacement);
  }
  // The request came from the admin API: there is no invocation to name.
  if (cmd.sink) await ctx.respond('', cmd.sink, outcome, cmd.ts);
}

const REPLACED: InvocationOutcome = { ok: true, value: new Uint8Array() };

/** Replaces the state of `target`'s key, unless `r.version` is given and is not the current state's (409). */
export async function replaceState(
  ctx: ApplyContext,
  target: Target,
  r: QueuedReplacement,
): Promise<InvocationOutcome> {
  if (r.version !== undefined) {
    const current = stateVersion(await ctx.tables.state(target));
    if (current !== r.version)
      return refused(
        `the state of ${target.service}/${target.key} changed since version ${r.version} was read (it is now ${current}); read it again, or replace it regardless of its version`,
      );
  }
  await ctx.tables.clearState(target);
  for (const [key, value] of r.state) ctx.tables.putState(target, key, value);
  return REPLACED;
}
