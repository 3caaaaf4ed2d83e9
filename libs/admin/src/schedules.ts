/**
 * Durable cron schedules (beyond Restate): `POST /schedules`, `GET /schedules`, `GET /schedules/{id}`,
 * `PATCH /schedules/{id}/pause|resume`, `DELETE /schedules/{id}`. A schedule lives in one partition (its target
 * key's, or its id's for a plain service); this module checks a definition against the schema, sends commands to
 * that partition and reads schedules back from the partitions' `sys_schedule` rows.
 */
import { randomBytes } from 'node:crypto';
import {
  cronProblem,
  type IntrospectionRow,
  type IntrospectionSource,
  type InvocationBackend,
  type InvocationDefaults,
  invocationRetention,
  nextTicks,
  OVERLAP_POLICIES,
  type OverlapPolicy,
  type ScheduleDefinition,
  type ScheduleOperation,
  schedulePartitionKey,
} from '@stead/core';
import { statusError } from './invocations.ts';
import type { SchemaRegistry } from './registry.ts';
import { type AdminReply, type AdminRequest, type AdminRouter, errorReply } from './router.ts';

export interface ScheduleRoutesOptions {
  registry: SchemaRegistry;
  backend: Pick<InvocationBackend, 'schedule'>;
  /** Where `sys_schedule` rows are read from (every partition). */
  source: IntrospectionSource;
  defaults: InvocationDefaults;
  /** The clock for next fire times of a paused schedule (default Date.now). */
  now?: () => number;
}

/** Schedule ids go into URLs and idempotency keys: a small alphabet, no slash. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** How many upcoming ticks a schedule's view lists. */
const NEXT_FIRE_TIMES = 5;
const MAX_SCHEDULES = 100_000;

class BadRequest extends Error {}

const iso = (ms: unknown) => (typeof ms === 'number' ? new Date(ms).toISOString() : undefined);

function str(b: Record<string, unknown>, name: string, opts: { required?: boolean } = {}): string | undefined {
  const v = b[name];
  if (v === undefined || v === null) {
    if (opts.required) throw new BadRequest(`'${name}' is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw new BadRequest(`'${name}' must be a string`);
  return v;
}

/** The input of each tick: `input` (any JSON value, sent as application/json) or `inputBase64` + `contentType`. */
function inputOf(b: Record<string, unknown>): { input: Uint8Array; contentType?: string } {
  const base64 = str(b, 'inputBase64');
  const contentType = str(b, 'contentType');
  if (base64 !== undefined && b.input !== undefined) throw new BadRequest("give 'input' or 'inputBase64', not both");
  if (base64 !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw new BadRequest("'inputBase64' is not base64");
    return { input: Buffer.from(base64, 'base64'), contentType: contentType ?? 'application/octet-stream' };
  }
  if (b.input === undefined)
    return contentType === undefined ? { input: new Uint8Array() } : { input: new Uint8Array(), contentType };
  return { input: Buffer.from(JSON.stringify(b.input)), contentType: contentType ?? 'application/json' };
}

/** A create request checked against the schema: a definition, or BadRequest saying what to fix. */
function parseDefinition(body: unknown, o: ScheduleRoutesOptions): ScheduleDefinition {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('expected a JSON object');
  const b = body as Record<string, unknown>;
  const id = str(b, 'id') ?? `sch_${randomBytes(10).toString('hex')}`;
  if (!ID.test(id))
    throw new BadRequest(`schedule id '${id}' must be 1-128 of A-Z a-z 0-9 _ . - (starting with a letter or digit)`);
  const cron = str(b, 'cron', { required: true }) as string;
  const timeZone = str(b, 'timeZone') ?? 'UTC';
  const problem = cronProblem({ cron, timeZone });
  if (problem) throw new BadRequest(problem);
  const overlap = (str(b, 'overlap') ?? 'skip') as OverlapPolicy;
  if (!OVERLAP_POLICIES.includes(overlap))
    throw new BadRequest(`'overlap' must be one of ${OVERLAP_POLICIES.join(', ')}`);
  const t = b.target;
  if (t === null || typeof t !== 'object' || Array.isArray(t))
    throw new BadRequest("'target' must be {service, handler, key?}");
  const tr = t as Record<string, unknown>;
  const service = str(tr, 'service', { required: true }) as string;
  const handler = str(tr, 'handler', { required: true }) as string;
  const key = str(tr, 'key');
  const svc = o.registry.service(service);
  if (!svc) throw new BadRequest(`unknown service '${service}'; register its deployment first`);
  const h = o.registry.handler(service, handler);
  if (!h) throw new BadRequest(`service '${service}' has no handler '${handler}'`);
  if (svc.ty === 'WORKFLOW')
    throw new BadRequest(
      `'${service}' is a workflow; a workflow runs once per key, schedule a service or virtual object handler`,
    );
  if (svc.ty === 'VIRTUAL_OBJECT' && key === undefined)
    throw new BadRequest(`'${service}' is a virtual object: give target.key`);
  if (svc.ty === 'SERVICE' && key !== undefined)
    throw new BadRequest(`'${service}' is a service: it takes no target.key`);
  const retention = invocationRetention(svc, h, o.defaults, { key, idempotencyKey: 'schedule' });
  const target: ScheduleDefinition['target'] = { service, handler, serviceType: svc.ty };
  if (key !== undefined) target.key = key;
  if (h.ty !== undefined) target.handlerType = h.ty;
  return {
    id,
    cron,
    timeZone,
    target,
    ...inputOf(b),
    overlap,
    retentionMs: retention.retentionMs,
    journalRetentionMs: retention.journalRetentionMs,
  };
}

/** What the API shows of a schedule (a `sys_schedule` row). */
function view(r: IntrospectionRow, now: number): Record<string, unknown> {
  const paused = r.paused === true;
  const spec = { cron: String(r.cron), timeZone: String(r.time_zone) };
  const from = typeof r.next_tick_at === 'number' ? r.next_tick_at - 1 : now;
  return {
    id: r.id,
    cron: r.cron,
    timeZone: r.time_zone,
    target: {
      service: r.target_service_name,
      handler: r.target_handler_name,
      ...(r.target_service_key === undefined || r.target_service_key === null ? {} : { key: r.target_service_key }),
    },
    overlap: r.overlap,
    contentType: r.content_type ?? undefined,
    paused,
    createdAt: iso(r.created_at),
    nextFireTimes: paused ? [] : nextTicks(spec, from, NEXT_FIRE_TIMES).map((t) => new Date(t).toISOString()),
    lastTick: iso(r.last_tick_at),
    lastFiredAt: iso(r.last_fired_at),
    lastInvocationId: r.last_invocation_id ?? undefined,
    queuedTick: iso(r.queued_tick_at),
    fired: Number(r.fired),
    skipped: Number(r.skipped),
    late: Number(r.late),
  };
}

async function allRows(source: IntrospectionSource): Promise<IntrospectionRow[]> {
  const rows: IntrospectionRow[] = [];
  for await (const batch of source.scan('sys_schedule', { limit: MAX_SCHEDULES })) rows.push(...batch);
  return rows.sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));
}

async function findRow(source: IntrospectionSource, id: string): Promise<IntrospectionRow | undefined> {
  return (await allRows(source)).find((r) => r.id === id);
}

export function mountScheduleRoutes(router: AdminRouter, o: ScheduleRoutesOptions): void {
  const now = o.now ?? Date.now;
  // Changes run one at a time: a create checks every partition for the id and then writes to one, and two creates
  // of one id for targets in different partitions must not both pass the check. (One admin process: the chart runs
  // one; several admins would need the check in the metadata store.)
  let last: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = last.then(fn, fn);
    last = run.catch(() => undefined);
    return run;
  };
  /** A bad definition answers 400 with what to fix; an error with a status (415, 503, ...) answers that. */
  const guarded =
    (handler: (req: AdminRequest) => Promise<AdminReply>) =>
    async (req: AdminRequest): Promise<AdminReply> => {
      try {
        return await handler(req);
      } catch (err) {
        if (err instanceof BadRequest) return errorReply(400, err.message);
        return statusError(err);
      }
    };

  router.post(
    '/schedules',
    guarded(async (req) => {
      const def = parseDefinition(await req.json(), o);
      return oneAtATime(() => create(def));
    }),
  );
  const create = async (def: ScheduleDefinition): Promise<AdminReply> => {
    const pk = schedulePartitionKey(def);
    const other = await findRow(o.source, def.id);
    if (other && BigInt(other.partition_key as bigint | number) !== pk)
      return errorReply(409, `schedule '${def.id}' exists with a different target; delete it first or pick another id`);
    const outcome = await o.backend.schedule(pk, { op: 'create', definition: def });
    if (!outcome.ok) return errorReply(outcome.code, outcome.message);
    const created = new TextDecoder().decode(outcome.value) === 'created';
    const row = await findRow(o.source, def.id);
    if (!row) return errorReply(503, `schedule '${def.id}' was created but cannot be read back yet; GET it again`);
    return { status: created ? 201 : 200, json: view(row, now()) };
  };

  router.get(
    '/schedules',
    guarded(async () => ({ status: 200, json: { schedules: (await allRows(o.source)).map((r) => view(r, now())) } })),
  );

  router.get(
    '/schedules/:schedule',
    guarded(async (req) => {
      const row = await findRow(o.source, req.params.schedule);
      if (!row) return errorReply(404, `schedule '${req.params.schedule}' not found`);
      return { status: 200, json: view(row, now()) };
    }),
  );

  const command = (op: 'pause' | 'resume' | 'delete') =>
    guarded((req) => oneAtATime(() => change(op, req.params.schedule)));
  const change = async (op: 'pause' | 'resume' | 'delete', id: string): Promise<AdminReply> => {
    const row = await findRow(o.source, id);
    if (!row) return errorReply(404, `schedule '${id}' not found`);
    const operation: ScheduleOperation = { op, id };
    const outcome = await o.backend.schedule(BigInt(row.partition_key as bigint | number), operation);
    if (!outcome.ok) return errorReply(outcome.code, outcome.message);
    if (op === 'delete') return { status: 204 };
    const after = await findRow(o.source, id);
    if (!after) return errorReply(404, `schedule '${id}' not found`);
    return { status: 200, json: view(after, now()) };
  };
  router.patch('/schedules/:schedule/pause', command('pause'));
  router.patch('/schedules/:schedule/resume', command('resume'));
  router.delete('/schedules/:schedule', command('delete'));
}
