// The admin's /schedules routes over a real admin server and schema registry, with a scripted engine that keeps
// schedules per partition key as the partitions would: what the routes check, send and show. The whole path
// through the engine (both topologies, kill -9) is e2e/test/schedules.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  type IntrospectionRow,
  type IntrospectionSource,
  type InvocationOutcome,
  RESTATE_INVOCATION_DEFAULTS,
  type ScheduleDefinition,
  type ScheduleOperation,
  schedulePartitionKey,
} from '@stead/core';
import { type AdminServer, mountScheduleRoutes, SchemaRegistry, startAdminServer } from '../src/index.ts';
import { postJson, request, ScriptedDiscover, svc } from './helpers.ts';

const NOW = Date.parse('2026-11-27T10:00:00.000Z');
const enc = (s: string) => new TextEncoder().encode(s);

/** Schedules as the partitions keep them: by partition key, then id (each partition knows only its own). */
class ScriptedPartitions {
  readonly ops: { partitionKey: bigint; op: ScheduleOperation }[] = [];
  readonly rows = new Map<string, IntrospectionRow>();
  /** How long a partition takes to answer (a log append and its apply). */
  delayMs = 0;

  /** The row of schedule `id` (in whichever partition holds it). */
  row(id: string): IntrospectionRow | undefined {
    return [...this.rows.values()].find((r) => r.id === id);
  }

  async schedule(partitionKey: bigint, op: ScheduleOperation): Promise<InvocationOutcome> {
    this.ops.push({ partitionKey, op });
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (op.op === 'create') {
      const d = op.definition;
      const at = `${partitionKey}/${d.id}`;
      if (this.rows.has(at)) return { ok: true, value: enc('unchanged') };
      this.rows.set(at, rowOf(d, partitionKey));
      return { ok: true, value: enc('created') };
    }
    const at = `${partitionKey}/${op.id}`;
    const row = this.rows.get(at);
    if (!row) return { ok: false, code: 404, message: 'not found' };
    if (op.op === 'delete') this.rows.delete(at);
    else row.paused = op.op === 'pause';
    return { ok: true, value: enc(op.op) };
  }

  readonly source: IntrospectionSource = {
    scan: (table) => {
      const rows = table === 'sys_schedule' ? [...this.rows.values()] : [];
      return (async function* () {
        yield rows;
      })();
    },
  };
}

function rowOf(d: ScheduleDefinition, partitionKey: bigint): IntrospectionRow {
  return {
    id: d.id,
    partition_key: partitionKey,
    cron: d.cron,
    time_zone: d.timeZone,
    target_service_name: d.target.service,
    target_handler_name: d.target.handler,
    target_service_key: d.target.key,
    overlap: d.overlap,
    content_type: d.contentType,
    paused: false,
    created_at: NOW,
    next_tick_at: undefined,
    fired: 0,
    skipped: 0,
    late: 0,
  };
}

describe('/schedules routes', () => {
  let dir: string;
  let admin: AdminServer;
  let engine: ScriptedPartitions;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stead-admin-schedules-'));
    const d = new ScriptedDiscover();
    d.set('http://127.0.0.1:9081/', [
      svc('Reports', 'SERVICE', ['build']),
      svc('Counter', 'VIRTUAL_OBJECT', ['add']),
      svc('Signup', 'WORKFLOW', ['run']),
    ]);
    const registry = await SchemaRegistry.open({ dataDir: dir, discover: d.fn, discoveryTimeoutMs: 5000 });
    await registry.register({ uri: 'http://127.0.0.1:9081/' });
    engine = new ScriptedPartitions();
    admin = await startAdminServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      onError: () => {},
      extend: (router) =>
        mountScheduleRoutes(router, {
          registry,
          backend: engine,
          source: engine.source,
          defaults: { ...RESTATE_INVOCATION_DEFAULTS, idempotencyRetentionMs: 3_600_000, journalRetentionMs: 60_000 },
          now: () => NOW,
        }),
    });
  });
  afterEach(async () => {
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends a checked definition to the partition of the target key, with the idempotency retention', async () => {
    const r = await postJson(admin.port, '/schedules', {
      id: 'count',
      cron: '*/10 * * * * *',
      timeZone: 'America/New_York',
      target: { service: 'Counter', handler: 'add', key: 'k1' },
      inputBase64: Buffer.from([1, 2, 3]).toString('base64'),
      contentType: 'application/x-bytes',
      overlap: 'queue',
    });
    expect(r.status).toBe(201);
    const [sent] = engine.ops;
    expect(sent.op).toEqual({
      op: 'create',
      definition: {
        id: 'count',
        cron: '*/10 * * * * *',
        timeZone: 'America/New_York',
        target: {
          service: 'Counter',
          handler: 'add',
          key: 'k1',
          serviceType: 'VIRTUAL_OBJECT',
          handlerType: 'EXCLUSIVE',
        },
        input: expect.anything(),
        contentType: 'application/x-bytes',
        overlap: 'queue',
        retentionMs: 3_600_000,
        journalRetentionMs: 60_000,
      },
    });
    expect([...(sent.op as { definition: ScheduleDefinition }).definition.input]).toEqual([1, 2, 3]);
    expect(sent.partitionKey).toBe(schedulePartitionKey({ id: 'count', target: { key: 'k1' } as never }));
    expect(r.json).toMatchObject({
      id: 'count',
      target: { service: 'Counter', handler: 'add', key: 'k1' },
      paused: false,
      nextFireTimes: [
        '2026-11-27T10:00:10.000Z',
        '2026-11-27T10:00:20.000Z',
        '2026-11-27T10:00:30.000Z',
        '2026-11-27T10:00:40.000Z',
        '2026-11-27T10:00:50.000Z',
      ],
      fired: 0,
    });
  });

  it('generates an id, defaults to UTC and overlap skip, and sends JSON input as application/json', async () => {
    const r = await postJson(admin.port, '/schedules', {
      cron: '0 3 * * *',
      target: { service: 'Reports', handler: 'build' },
      input: { kind: 'daily' },
    });
    expect(r.status).toBe(201);
    expect(r.json.id).toMatch(/^sch_[0-9a-f]{20}$/);
    const def = (engine.ops[0].op as { definition: ScheduleDefinition }).definition;
    expect(def).toMatchObject({ timeZone: 'UTC', overlap: 'skip', contentType: 'application/json' });
    expect(new TextDecoder().decode(def.input)).toBe('{"kind":"daily"}');
    expect(def.target).toEqual({ service: 'Reports', handler: 'build', serviceType: 'SERVICE' });
    expect(engine.ops[0].partitionKey).toBe(schedulePartitionKey({ id: r.json.id, target: {} as never }));
  });

  it('answers 400 with what to fix, before anything reaches the engine', async () => {
    const base = { cron: '0 3 * * *', target: { service: 'Reports', handler: 'build' } };
    const cases: [unknown, RegExp][] = [
      [{ ...base, cron: undefined }, /'cron' is required/],
      [{ ...base, cron: '0 3 * * * * *' }, /has 7 fields/],
      [{ ...base, timeZone: 'Europe/Atlantis' }, /unknown time zone/],
      [{ ...base, target: { service: 'Nope', handler: 'build' } }, /unknown service 'Nope'/],
      [{ ...base, target: { service: 'Reports', handler: 'nope' } }, /has no handler 'nope'/],
      [{ ...base, target: { service: 'Counter', handler: 'add' } }, /virtual object: give target.key/],
      [{ ...base, target: { service: 'Reports', handler: 'build', key: 'x' } }, /takes no target.key/],
      [{ ...base, target: { service: 'Signup', handler: 'run', key: 'x' } }, /is a workflow/],
      [{ ...base, overlap: 'never' }, /'overlap' must be one of skip, queue, allow/],
      [{ ...base, id: 'a/b' }, /schedule id 'a\/b' must be/],
      [{ ...base, input: 1, inputBase64: 'AQ==' }, /not both/],
      [{ ...base, inputBase64: '***' }, /not base64/],
      [[1, 2], /expected a JSON object/],
    ];
    for (const [body, message] of cases) {
      const r = await postJson(admin.port, '/schedules', body);
      expect([r.status, r.json.message]).toEqual([400, expect.stringMatching(message)]);
    }
    const notJson = await request(admin.port, { method: 'POST', path: '/schedules', body: 'cron=x' });
    expect(notJson.status).toBe(415);
    expect(engine.ops).toEqual([]);
  });

  it('answers 200 to the same create again, 409 to the id with a target in another partition', async () => {
    const body = { id: 'n', cron: '0 3 * * *', target: { service: 'Counter', handler: 'add', key: 'a' } };
    expect((await postJson(admin.port, '/schedules', body)).status).toBe(201);
    expect((await postJson(admin.port, '/schedules', body)).status).toBe(200);
    const moved = await postJson(admin.port, '/schedules', { ...body, target: { ...body.target, key: 'b' } });
    expect([moved.status, moved.json.message]).toEqual([409, expect.stringMatching(/exists with a different target/)]);
    expect(engine.ops).toHaveLength(2);
  });

  it('creates of one id racing with targets in two partitions: one is created, the other is 409', async () => {
    const body = (key: string) => ({
      id: 'race',
      cron: '0 3 * * *',
      target: { service: 'Counter', handler: 'add', key },
    });
    engine.delayMs = 100; // both requests are in flight before either create lands
    const answers = await Promise.all([
      postJson(admin.port, '/schedules', body('a')),
      postJson(admin.port, '/schedules', body('b')),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    expect([...engine.rows.values()].filter((r) => r.id === 'race')).toHaveLength(1);
  });

  it('lists, gets, pauses, resumes and deletes by id in the partition that holds it; unknown ids are 404', async () => {
    await postJson(admin.port, '/schedules', {
      id: 'b',
      cron: '0 3 * * *',
      target: { service: 'Reports', handler: 'build' },
    });
    await postJson(admin.port, '/schedules', {
      id: 'a',
      cron: '0 4 * * *',
      target: { service: 'Reports', handler: 'build' },
    });
    const list = await request(admin.port, { path: '/schedules' });
    expect(list.json.schedules.map((s: { id: string }) => s.id)).toEqual(['a', 'b']);
    const paused = await request(admin.port, { method: 'PATCH', path: '/schedules/a/pause' });
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({ id: 'a', paused: true, nextFireTimes: [] });
    expect(engine.ops.at(-1)).toEqual({
      partitionKey: engine.row('a')?.partition_key,
      op: { op: 'pause', id: 'a' },
    });
    expect((await request(admin.port, { method: 'PATCH', path: '/schedules/a/resume' })).json.paused).toBe(false);
    expect((await request(admin.port, { path: '/schedules/b' })).json.nextFireTimes[0]).toBe(
      '2026-11-28T03:00:00.000Z',
    );
    expect((await request(admin.port, { method: 'DELETE', path: '/schedules/a' })).status).toBe(204);
    for (const [method, path] of [
      ['GET', '/schedules/a'],
      ['PATCH', '/schedules/a/pause'],
      ['PATCH', '/schedules/zz/resume'],
      ['DELETE', '/schedules/a'],
    ]) {
      const r = await request(admin.port, { method, path });
      expect([method, path, r.status, r.json.message]).toEqual([method, path, 404, expect.stringMatching(/not found/)]);
    }
  });
});
