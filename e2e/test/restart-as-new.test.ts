/**
 * Issue 18: `PATCH /invocations/{id}/restart-as-new?from=N&deployment=...` with the official SDK. The new
 * invocation replays the steps of the copied journal prefix (their side effects do not run again) and runs the
 * rest. In a cluster (STEAD_E2E_TOPOLOGY=cluster) the admin forwards it to the worker leading the partition.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, waitFor } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

describe('restart-as-new from a journal prefix', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let dir: string;
  let v1: string;

  beforeAll(async () => {
    dir = cleanup.tempDir('stead-restart-');
    server = await startStead(cleanup);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    v1 = ((await server.register(svc.uri)) as { id: string }).id;
  });
  afterAll(() => cleanup.run());

  const json = async (res: Response | Promise<Response>) => (await res).json() as Promise<any>;
  const admin = (path: string, method = 'PATCH') =>
    fetch(`${server.adminUrl}${path}`, { method, signal: AbortSignal.timeout(30_000) });
  const sendId = async (path: string, body: unknown, key: string) => {
    const res = await fetch(`${server.ingressUrl}${path}/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    return (await json(res)).invocationId as string;
  };
  const attach = (id: string) => json(fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`));
  /** The journal index of the first entry of `type` after `after` (Stead's GET /invocations/{id}). */
  const indexOf = async (id: string, type: string, after = 0) => {
    const d = await json(admin(`/invocations/${id}`, 'GET'));
    return (d.journal as { index: number; entry_type: string }[]).find((e) => e.index > after && e.entry_type === type)
      ?.index as number;
  };

  it('replays the steps of the copied prefix and runs only the rest', async () => {
    const file = join(dir, 'steps');
    const id = await sendId('/Test/steps', { n: 4, file }, 'prefix');
    expect(await attach(id)).toBe(0 + 1 + 2 + 3);
    expect(lines(file)).toEqual(['step 0', 'step 1', 'step 2', 'step 3']);

    // Up to the second step's run command included: its result (a later entry) comes along.
    const firstRun = await indexOf(id, 'Command: Run');
    const secondRun = await indexOf(id, 'Command: Run', firstRun);
    expect(secondRun).toBeGreaterThan(firstRun);
    const res = await admin(`/invocations/${id}/restart-as-new?from=${secondRun}&deployment=latest`);
    expect(res.status).toBe(200);
    const { new_invocation_id: fresh } = await json(res);
    expect(fresh).not.toBe(id);
    expect(await attach(fresh)).toBe(6);
    // Steps 0 and 1 were replayed from the copied journal, steps 2 and 3 ran again.
    expect(lines(file)).toEqual(['step 0', 'step 1', 'step 2', 'step 3', 'step 2', 'step 3']);

    // Restate's spelling `Keep`: the deployment the old invocation was pinned to.
    const kept = await admin(`/invocations/${id}/restart-as-new?from=${firstRun}&deployment=Keep`);
    expect(kept.status).toBe(200);
    expect(await attach((await json(kept)).new_invocation_id)).toBe(6);
    expect(lines(file).slice(6)).toEqual(['step 1', 'step 2', 'step 3']);
  });

  it('refuses what cannot be restarted from a prefix, saying why', async () => {
    const file = join(dir, 'refused');
    const id = await sendId('/Test/steps', { n: 1, file }, 'refused');
    await attach(id);
    const past = await admin(`/invocations/${id}/restart-as-new?from=99`);
    expect(past.status).toBe(400);
    expect((await json(past)).message).toMatch(/from=99 is past the end of the journal/);
    const alone = await admin(`/invocations/${id}/restart-as-new?deployment=keep`);
    expect(alone.status).toBe(400);
    expect((await json(alone)).message).toMatch(/only together with 'from'/);
    const unknown = await admin(`/invocations/${id}/restart-as-new?from=1&deployment=dp_11111111111111111111111`);
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).message).toMatch(/deployment 'dp_11111111111111111111111' not found/);
    expect((await admin(`/invocations/${id}/restart-as-new?from=x`)).status).toBe(400);

    // Killed while sleeping: the sleep never completed, so a prefix holding it cannot be replayed.
    const sleepyFile = join(dir, 'sleepy');
    const sleeping = await sendId('/Waiter/sleepy', { ms: 60_000, file: sleepyFile }, 'killed');
    await waitFor(() => lines(sleepyFile).includes('started'), { what: 'sleepy to start' });
    await waitFor(async () => (await indexOf(sleeping, 'Command: Sleep')) !== undefined, { what: 'the sleep command' });
    expect((await admin(`/invocations/${sleeping}/kill`)).status).toBe(200);
    const sleep = await indexOf(sleeping, 'Command: Sleep');
    const stuck = await admin(`/invocations/${sleeping}/restart-as-new?from=${sleep}`);
    expect(stuck.status).toBe(409);
    expect((await json(stuck)).message).toMatch(new RegExp(`journal entry ${sleep} .*has not been completed`));
  });

  it('runs the restarted invocation on the deployment named by its id', async () => {
    const file = join(dir, 'named');
    const id = await sendId('/Test/steps', { n: 2, file }, 'named');
    expect(await attach(id)).toBe(1);
    const v2svc = await ServiceProcess.start(cleanup, SERVICES, { SERVICE_VERSION: 'v2' });
    const v2 = ((await server.register(v2svc.uri)) as { id: string }).id;
    expect(v2).not.toBe(v1);
    const firstRun = await indexOf(id, 'Command: Run');
    // In a cluster the workers learn of v2 a moment after its registration: until then its id is unknown (404).
    let fresh = '';
    await waitFor(
      async () => {
        const res = await admin(`/invocations/${id}/restart-as-new?from=${firstRun}&deployment=${v2}`);
        if (res.status === 200) fresh = (await json(res)).new_invocation_id;
        else expect(res.status).toBe(404);
        return res.status === 200;
      },
      { what: 'a restart on v2' },
    );
    expect(await attach(fresh)).toBe(1);
    expect((await json(admin(`/invocations/${fresh}`, 'GET'))).deployment_id).toBe(v2);
    const kept = await json(admin(`/invocations/${id}/restart-as-new?from=${firstRun}&deployment=keep`));
    expect(await attach(kept.new_invocation_id)).toBe(1);
    expect((await json(admin(`/invocations/${kept.new_invocation_id}`, 'GET'))).deployment_id).toBe(v1);
    expect(lines(file)).toEqual(['step 0', 'step 1', 'step 1', 'step 1']);
  });
});
