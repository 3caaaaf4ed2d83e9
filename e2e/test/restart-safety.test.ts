/**
 * Restarts that used to lose or stall work: a restart with the wall clock moved back (leader epochs came from
 * the clock), and a restart with another partition count (keys would be routed away from their state). In a
 * cluster the clock moves back on every worker (they lead the partitions), and the partition count is the admin's
 * setting, and an admin started with another count than the cluster was created with refuses to start.
 */
import { existsSync } from 'node:fs';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
/** Debian's libfaketime (installed by .ci/run). */
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

async function post(server: SteadUnderTest, path: string, body: unknown): Promise<Response> {
  return fetch(`${server.ingressUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
}

async function addToCounter(server: SteadUnderTest, key: string, n: number): Promise<number> {
  const res = await post(server, `/Counter/${key}/add`, n);
  expect(res.status).toBe(200);
  return (await res.json()) as number;
}

/** Year-month-day of the `time` field of the last JSON log line of the (last) process that runs partitions. */
function loggedDay(server: SteadUnderTest): string {
  const lines = server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  return (JSON.parse(lines.at(-1)!) as { time: string }).time.slice(0, 10);
}

describe('restart safety', () => {
  const cleanup = new Cleanup();
  let svc: ServiceProcess;

  beforeAll(async () => {
    svc = await ServiceProcess.start(cleanup, SERVICES);
  });
  afterAll(() => cleanup.run());

  it('serves after a restart with the wall clock moved back a day', async () => {
    expect(existsSync(LIBFAKETIME)).toBe(true); // apt-get install faketime
    const server = await startStead(cleanup);
    await server.register(svc.uri);
    expect(await addToCounter(server, 'clock', 1)).toBe(1);
    const today = loggedDay(server);

    await server.restart({ env: { LD_PRELOAD: LIBFAKETIME, FAKETIME: '-1d', FAKETIME_DONT_FAKE_MONOTONIC: '1' } });
    expect(loggedDay(server) < today).toBe(true); // the clock really is a day behind
    // Steps, a call and state all go through effects appended by the new leader.
    expect(await addToCounter(server, 'clock', 2)).toBe(3);
    const steps = await post(server, '/Test/chain', 3);
    expect(steps.status).toBe(200);
    expect(await steps.json()).toBe(3);

    // And forward again.
    await server.restart({ env: {} });
    expect(await addToCounter(server, 'clock', 4)).toBe(7);
    await server.stop();
  });

  it('refuses to start with another partition count than the data dir was created with', async () => {
    const stead = await startStead(cleanup, ['--partitions', '4']);
    await stead.register(svc.uri);
    expect(await addToCounter(stead, 'count', 5)).toBe(5);
    const server = stead.server;
    if (server) {
      await server.stop();
      server.extraArgs = ['--partitions', '8'];
      await expect(server.start()).rejects.toThrow(/exited during start/);
      expect(await server.proc!.exited).toBe(1);
      expect(server.proc!.output()).toMatch(/created with 4 partitions, and this start asks for 8/);
      server.extraArgs = ['--partitions', '4'];
      await server.start();
    } else {
      // A cluster: the partition count is the admin's setting (its controller writes the partition table).
      const cluster = stead.cluster!;
      await cluster.stop('admin1');
      await expect(cluster.restart('admin1', { flags: ['--partitions=8'] })).rejects.toThrow(/exited during start/);
      expect(cluster.output('admin1')).toMatch(/created with 4 partitions, and this start asks for 8/);
      await cluster.restart('admin1', { flags: ['--partitions=4'] });
    }
    expect(await addToCounter(stead, 'count', 1)).toBe(6);
    await stead.stop();
  });
});
