/**
 * `stead schedules list|get|create|pause|resume|delete`: the durable cron schedules of the admin API
 * (`/schedules`), as a table (default) or the admin API's JSON (`--json`).
 */
import type { Command } from 'commander';
import { CliError } from './admin-client.ts';
import type { CommonOptions, OperationsContext } from './operations.ts';
import { renderFields, renderTable } from './table.ts';

/** A schedule as `GET /schedules/{id}` answers. */
export interface ScheduleView {
  id: string;
  cron: string;
  timeZone: string;
  target: { service: string; handler: string; key?: string };
  overlap: string;
  paused: boolean;
  nextFireTimes: string[];
  lastTick?: string;
  lastInvocationId?: string;
  fired: number;
  skipped: number;
  late: number;
}

const targetOf = (s: ScheduleView) =>
  `${s.target.service}${s.target.key === undefined ? '' : `/${s.target.key}`}/${s.target.handler}`;

export function renderSchedules(list: readonly ScheduleView[]): string {
  if (list.length === 0) return 'no schedules';
  return renderTable(
    ['ID', 'CRON', 'TIME ZONE', 'TARGET', 'OVERLAP', 'STATE', 'NEXT', 'FIRED', 'SKIPPED', 'LATE'],
    list.map((s) => [
      s.id,
      s.cron,
      s.timeZone,
      targetOf(s),
      s.overlap,
      s.paused ? 'paused' : 'active',
      s.nextFireTimes[0],
      s.fired,
      s.skipped,
      s.late,
    ]),
  );
}

export function renderSchedule(s: ScheduleView): string {
  return renderFields([
    ['id', s.id],
    ['cron', `${s.cron} (${s.timeZone})`],
    ['target', targetOf(s)],
    ['overlap', s.overlap],
    ['state', s.paused ? 'paused' : 'active'],
    ['next fire times', s.nextFireTimes.join(', ') || '-'],
    ['last tick', s.lastTick ?? '-'],
    ['last invocation', s.lastInvocationId ?? '-'],
    ['ticks', `${s.fired} fired, ${s.skipped} skipped, ${s.late} late`],
  ]);
}

interface CreateOptions extends CommonOptions {
  id?: string;
  cron: string;
  timeZone?: string;
  service: string;
  handler: string;
  key?: string;
  input?: string;
  overlap?: string;
}

function createBody(o: CreateOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    cron: o.cron,
    target: { service: o.service, handler: o.handler, ...(o.key === undefined ? {} : { key: o.key }) },
  };
  if (o.id !== undefined) body.id = o.id;
  if (o.timeZone !== undefined) body.timeZone = o.timeZone;
  if (o.overlap !== undefined) body.overlap = o.overlap;
  if (o.input !== undefined) {
    try {
      body.input = JSON.parse(o.input);
    } catch {
      throw new CliError(`--input: expected JSON, e.g. '{"n": 1}'`, 2);
    }
  }
  return body;
}

export function scheduleCommands(schedules: Command, ctx: OperationsContext): void {
  const print = (o: CommonOptions, json: unknown, human: string) =>
    ctx.out(`${o.json ? JSON.stringify(json, null, 2) : human}\n`);
  ctx
    .common(schedules.command('list').description('every schedule, with its next tick and counts'))
    .action(async (o: CommonOptions) => {
      const answer = (await ctx.client(o).get('/schedules')) as { schedules: ScheduleView[] };
      print(o, answer, renderSchedules(answer.schedules));
    });
  ctx
    .common(schedules.command('get').description('one schedule: next fire times, last tick and invocation'))
    .argument('<id>', 'the schedule id')
    .action(async (id: string, o: CommonOptions) => {
      const s = (await ctx.client(o).get(`/schedules/${encodeURIComponent(id)}`)) as ScheduleView;
      print(o, s, renderSchedule(s));
    });
  ctx
    .common(
      schedules
        .command('create')
        .description('create a schedule: each tick starts the target handler once (same id and definition: no change)'),
    )
    .requiredOption('--cron <expression>', "5 fields (minute first) or 6 (second first), e.g. '0 3 * * *'")
    .requiredOption('--service <name>', 'the target service or virtual object')
    .requiredOption('--handler <name>', 'the target handler')
    .option('--key <key>', 'the virtual object key')
    .option('--id <id>', 'the schedule id (default: generated)')
    .option('--time-zone <iana>', 'the time zone the cron fields are read in (default UTC)')
    .option('--input <json>', 'the JSON input of every tick')
    .option('--overlap <policy>', 'skip, queue or allow: a tick while the last one still runs (default skip)')
    .action(async (o: CreateOptions) => {
      const s = (await ctx.client(o).send('POST', '/schedules', createBody(o))) as ScheduleView;
      print(o, s, renderSchedule(s));
    });
  for (const [op, what] of [
    ['pause', 'stop firing ticks (the ticks while paused never fire)'],
    ['resume', 'fire again from the next tick after now'],
  ] as const)
    ctx
      .common(schedules.command(op).description(what))
      .argument('<id>', 'the schedule id')
      .action(async (id: string, o: CommonOptions) => {
        const s = (await ctx.client(o).send('PATCH', `/schedules/${encodeURIComponent(id)}/${op}`)) as ScheduleView;
        print(o, s, renderSchedule(s));
      });
  ctx
    .common(schedules.command('delete').description('delete a schedule (a running tick invocation goes on)'))
    .argument('<id>', 'the schedule id')
    .action(async (id: string, o: CommonOptions) => {
      await ctx.client(o).send('DELETE', `/schedules/${encodeURIComponent(id)}`);
      print(o, { id, deleted: true }, `deleted schedule ${id}`);
    });
}
