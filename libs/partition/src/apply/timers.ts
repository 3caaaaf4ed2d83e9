/** A durable timer fired: a delayed invocation starts, a sleep completes, a retention ends, or a cron schedule ticks. */
import * as J from '../journal.ts';
import { type Command, TIMER_INVOKE, TIMER_PURGE, TIMER_PURGE_JOURNAL, TIMER_SCHEDULE } from '../types.ts';
import type { ApplyContext } from './context.ts';
import { scheduleTimerFired } from './schedules.ts';

export async function applyTimerFired(ctx: ApplyContext, cmd: Extract<Command, { kind: 'TimerFired' }>): Promise<void> {
  const { timer, ts: now } = cmd;
  if (!(await ctx.tables.hasTimer(timer))) return; // already fired
  ctx.tables.delTimer(timer);
  if (timer.completionId === TIMER_SCHEDULE) return scheduleTimerFired(ctx, timer, now);
  const st = await ctx.status(timer.invocationId);
  if (!st) return;
  switch (timer.completionId) {
    case TIMER_PURGE:
      if (st.phase === 'completed') await ctx.purge(st);
      return;
    case TIMER_PURGE_JOURNAL:
      if (st.phase === 'completed') await ctx.dropRetainedJournal(st);
      return;
    case TIMER_INVOKE:
      if (st.phase === 'scheduled') {
        st.modifiedAt = now;
        await ctx.admit(st, now);
        ctx.saveStatus(st);
      }
      return;
  }
  if (st.phase === 'completed') return;
  await ctx.addNotification(st, J.sleepCompletion(timer.completionId), { completionId: timer.completionId }, now);
  ctx.saveStatus(st);
}
