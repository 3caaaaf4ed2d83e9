/** Calls between invocations: call and one-way call commands, attach / get-output commands and Attach records. */
import * as J from '../journal.ts';
import {
  type Command,
  type InvocationStatus,
  type InvokerEffect,
  type NewInvocation,
  normalizeKey,
  type ResponseSink,
  sameSink,
  type Target,
} from '../types.ts';
import type { ApplyContext } from './context.ts';
import { NOT_FOUND, NOT_READY } from './outcomes.ts';

/** A call or one-way call: the callee's id is known at once (a notification), the callee starts through the outbox. */
export async function applyCall(
  ctx: ApplyContext,
  st: InvocationStatus,
  cmd: J.DecodedOf<'call' | 'oneWayCall'>,
  index: number,
  effect: Extract<InvokerEffect, { kind: 'command' }>,
  now: number,
): Promise<void> {
  const target: Target = normalizeKey({ ...cmd.target, ...effect.target });
  const childId = ctx.calleeId(st.id, index, target, cmd.idempotencyKey);
  await ctx.addNotification(
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
    ...effect.retention,
    invokedBy: { invocationId: st.id, target: callerTarget(st.target) },
  };
  if (cmd.kind === 'call') {
    inv.sink = { kind: 'invocation', invocationId: st.id, completionId: cmd.resultCompletionId };
  } else if (cmd.invokeTime > now) inv.executionTime = cmd.invokeTime;
  await ctx.sendTo(ctx.opts.partitionKeyOfInvocation(childId), { kind: 'Invoke', ts: now, inv });
}

/** The caller's target as its callees record it: what introspection names (no types, to keep statuses small). */
function callerTarget(t: Target): Target {
  return t.key === undefined
    ? { service: t.service, handler: t.handler }
    : { service: t.service, handler: t.handler, key: t.key };
}

/** Attach to (or read the output of) another invocation: an Attach record in the partition that owns it. */
export async function applyInvocationRef(
  ctx: ApplyContext,
  st: InvocationStatus,
  cmd: J.DecodedOf<'attach' | 'getOutput'>,
  now: number,
): Promise<void> {
  const attach = cmd.kind === 'attach';
  const sink: ResponseSink = {
    kind: 'invocation',
    invocationId: st.id,
    completionId: cmd.completionId,
    entryType: attach ? J.T2.AttachInvocationN : J.T2.GetInvocationOutputN,
  };
  if (cmd.ref === undefined) return ctx.respond(st.id, sink, NOT_FOUND, now);
  const targetId = ctx.refId(cmd.ref);
  await ctx.sendTo(ctx.opts.partitionKeyOfInvocation(targetId), {
    kind: 'Attach',
    ts: now,
    invocationId: targetId,
    sink,
    mode: attach ? 'attach' : 'output',
  });
}

/** An Attach record: wait for the result, read it if it is there, or take back an earlier attach (detach). */
export async function applyAttach(ctx: ApplyContext, cmd: Extract<Command, { kind: 'Attach' }>): Promise<void> {
  const { invocationId: id, sink, mode, ts: now } = cmd;
  const st = await ctx.status(id);
  if (mode === 'detach') return detach(ctx, st, sink);
  if (!st) {
    if (mode === 'output' && sink.kind === 'invocation') return ctx.respondVoid(sink, now);
    return ctx.respond(id, sink, NOT_FOUND, now);
  }
  if (st.phase === 'completed' && st.output) return ctx.respond(id, sink, st.output, now);
  if (mode === 'output') {
    if (sink.kind === 'invocation') return ctx.respondVoid(sink, now);
    return ctx.respond(id, sink, NOT_READY, now);
  }
  if (await ctx.addSink(st, sink, now)) ctx.saveStatus(st);
}

/** The request behind an attach went away: nobody waits on its sink any more. */
function detach(ctx: ApplyContext, st: InvocationStatus | undefined, sink: ResponseSink): void {
  const kept = st?.sinks.filter((s) => !sameSink(s, sink));
  if (st && kept && kept.length !== st.sinks.length) {
    st.sinks = kept;
    ctx.saveStatus(st);
  }
}
