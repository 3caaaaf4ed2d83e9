/** Object and workflow state commands that read or clear more than one key (set and clear are one write each). */
import * as J from '../journal.ts';
import type { InvocationStatus } from '../types.ts';
import type { ApplyContext } from './context.ts';

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
