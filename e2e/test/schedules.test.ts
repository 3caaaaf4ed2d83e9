/**
 * Durable cron schedules (beyond Restate) against a real server or cluster and the official SDK: a schedule that
 * ticks every second fires each tick exactly once across kill -9 of the server (one process) or of the worker
 * leading the schedule's partition (cluster). Ticks missed while nothing could run them are counted as skipped
 * (the latest fires late), and fired + skipped covers every tick from the first to the last without a gap.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { partitionOf, schedulePartitionKey } from '@stead/core';
import {
  Cleanup,
  NODE,
  REPO,
  ServiceProcess,
  type SteadUnderTest,
  startStead,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';

const SERVICES = new URL('../services/schedules.ts', import.meta.url).pathname;
const CLI = join(REPO, 'apps/cli/src/main.ts');
const PARTITIONS = 4;
/** How long the one-process server stays down. */
const DOWN_MS = 2500;

interface ScheduleView {
  id: string;
  paused: boolean;
  nextFireTimes: string[];
  lastTick?: string;
  lastInvocationId?: string;
  createdAt: string;
  fired: number;
  skipped: number;
  late: number;
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

describe('cron schedules', () => {
  const cleanup = new Cleanup();
  let stead: SteadUnderTest;
  let dir: string;

  beforeAll(async () => {
    dir = cleanup.tempDir('stead-schedules-');
    stead = await startStead(cleanup, [`--partitions=${PARTITIONS}`]);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await stead.register(svc.uri);
  }, 120_000);
  afterAll(() => cleanup.run());

  async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${stead.adminUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  const get = async (id: string) => {
    const r = await admin('GET', `/schedules/${id}`);
    if (r.status !== 200) throw new Error(`GET /schedules/${id} answered ${r.status}: ${JSON.stringify(r.json)}`);
    return r.json as ScheduleView;
  };

  /** Ticks recorded by the handler: tick -> the distinct invocation ids that ran for it. */
  function recorded(file: string): Map<string, Set<string>> {
    const byTick = new Map<string, Set<string>>();
    for (const l of lines(file)) {
      const [tick, invocationId, key] = l.split(' ');
      expect(key).toBe(`schedule/every-second/${tick}`);
      byTick.set(tick, (byTick.get(tick) ?? new Set()).add(invocationId));
    }
    return byTick;
  }

  /** The worker leading `partition`, as the admin's partition table says. */
  async function leaderOf(partition: number): Promise<string | undefined> {
    const status = (await (await fetch(`${stead.adminUrl}/cluster`)).json()) as {
      partition_table: { placements: { partition: number; leader?: string }[] };
    };
    return status.partition_table.placements.find((p) => p.partition === partition)?.leader;
  }

  /** kill -9 of the server, or of the worker leading the schedule's partition, then back up. */
  async function crash(id: string): Promise<void> {
    if (TOPOLOGY === 'single') {
      await stead.kill9();
      // Down for a few ticks: they are missed, and must be counted, not lost and not fired twice.
      const killedAt = Date.now();
      await waitFor(() => Date.now() >= killedAt + DOWN_MS, { timeoutMs: DOWN_MS + 1000, what: 'the downtime' });
      await stead.start();
      return;
    }
    const partition = partitionOf(
      schedulePartitionKey({ id, target: { service: 'Ticks', handler: 'record', serviceType: 'SERVICE' } }),
      PARTITIONS,
    );
    const leader = await leaderOf(partition);
    expect(leader).toBeDefined();
    const cluster = stead.cluster!;
    await cluster.kill(leader as string);
    // Another worker takes the partition over (the ticks after the crash are its), then the victim comes back.
    await waitFor(async () => (await leaderOf(partition)) !== leader, { timeoutMs: 60_000, what: 'a new leader' });
    await cluster.restart(leader as string);
  }

  it('fires every tick exactly once across kill -9, counting the ticks missed meanwhile as skipped', async () => {
    const file = join(dir, 'ticks');
    const created = await admin('POST', '/schedules', {
      id: 'every-second',
      cron: '* * * * * *',
      timeZone: 'Europe/Berlin',
      target: { service: 'Ticks', handler: 'record' },
      input: { file },
      // allow: every tick due starts, so that the skipped ones are exactly those missed while nothing ran them.
      overlap: 'allow',
    });
    expect(created.status).toBe(201);
    const view = created.json as ScheduleView;
    expect(view.nextFireTimes).toHaveLength(5);
    expect(Date.parse(view.nextFireTimes[1]) - Date.parse(view.nextFireTimes[0])).toBe(1000);

    await waitFor(() => recorded(file).size >= 3, { timeoutMs: 30_000, what: 'three ticks before the crash' });
    await crash('every-second');
    const afterCrash = recorded(file).size;
    await waitFor(() => recorded(file).size >= afterCrash + 3, {
      timeoutMs: 60_000,
      what: 'three ticks after the crash',
    });

    const paused = await admin('PATCH', '/schedules/every-second/pause');
    expect(paused.status).toBe(200);
    expect((paused.json as ScheduleView).paused).toBe(true);
    // Every started tick's invocation has run once its line is there; the counters stop with the pause.
    const final = await waitFor(
      async () => {
        const s = await get('every-second');
        const ticks = recorded(file);
        if (ticks.size !== s.fired) throw new Error(`${ticks.size} ticks recorded, ${s.fired} fired`);
        return s;
      },
      { timeoutMs: 60_000, what: 'every fired tick to run' },
    );

    const ticks = recorded(file);
    // Exactly once: each tick ran as one invocation (a retried attempt repeats the same invocation id).
    for (const [tick, ids] of ticks) expect([tick, ids.size]).toEqual([tick, 1]);
    const invocationIds = [...ticks.values()].map((ids) => [...ids][0]);
    expect(new Set(invocationIds).size).toBe(invocationIds.length);
    // No gap: from the first tick after creation to the last one fired, every second either fired or is counted
    // as skipped; the crash made at least one tick late (the latest of those missed while down).
    const times = [...ticks.keys()].map(Date.parse).sort((a, b) => a - b);
    const first = Math.floor(Date.parse(final.createdAt) / 1000) * 1000 + 1000;
    expect(times[0]).toBeGreaterThanOrEqual(first);
    expect(times.at(-1)).toBe(Date.parse(final.lastTick as string));
    expect(times.every((t) => t % 1000 === 0)).toBe(true);
    expect(final.fired + final.skipped).toBe((times.at(-1)! - first) / 1000 + 1);
    // The seconds missing from the record are exactly the skipped ticks; after a gap the latest missed tick
    // fired late.
    const missing = (times.at(-1)! - first) / 1000 + 1 - times.length;
    expect(final.skipped).toBe(missing);
    // The one-process server was down for DOWN_MS: at least one tick was missed (a failover may miss none).
    expect(missing).toBeGreaterThanOrEqual(TOPOLOGY === 'single' ? 1 : 0);
    expect(final.late).toBeGreaterThanOrEqual(Math.min(1, missing));
    expect(final.nextFireTimes).toEqual([]);
    // The metrics report the schedule's durable counts (in a cluster, from the leader of its partition).
    for (const [name, value] of [
      ['stead_schedule_ticks_fired_total', final.fired],
      ['stead_schedule_ticks_skipped_total', final.skipped],
      ['stead_schedule_ticks_late_total', final.late],
    ] as const)
      await waitFor(async () => (await stead.metric(name)) === value, {
        timeoutMs: 30_000,
        what: `${name} = ${value}`,
      });

    // Paused: nothing fires; resumed: it ticks again from now, without firing what passed while paused.
    const pausedAt = Date.now();
    const resumed = await admin('PATCH', '/schedules/every-second/resume');
    expect(resumed.status).toBe(200);
    await waitFor(async () => (await get('every-second')).fired > final.fired, {
      timeoutMs: 30_000,
      what: 'a tick after resume',
    });
    const lastBeforePause = Date.parse(final.lastTick as string);
    const later = [...recorded(file).keys()].map(Date.parse);
    expect(later.filter((t) => t > lastBeforePause && t < pausedAt)).toEqual([]);

    expect((await admin('DELETE', '/schedules/every-second')).status).toBe(204);
    expect((await admin('GET', '/schedules/every-second')).status).toBe(404);
  }, 240_000);

  it('overlap: skip and queue never run two ticks at once; queue starts the waiting tick as the last one ends', async () => {
    const runs = (file: string) => {
      const at = new Map<string, { start?: number; end?: number }>();
      for (const l of lines(file)) {
        const [what, tick, ms] = l.split(' ');
        const r = at.get(tick) ?? {};
        r[what as 'start' | 'end'] = Number(ms);
        at.set(tick, r);
      }
      return [...at.values()].sort((a, b) => (a.start ?? 0) - (b.start ?? 0));
    };
    const files = { skip: join(dir, 'overlap-skip'), queue: join(dir, 'overlap-queue') };
    for (const overlap of ['skip', 'queue'] as const) {
      const r = await admin('POST', '/schedules', {
        id: `overlap-${overlap}`,
        cron: '* * * * * *',
        target: { service: 'Ticks', handler: 'slow' },
        // A tick takes 2.2 s, ticks come every second: they overlap.
        input: { file: files[overlap], ms: 2200 },
        overlap,
      });
      expect(r.status).toBe(201);
    }
    await waitFor(() => runs(files.skip).length >= 3 && runs(files.queue).length >= 3, {
      timeoutMs: 60_000,
      what: 'three runs of each',
    });
    for (const overlap of ['skip', 'queue'] as const) {
      expect((await admin('PATCH', `/schedules/overlap-${overlap}/pause`)).status).toBe(200);
    }
    // Every started tick has ended (a queued one was dropped by the pause).
    const final = await waitFor(
      async () => {
        const views = { skip: await get('overlap-skip'), queue: await get('overlap-queue') };
        for (const o of ['skip', 'queue'] as const) {
          const done = runs(files[o]).filter((r) => r.end !== undefined).length;
          if (done !== views[o].fired) return undefined;
        }
        return views;
      },
      { timeoutMs: 30_000, what: 'every started tick to end' },
    );
    for (const overlap of ['skip', 'queue'] as const) {
      const rs = runs(files[overlap]);
      for (let i = 1; i < rs.length; i++) expect(rs[i].start).toBeGreaterThanOrEqual(rs[i - 1].end as number);
      expect(final[overlap].skipped).toBeGreaterThanOrEqual(1);
    }
    // queue: the waiting tick starts in the step that ends the last one; skip waits for the next tick (~0.8 s).
    const q = runs(files.queue);
    const gaps = q.slice(1).map((r, i) => (r.start as number) - (q[i].end as number));
    expect(Math.min(...gaps)).toBeLessThan(400);
    for (const overlap of ['skip', 'queue'] as const)
      expect((await admin('DELETE', `/schedules/overlap-${overlap}`)).status).toBe(204);
  }, 120_000);

  it('refuses bad definitions with 400, unknown ids with 404 and a taken id with 409', async () => {
    const base = { cron: '0 3 * * *', target: { service: 'Ticks', handler: 'record' }, input: { file: '/dev/null' } };
    const bad = async (body: unknown, message: RegExp) => {
      const r = await admin('POST', '/schedules', body);
      expect([r.status, (r.json as { message: string }).message]).toEqual([400, expect.stringMatching(message)]);
    };
    await bad({ ...base, cron: '* * *' }, /3 fields/);
    await bad({ ...base, cron: '61 * * * *' }, /invalid cron expression/);
    await bad({ ...base, timeZone: 'Mars/Olympus' }, /unknown time zone 'Mars\/Olympus'/);
    await bad({ ...base, target: { service: 'Nope', handler: 'record' } }, /unknown service 'Nope'/);
    await bad({ ...base, target: { service: 'Ticks', handler: 'nope' } }, /no handler 'nope'/);
    await bad({ ...base, overlap: 'sometimes' }, /overlap/);

    const created = await admin('POST', '/schedules', { ...base, id: 'nightly', timeZone: 'America/New_York' });
    expect(created.status).toBe(201);
    // 03:00 New York time, in UTC: 08:00 in winter (EST), 07:00 in summer (EDT).
    for (const t of (created.json as ScheduleView).nextFireTimes) expect(t).toMatch(/T0[78]:00:00\.000Z$/);
    expect((await admin('POST', '/schedules', { ...base, id: 'nightly', timeZone: 'America/New_York' })).status).toBe(
      200,
    );
    const taken = await admin('POST', '/schedules', { ...base, id: 'nightly', cron: '0 4 * * *' });
    expect(taken.status).toBe(409);
    const listed = (await admin('GET', '/schedules')).json as { schedules: ScheduleView[] };
    expect(listed.schedules.map((s) => s.id)).toContain('nightly');
    expect((await admin('PATCH', '/schedules/nope/pause')).status).toBe(404);
    expect((await admin('DELETE', '/schedules/nope')).status).toBe(404);
    expect((await admin('DELETE', '/schedules/nightly')).status).toBe(204);
  });

  it('is driven by the stead CLI: create, list, pause, resume, delete', async () => {
    const cli = (...args: string[]): Promise<{ code: number; out: string; err: string }> =>
      new Promise((resolve) => {
        execFile(
          NODE,
          [CLI, 'schedules', ...args, '--address', stead.adminUrl],
          { timeout: 20_000 },
          (error, out, err) =>
            resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err }),
        );
      });
    const created = await cli(
      ...['create', '--id', 'cli-nightly', '--cron', '30 2 * * *', '--time-zone', 'Europe/Berlin'],
      ...['--service', 'Ticks', '--handler', 'record', '--input', '{"file":"/dev/null"}', '--overlap', 'queue'],
    );
    expect(created).toMatchObject({ code: 0, err: '' });
    expect(created.out).toMatch(/cron:\s+30 2 \* \* \* \(Europe\/Berlin\)/);
    expect(created.out).toMatch(/state:\s+active/);
    const list = await cli('list');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^ID\s+CRON\s+TIME ZONE\s+TARGET/);
    expect(list.out).toMatch(/cli-nightly\s+30 2 \* \* \*\s+Europe\/Berlin\s+Ticks\/record\s+queue\s+active/);
    expect((await cli('pause', 'cli-nightly')).out).toMatch(/state:\s+paused/);
    const json = await cli('get', 'cli-nightly', '--json');
    expect(JSON.parse(json.out)).toMatchObject({ id: 'cli-nightly', paused: true, nextFireTimes: [] });
    expect((await cli('resume', 'cli-nightly')).out).toMatch(/state:\s+active/);
    expect(await cli('delete', 'cli-nightly')).toMatchObject({ code: 0, out: 'deleted schedule cli-nightly\n' });
    const gone = await cli('get', 'cli-nightly');
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/answered 404 .*schedule 'cli-nightly' not found/);
    const bad = await cli('create', '--cron', '* *', '--service', 'Ticks', '--handler', 'record');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/answered 400 .*has 2 fields/);
  });
});
