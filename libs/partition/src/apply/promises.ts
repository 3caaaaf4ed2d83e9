/** Workflow promises, awakeables and signals. */
import type { PromiseRow } from '../codec.ts';
import * as J from '../journal.ts';
import type { InvocationStatus } from '../types.ts';
import type { ApplyContext } from './context.ts';

/** Get or peek a promise: its result if it is done, else (get) wait for it or (peek) nothing. */
export async function applyReadPromise(
  ctx: ApplyContext,
  st: InvocationStatus,
  name: string,
  completionId: number,
  peek: boolean,
  now: number,
): Promise<void> {
  const row: PromiseRow = (await ctx.tables.promise(st.target, name)) ?? { waiters: [] };
  const type = peek ? J.T2.PeekPromiseN : J.T2.GetPromiseN;
  if ('done' in row || peek) {
    const result: J.Result = 'done' in row ? row.done : { void: true };
    await ctx.addNotification(st, J.completionNotification(type, completionId, result), { completionId }, now);
  } else {
    row.waiters.push({ invocationId: st.id, completionId, peek });
    ctx.tables.putPromise(st.target, name, row);
  }
}

/** Completes a promise once (a second completion fails with 409) and wakes the invocations waiting on it. */
export async function applyCompletePromise(
  ctx: ApplyContext,
  st: InvocationStatus,
  cmd: J.DecodedOf<'completePromise'>,
  now: number,
): Promise<void> {
  const row: PromiseRow = (await ctx.tables.promise(st.target, cmd.key)) ?? { waiters: [] };
  const done = 'done' in row;
  if (!done) {
    ctx.tables.putPromise(st.target, cmd.key, { done: cmd.result });
    for (const w of row.waiters) {
      const entry = J.completionNotification(J.T2.GetPromiseN, w.completionId, cmd.result);
      const pk = ctx.opts.partitionKeyOfInvocation(w.invocationId);
      await ctx.notifyRemote(pk, w.invocationId, entry, { completionId: w.completionId }, now);
    }
  }
  const r: J.Result = done
    ? { failure: { code: 409, message: `promise '${cmd.key}' is already completed` } }
    : { void: true };
  const entry = J.completionNotification(J.T2.CompletePromiseN, cmd.completionId, r);
  await ctx.addNotification(st, entry, { completionId: cmd.completionId }, now);
}

export function applySendSignal(ctx: ApplyContext, cmd: J.DecodedOf<'sendSignal'>, now: number): Promise<void> {
  return ctx.signal(cmd.targetInvocationId, cmd.signal, cmd.result, now);
}

export async function applyCompleteAwakeable(
  ctx: ApplyContext,
  cmd: J.DecodedOf<'completeAwakeable'>,
  now: number,
): Promise<void> {
  let target: { invocationId: string; signalIndex: number };
  try {
    target = ctx.opts.awakeable(cmd.awakeableId);
  } catch {
    return; // a malformed id resolves nothing
  }
  await ctx.signal(target.invocationId, { idx: target.signalIndex }, cmd.result, now);
}
