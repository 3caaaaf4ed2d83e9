/**
 * Crash safety: kill -9 of the server (during sleeps and during a chain of steps) and of the SDK process
 * (during a sleep); after restarts every acknowledged invocation completes, exactly once in effect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, TOPOLOGY, waitFor } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

describe('kill -9', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let svc: ServiceProcess;
  let dir: string;

  beforeAll(async () => {
    dir = cleanup.tempDir('stead-faults-');
    server = await startStead(cleanup);
    svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
  });
  afterAll(() => cleanup.run());

  /** A one-way send with an idempotency key (its result stays retrievable); resolves once durable. */
  async function send(handler: string, body: unknown, key: string): Promise<string> {
    const res = await fetch(`${server.ingressUrl}/Test/${handler}/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { invocationId: string }).invocationId;
  }

  async function attach(id: string): Promise<unknown> {
    const res = await fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`, {
      signal: AbortSignal.timeout(30_000),
    });
    expect(res.status).toBe(200);
    return res.json();
  }

  it('loses no sleeping invocation when the server is killed during the sleeps', async () => {
    const files = Array.from({ length: 6 }, (_, i) => join(dir, `sleep-${i}`));
    const ids = await Promise.all(files.map((file, i) => send('sleep', { ms: 2500, file }, `sleep-${i}`)));
    await waitFor(() => files.every((f) => lines(f).includes('before')), { what: 'every handler to start sleeping' });
    await server.kill9();
    await server.start();
    for (const id of ids) expect(await attach(id)).toBe('slept');
    for (const f of files) {
      expect(lines(f).filter((l) => l === 'after')).toHaveLength(1);
      expect(lines(f).filter((l) => l === 'before').length).toBeGreaterThanOrEqual(1);
    }
  });

  it('re-runs no completed step when the server is killed during a chain of steps', async () => {
    const file = join(dir, 'chain');
    const id = await send('steps', { n: 20, file, stepMs: 60 }, 'chain-1');
    await waitFor(() => lines(file).length >= 6, { what: 'a few steps to run' });
    await server.kill9();
    // The steps that had started by the kill; all but the last had completed (the SDK starts a step only once
    // the previous one's result is durable).
    const startedBeforeKill = lines(file).length;
    await server.start();
    expect(await attach(id)).toBe((19 * 20) / 2);
    const steps = lines(file).map((l) => Number(l.split(' ')[1]));
    // Every step ran, in order, and no step completed before the kill ran again.
    expect([...new Set(steps)]).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    for (let step = 0; step < startedBeforeKill - 1; step++) expect(steps.filter((s) => s === step)).toHaveLength(1);
    // Steps in flight when their attempt ended may run again: the one at the kill and, in a cluster, one at each
    // move of the partition's leadership while the restarted workers settle who leads what.
    expect(steps.length - 20).toBeLessThanOrEqual(TOPOLOGY === 'single' ? 1 : 3);
  });

  it('finishes a sleeping invocation after the SDK process is killed and restarted', async () => {
    const file = join(dir, 'sdk-kill');
    const id = await send('sleep', { ms: 1500, file }, 'sdk-kill');
    await waitFor(() => lines(file).includes('before'), { what: 'the handler to start sleeping' });
    await svc.kill9();
    await svc.start();
    expect(await attach(id)).toBe('slept');
    expect(lines(file).filter((l) => l === 'after')).toHaveLength(1);
  });

  it('answers an idempotent re-submission from the stored result without running again', async () => {
    const file = join(dir, 'idem');
    const first = await send('steps', { n: 2, file }, 'idem-1');
    expect(await attach(first)).toBe(1);
    const res = await fetch(`${server.ingressUrl}/Test/steps/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'idem-1' },
      body: JSON.stringify({ n: 2, file }),
    });
    expect(await res.json()).toMatchObject({ invocationId: first, status: 'PreviouslyAccepted' });
    expect(lines(file)).toEqual(['step 0', 'step 1']);
  });
});
