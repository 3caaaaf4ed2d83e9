/**
 * Issue 9: no handler can stop a node. An SDK handler that attaches to (or cancels, or resolves) a malformed
 * id makes the SDK send a command the server cannot act on; the invoker refuses it before it reaches the
 * log, the invocation fails with a protocol violation (571), and the server keeps serving, also after a
 * restart on the same data directory.
 */
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, TOPOLOGY } from '@stead/testing';

const SERVICES = new URL('../services/hostile.ts', import.meta.url).pathname;

// What is under test is the invoker's check of the ids a handler sends: it refuses the command before anything
// reaches the log, with the same code in a worker as in the one-process server, so the topology changes nothing
// here. The suite runs in the single-topology run of the e2e suites; the cluster run (STEAD_E2E_TOPOLOGY=cluster)
// skips it rather than run it twice (workers restarted on their data keep what they stored: restart-safety and
// retention check that in the cluster run).
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

describeHere('handlers that send malformed ids', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;

  beforeAll(async () => {
    server = await startStead(cleanup);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
  });
  afterAll(() => cleanup.run());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.ingressUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });

  /** Sends with an idempotency key (the result is kept), then attaches to the result. */
  async function run(path: string, body: unknown, key: string) {
    const sent = await post(`${path}/send`, body, { 'idempotency-key': key });
    expect(sent.status).toBe(202);
    const { invocationId } = (await sent.json()) as { invocationId: string };
    const res = await fetch(`${server.ingressUrl}/restate/invocation/${invocationId}/attach`, {
      signal: AbortSignal.timeout(20_000),
    });
    return { invocationId, status: res.status, body: (await res.json()) as any };
  }

  const alive = async () => {
    expect(server.running()).toBe(true);
    expect(await server.healthy()).toBe(true);
    const res = await post('/Hostile/echo', 'still here');
    expect(res.status).toBe(200);
    expect(await res.json()).toBe('still here');
  };

  const failed: { invocationId: string; message: string }[] = [];

  it.each([
    ['ctx.attach', '/Hostile/attach', 'inv_1notreallyanid', /invocation_id 'inv_1notreallyanid' is not a valid/],
    ['ctx.invocation(id).attach', '/Hostile/attachRef', 'inv_1notreallyanid', /is not a valid invocation id/],
    ['ctx.invocation(id).cancel', '/Hostile/cancel', 'inv_1notreallyanid', /target_invocation_id .* not a valid/],
    ['ctx.resolveAwakeable', '/Hostile/resolve', 'sign_1notreallyanid', /awakeable_id .* not a valid awakeable id/],
  ])('%s with a malformed id fails the invocation with 571', async (_name, path, id, message) => {
    const r = await run(path, id, `${path}-${id}`);
    expect(r.body.code).toBe(571);
    expect(r.body.message).toMatch(/protocol violation/);
    expect(r.body.message).toMatch(message);
    failed.push({ invocationId: r.invocationId, message: r.body.message });
    await alive();
  });

  it('restarts on the same data directory, keeping the failures', async () => {
    expect(failed.length).toBe(4);
    await server.restart();
    await alive();
    for (const f of failed) {
      const res = await fetch(`${server.ingressUrl}/restate/invocation/${f.invocationId}/output`);
      const body = (await res.json()) as any;
      expect(body).toEqual(expect.objectContaining({ code: 571, message: f.message }));
    }
  });
});
