/**
 * Issue 10 end to end: no unbounded queue in the engine. A real Stead (the one-process server, or a 3-worker
 * cluster), a real SDK service process: the invoker of each process that leads partitions runs at most
 * --max-concurrent-invocations attempts (the rest wait in a FIFO), and a partition whose log is behind refuses new
 * ingress requests with 503 + Retry-After.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, waitFor } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

/** The value of a metric at one metrics endpoint (labels ignored), or undefined when absent. */
async function metric(metricsUrl: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Running and waiting invocations of the invoker of each process that runs partitions. */
async function invokers(server: SteadUnderTest): Promise<{ running: number; waiting: number }[]> {
  return Promise.all(
    server.metricsUrls.map(async (url) => ({
      running: (await metric(url, 'stead_invoker_running_invocations')) ?? 0,
      waiting: (await metric(url, 'stead_invoker_waiting_invocations')) ?? 0,
    })),
  );
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Most "start i" lines not yet followed by their "end i", over the whole file. */
function maxConcurrent(log: string[]): number {
  let now = 0;
  let max = 0;
  for (const l of log) {
    now += l.startsWith('start ') ? 1 : -1;
    max = Math.max(max, now);
  }
  return max;
}

describe('admission and invoker concurrency', () => {
  const cleanup = new Cleanup();
  let svc: ServiceProcess;
  let dir: string;

  beforeAll(async () => {
    dir = cleanup.tempDir('stead-admission-');
    svc = await ServiceProcess.start(cleanup, SERVICES);
  });
  afterAll(() => cleanup.run());

  const post = (server: SteadUnderTest, path: string, body: unknown) =>
    fetch(`${server.ingressUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });

  it('runs at most 2 of 10 blocking invocations at once per invoker, queues the rest, and completes them all', async () => {
    const server = await startStead(cleanup, ['--max-concurrent-invocations', '2']);
    await server.register(svc.uri);
    const file = join(dir, 'gate');
    const release = join(dir, 'release');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await post(server, '/Gate/hold/send', { file, release, i });
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { invocationId: string }).invocationId);
    }
    // One process: 2 running, 8 waiting. A cluster: each leader's invoker runs at most 2 of those it got (the
    // invocations spread over the partitions, and so over the leaders).
    const atStart = await waitFor(
      async () => {
        const now = await invokers(server);
        const full = now.every((w) => w.running === Math.min(2, w.running + w.waiting));
        return full && sum(now.map((w) => w.running + w.waiting)) === 10 ? now : undefined;
      },
      { what: 'every invoker to run at most 2 invocations and queue the rest' },
    );
    const running = sum(atStart.map((w) => w.running));
    const waiting = sum(atStart.map((w) => w.waiting));
    if (server.topology === 'single') expect([running, waiting]).toEqual([2, 8]);
    expect(waiting).toBeGreaterThanOrEqual(10 - 2 * server.metricsUrls.length);
    await waitFor(() => lines(file).length === running, { what: `${running} handlers to start` });
    const started = lines(file).map((l) => Number(l.split(' ')[1]));
    // A waiting invocation that is killed leaves the queue and never runs.
    const victim = [...ids.keys()].find((i) => !started.includes(i))!;
    expect((await fetch(`${server.adminUrl}/invocations/${ids[victim]}/kill`, { method: 'PATCH' })).status).toBe(200);
    await waitFor(async () => sum((await invokers(server)).map((w) => w.waiting)) === waiting - 1, {
      what: 'the killed invocation to leave the queue',
    });
    expect(lines(file)).toHaveLength(running);

    writeFileSync(release, '');
    for (const [i, id] of ids.entries()) {
      const res = await fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`, {
        signal: AbortSignal.timeout(30_000),
      });
      if (i === victim) {
        expect(res.status).toBe(409);
        continue;
      }
      expect(res.status).toBe(200);
      expect(await res.json()).toBe(i);
    }
    const log = lines(file);
    expect(log.filter((l) => l.startsWith('start ')).sort()).toEqual(
      [...ids.keys()].filter((i) => i !== victim).map((i) => `start ${i}`),
    );
    expect(maxConcurrent(log)).toBe(running);
    expect(await invokers(server)).toEqual(server.metricsUrls.map(() => ({ running: 0, waiting: 0 })));
    await server.stop();
  });

  it('refuses sends to an overloaded partition with 503 + Retry-After, runs every accepted one and no refused one', async () => {
    const server = await startStead(cleanup, ['--max-partition-backlog', '1']);
    await server.register(svc.uri);
    const accepted: { tag: string; id: string }[] = [];
    let refused = 0;
    // Concurrent sends to one object key: one partition, whose log is behind while appends are in flight.
    for (let burst = 0; burst < 5 && (refused === 0 || accepted.length === 0); burst++) {
      const tags = Array.from({ length: 40 }, (_, i) => `b${burst}-${i}`);
      const answers = await Promise.all(tags.map((tag) => post(server, '/Tally/k/add/send', tag)));
      for (const [i, res] of answers.entries()) {
        if (res.status === 202) {
          accepted.push({ tag: tags[i], id: ((await res.json()) as { invocationId: string }).invocationId });
          continue;
        }
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('1');
        expect(res.headers.get('x-restate-error-source')).toBe('ingress');
        const body = (await res.json()) as { code: number; message: string };
        expect(body.code).toBe(503);
        expect(body.message).toMatch(/overloaded/);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(accepted.length).toBeGreaterThan(0);

    // Every accepted send runs; nothing refused does (a refused request was never appended).
    const list = await waitFor(
      async () => {
        const res = await post(server, '/Tally/k/list', null);
        if (res.status !== 200) return undefined; // 503 while the partition is still busy
        const tags = (await res.json()) as string[];
        return tags.length >= accepted.length ? tags : undefined;
      },
      { timeoutMs: 30_000, what: 'every accepted send to run' },
    );
    expect([...list].sort()).toEqual(accepted.map((a) => a.tag).sort());
    for (const a of accepted) {
      const res = await waitFor(
        async () => {
          const r = await fetch(`${server.ingressUrl}/restate/invocation/${a.id}/output`);
          return r.status === 503 ? undefined : r;
        },
        { what: `the output of ${a.id}` },
      );
      expect(res.status).toBe(200);
    }
    expect(await server.metric('stead_ingress_refused_requests')).toBeGreaterThanOrEqual(refused);
    await server.stop();
  });
});
