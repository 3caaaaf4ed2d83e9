/**
 * Object and workflow state commands that read or clear more than one key (set and clear are one write each), and
 * the admin API's replacement of a key's whole state.
 */
import { type InvocationOutcome, stateVersion } from '@stead/core';
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
 * Replaces the whole state of an object or workflow key, unless an invocation holds the key's lock (its handler
 * works on the state it read at its start and would write over the new one) or, when the request names the
 * version it read, the state changed since.
 */
export async function applyReplaceState(
  ctx: ApplyContext,
  cmd: Extract<Command, { kind: 'ReplaceState' }>,
): Promise<void> {
  const outcome = await replaceState(ctx, cmd);
  // The request came from the admin API: there is no invocation to name.
  if (cmd.sink) await ctx.respond('', cmd.sink, outcome, cmd.ts);
}

async function replaceState(
  ctx: ApplyContext,
  cmd: Extract<Command, { kind: 'ReplaceState' }>,
): Promise<InvocationOutcome> {
  const target: Target = { service: cmd.service, handler: '', key: cmd.key, serviceType: cmd.serviceType };
  const what = `the state of ${cmd.service}/${cmd.key}`;
  const holder = await ctx.tables.lockHolder(target);
  if (holder !== undefined)
    return refused(`${what} is in use by the running invocation ${holder}; try again once it has finished`);
  if (cmd.version !== undefined) {
    const current = stateVersion(await ctx.tables.state(target));
    if (current !== cmd.version)
      return refused(
        `${what} changed since version ${cmd.version} was read (it is now ${current}); read it again, or replace it regardless of its version`,
      );
  }
  await ctx.tables.clearState(target);
  for (const [key, value] of cmd.state) ctx.tables.putState(target, key, value);
  return { ok: true, value: new Uint8Array() };
}
