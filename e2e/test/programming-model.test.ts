/**
 * Issue 3 end to end: virtual objects, workflows, awakeables, idempotency, attach/output, cancel, kill,
 * purge, deployment pinning, and kill -9 of the server (in a cluster: of every worker) in the middle of them.
 * The suite runs on service protocol v7 (the default) and, with STEAD_E2E_PROTOCOL=6, on v6 (as Restate 1.7
 * without its v7 flag): `service protocol` checks that the version asked for is the one negotiated.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, E2E_PROTOCOL, ServiceProcess, type SteadUnderTest, startStead, waitFor } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
/** The service protocol version this run negotiates (the SDK 1.17 endpoint offers 5 to 7). */
const PROTOCOL = E2E_PROTOCOL ?? 7;
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

describe('the Restate programming model on stead-server', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let svc: ServiceProcess;
  let dir: string;

  beforeAll(async () => {
    dir = cleanup.tempDir('stead-model-');
    server = await startStead(cleanup);
    svc = await ServiceProcess.start(cleanup, SERVICES);
    await server.register(svc.uri);
  });
  afterAll(() => cleanup.run());

  const post = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.ingressUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  const json = async (res: Response | Promise<Response>) => (await res).json() as Promise<any>;
  const admin = (path: string, method = 'PATCH') => fetch(`${server.adminUrl}${path}`, { method });
  const sendId = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await post(`${path}/send`, body, headers);
    expect(res.status).toBe(202);
    return (await json(res)).invocationId as string;
  };

  describe('virtual objects', () => {
    it('serializes 20 concurrent exclusive calls on one key', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => json(post('/Counter/serial/add', 1))));
      expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(await json(post('/Counter/serial/get'))).toBe(20);
      expect(await json(post('/Counter/other-key/get'))).toBe(0);
    });

    it('lets shared handlers read while an exclusive call is running', async () => {
      await json(post('/Counter/shared/add', 5));
      const slow = post('/Counter/shared/slowAdd', { n: 10, ms: 1500 });
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      expect(await json(post('/Counter/shared/get'))).toBe(5); // not blocked behind slowAdd
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await json(slow)).toBe(15);
      expect(await json(post('/Counter/shared/keys'))).toEqual(['v']);
      expect((await post('/Counter/shared/reset')).status).toBe(200);
      expect(await json(post('/Counter/shared/keys'))).toEqual([]);
    });
  });

  describe('workflows', () => {
    it('runs once per key, answers signals and queries, and keeps the result for attach/output', async () => {
      const file = join(dir, 'wf');
      const id = await sendId('/Signup/ada/run', { email: 'ada@x', file });
      await waitFor(async () => (await json(post('/Signup/ada/status'))) === 'waiting', { what: 'workflow to wait' });
      // A second submission of the same workflow key does not run it again.
      const again = await post('/Signup/ada/run/send', { email: 'other', file });
      expect((await json(again)).status).toBe('PreviouslyAccepted');
      const out1 = await fetch(`${server.ingressUrl}/restate/workflow/Signup/ada/output`);
      expect(out1.status).toBe(470);
      expect(await json(post('/Signup/ada/peek'))).toBeNull();
      await post('/Signup/ada/confirm', '1234');
      const attached = await fetch(`${server.ingressUrl}/restate/workflow/Signup/ada/attach`);
      expect(await attached.json()).toBe('ada@x:1234');
      expect(await json(fetch(`${server.ingressUrl}/restate/invocation/${id}/output`))).toBe('ada@x:1234');
      expect(await json(post('/Signup/ada/status'))).toBe('confirmed');
      expect(lines(file)).toEqual(['run']);
    });
  });

  describe('awakeables', () => {
    it('are resolved from outside and from another handler, with Restate id format', async () => {
      const f1 = join(dir, 'awk1');
      const f2 = join(dir, 'awk2');
      const a = post('/Waiter/wait', { file: f1 });
      const b = post('/Waiter/wait', { file: f2 });
      await waitFor(() => lines(f1).length === 1 && lines(f2).length === 1, { what: 'awakeable ids' });
      const [id1] = lines(f1);
      const [id2] = lines(f2);
      expect(id1).toMatch(/^sign_1[A-Za-z0-9_-]+$/);
      const r = await post(`/restate/awakeables/${id1}/resolve`, 'from outside');
      expect(r.status).toBe(202);
      expect(await json(a)).toBe('from outside');
      await post('/Waiter/resolve', { id: id2, value: 'from a handler' });
      expect(await json(b)).toBe('from a handler');
    });

    it('cannot complete a reserved signal (1 = cancel) through a crafted awakeable id', async () => {
      const file = join(dir, 'awk-reserved');
      const id = await sendId('/Waiter/wait', { file }, { 'idempotency-key': 'awk-reserved' });
      await waitFor(() => lines(file).length === 1, { what: 'the awakeable id' });
      const [awakeable] = lines(file);
      // sign_1 + base64url(24 invocation id bytes + u32 BE signal index): the SDK numbers awakeables from 17.
      const bytes = Buffer.from(awakeable.slice('sign_1'.length), 'base64url');
      expect(bytes.readUInt32BE(24)).toBe(17);
      bytes.writeUInt32BE(1, 24);
      const crafted = `sign_1${bytes.toString('base64url')}`;
      for (const op of ['resolve', 'reject']) {
        const res = await post(`/restate/awakeables/${crafted}/${op}`, 'x');
        expect(res.status).toBe(400);
        expect((await json(res)).message).toMatch(/signal 1 \(cancel\), which is reserved for built-in signals/);
      }
      // From a handler (ctx.resolveAwakeable) the crafted id is a protocol violation: that handler fails (571).
      const fromHandler = await post('/Waiter/resolve', { id: crafted, value: 'x' });
      expect(fromHandler.status).toBe(571);
      expect((await json(fromHandler)).message).toMatch(/reserved for built-in signals/);
      // The invocation was not cancelled: the real awakeable still completes it.
      expect((await post(`/restate/awakeables/${awakeable}/resolve`, 'real')).status).toBe(202);
      expect(await json(fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`))).toBe('real');
      expect(lines(file)).toEqual([awakeable]);
    });

    it('answer 400 for a malformed awakeable id and keep serving', async () => {
      const res = await post('/restate/awakeables/sign_1notbase64!/resolve', 'x');
      expect(res.status).toBe(400);
      expect((await json(res)).message).toMatch(/awakeable id/);
    });
  });

  describe('idempotency', () => {
    it('runs an idempotent call and an idempotent send once', async () => {
      const file = join(dir, 'idem-call');
      const h = { 'idempotency-key': 'k-call' };
      const first = await json(post('/Test/steps', { n: 3, file }, h));
      const second = await json(post('/Test/steps', { n: 3, file }, h));
      expect([first, second]).toEqual([3, 3]);
      expect(lines(file)).toHaveLength(3);
      const sendFile = join(dir, 'idem-send');
      const s1 = await post('/Test/steps/send', { n: 1, file: sendFile }, { 'idempotency-key': 'k-send' });
      const s2 = await post('/Test/steps/send', { n: 1, file: sendFile }, { 'idempotency-key': 'k-send' });
      const [b1, b2] = [await json(s1), await json(s2)];
      expect(b2.invocationId).toBe(b1.invocationId);
      expect(b2.status).toBe('PreviouslyAccepted');
      const att = await fetch(`${server.ingressUrl}/restate/invocation/Test/steps/k-send/attach`);
      expect(await att.json()).toBe(0);
      expect(lines(sendFile)).toEqual(['step 0']);
    });
  });

  describe('lifecycle through the admin API', () => {
    it('cancels a handler blocked in a sleep; it runs its compensation', async () => {
      const file = join(dir, 'cancel-sleep');
      const id = await sendId('/Waiter/sleepy', { ms: 60_000, file }, { 'idempotency-key': 'cs' });
      await waitFor(() => lines(file).includes('started'), { what: 'sleepy to start' });
      expect((await admin(`/invocations/${id}/cancel`)).status).toBe(200);
      const res = await fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`);
      expect(res.status).toBe(409);
      expect(lines(file)).toEqual(['started', 'compensated']);
    });

    it('cancels a handler blocked in a call; the callee is cancelled too', async () => {
      const file = join(dir, 'cancel-call');
      const childFile = join(dir, 'cancel-call-child');
      const id = await sendId('/Waiter/callSleepy', { ms: 60_000, file, childFile }, { 'idempotency-key': 'cc' });
      await waitFor(() => lines(childFile).includes('started'), { what: 'the callee to start' });
      expect((await admin(`/invocations/${id}/cancel`)).status).toBe(200);
      expect((await fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`)).status).toBe(409);
      await waitFor(() => lines(childFile).includes('compensated'), { what: 'the callee to be cancelled' });
      expect(lines(file)).toEqual(['started', 'compensated']);
    });

    it('cancels a handler blocked on an awakeable, also from another handler (ctx.cancel)', async () => {
      const file = join(dir, 'cancel-awk');
      const id = await sendId('/Waiter/wait', { file }, { 'idempotency-key': 'ca' });
      await waitFor(() => lines(file).length === 1, { what: 'the awakeable' });
      await post('/Waiter/cancel', id);
      expect((await fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`)).status).toBe(409);
      expect(lines(file)[1]).toBe('compensated');
    });

    it('kills an invocation without compensation; purge forgets a completed one', async () => {
      const file = join(dir, 'kill');
      const id = await sendId('/Waiter/sleepy', { ms: 60_000, file }, { 'idempotency-key': 'kill' });
      await waitFor(() => lines(file).includes('started'), { what: 'sleepy to start' });
      expect((await admin(`/invocations/${id}/kill`)).status).toBe(200);
      const res = await fetch(`${server.ingressUrl}/restate/invocation/${id}/output`);
      expect(res.status).toBe(409);
      expect((await json(res)).message).toMatch(/killed/);
      expect(lines(file)).toEqual(['started']);
      expect((await admin(`/invocations/${id}/kill`)).status).toBe(409); // already completed
      expect((await admin(`/invocations/${id}/purge`)).status).toBe(200);
      expect((await fetch(`${server.ingressUrl}/restate/invocation/${id}/output`)).status).toBe(404);
      expect((await admin('/invocations/inv_1nonsense/cancel')).status).toBe(400);
    });

    it('restarts a completed invocation as a new one with the same input', async () => {
      const file = join(dir, 'restart');
      const id = await sendId('/Test/steps', { n: 2, file }, { 'idempotency-key': 'restart' });
      expect(await json(fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`))).toBe(1);
      const res = await admin(`/invocations/${id}/restart-as-new`);
      expect(res.status).toBe(200);
      const { new_invocation_id: fresh } = await json(res);
      expect(fresh).toMatch(/^inv_1/);
      expect(fresh).not.toBe(id);
      expect(await json(fetch(`${server.ingressUrl}/restate/invocation/${fresh}/attach`))).toBe(1);
      expect(lines(file)).toEqual(['step 0', 'step 1', 'step 0', 'step 1']);
      // The original keeps its result; a running invocation, an unknown one and a prefix past the journal are refused.
      expect(await json(fetch(`${server.ingressUrl}/restate/invocation/${id}/output`))).toBe(1);
      const sleeping = await sendId(
        '/Waiter/sleepy',
        { ms: 60_000, file: join(dir, 'restart-running') },
        { 'idempotency-key': 'rr' },
      );
      const running = await admin(`/invocations/${sleeping}/restart-as-new`);
      expect(running.status).toBe(409);
      expect((await json(running)).message).toMatch(/only completed invocations can be restarted/);
      expect((await admin(`/invocations/${sleeping}/kill`)).status).toBe(200);
      expect((await admin(`/invocations/${id}/restart-as-new?from=99`)).status).toBe(400);
      expect((await admin(`/invocations/${id}/purge`)).status).toBe(200);
      expect((await admin(`/invocations/${id}/restart-as-new`)).status).toBe(404);
    });

    it('attaches to another invocation from a handler (ctx.attach)', async () => {
      const file = join(dir, 'ctx-attach');
      const id = await sendId('/Waiter/sleepy', { ms: 700, file }, { 'idempotency-key': 'ctx-attach' });
      // Attached while the target still sleeps: the result arrives when it completes.
      expect(await json(post('/Waiter/attachTo', id))).toBe('slept');
      expect(lines(file)).toContain('started');
    });

    it('pauses and resumes an invocation', async () => {
      const file = join(dir, 'pause');
      const id = await sendId('/Waiter/sleepy', { ms: 800, file }, { 'idempotency-key': 'pause' });
      await waitFor(() => lines(file).includes('started'), { what: 'sleepy to start' });
      expect((await admin(`/invocations/${id}/pause`)).status).toBe(200);
      expect((await admin(`/invocations/${id}/resume`)).status).toBe(200);
      expect(await json(fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`))).toBe('slept');
    });
  });

  describe('service protocol', () => {
    const sql = async (query: string): Promise<Record<string, unknown>[]> => {
      const res = await fetch(`${server.adminUrl}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { rows: Record<string, unknown>[] }).rows;
    };
    const invocationRow = async (id: string) =>
      (await sql(`SELECT status, pinned_service_protocol_version FROM sys_invocation WHERE id = '${id}'`))[0];

    it(`runs steps and fan-outs on v${PROTOCOL}, the version negotiated with the SDK`, async () => {
      const file = join(dir, 'protocol-steps');
      const steps = await sendId('/Test/steps', { n: 3, file }, { 'idempotency-key': 'protocol-steps' });
      const fanout = await sendId('/Test/fanout', 5, { 'idempotency-key': 'protocol-fanout' });
      expect(await json(fetch(`${server.ingressUrl}/restate/invocation/${steps}/attach`))).toBe(3);
      expect(await json(fetch(`${server.ingressUrl}/restate/invocation/${fanout}/attach`))).toBe(10);
      expect(lines(file)).toEqual(['step 0', 'step 1', 'step 2']);
      for (const id of [steps, fanout]) {
        expect(await invocationRow(id)).toEqual({ status: 'completed', pinned_service_protocol_version: PROTOCOL });
      }
      // As restate-server 1.7 says whether it speaks v7.
      const version = await json(fetch(`${server.adminUrl}/version`));
      expect(version.features).toEqual({ protocol_v7: PROTOCOL >= 7 });
    });

    // v7 suspensions carry the await point: Promise.all wakes once both timers fired (attempts: the first, then the
    // one that finishes). On v6 the first timer wakes it, and it suspends again. restate-server 1.7.12 does the same.
    it(`wakes a suspended Promise.all ${PROTOCOL >= 7 ? 'once, when it can resolve' : 'at each timer'}`, async () => {
      const file = join(dir, 'protocol-all');
      const res = await post('/Test/sleepBoth', { file, firstMs: 300, secondMs: 3000 });
      expect(await json(res)).toBe('both fired');
      expect(lines(file)).toEqual(Array.from({ length: PROTOCOL >= 7 ? 2 : 3 }, () => 'attempt'));
    });

    // The SDK asks to pause on v6 too, and restate-server 1.7.12 honours that there as well.
    it('pauses at a PauseError in a run, without retries; resumed, it runs the step again', async () => {
      const file = join(dir, 'protocol-pause');
      const id = await sendId('/Test/pauseStep', { file }, { 'idempotency-key': 'protocol-pause' });
      await waitFor(async () => (await invocationRow(id))?.status === 'paused', { what: 'the invocation to pause' });
      expect(lines(file)).toEqual(['attempt']);
      expect((await admin(`/invocations/${id}/resume`)).status).toBe(200);
      await waitFor(async () => lines(file).length === 2 && (await invocationRow(id))?.status === 'paused', {
        what: 'the resumed invocation to pause again',
      });
      expect((await admin(`/invocations/${id}/kill`)).status).toBe(200);
    });
  });

  describe('deployments', () => {
    it('pins in-flight invocations to their deployment; new ones go to the newest', async () => {
      const v2 = await ServiceProcess.start(cleanup, SERVICES, { SERVICE_VERSION: 'v2' });
      const inflight = await sendId('/Versioned/which', 1500, { 'idempotency-key': 'pin-1' });
      await new Promise((r) => setTimeout(r, 300));
      const reg = await fetch(`${server.adminUrl}/deployments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uri: v2.uri }),
      });
      expect(reg.status).toBe(201);
      if (server.topology === 'single') expect(await json(post('/Versioned/which', 0))).toBe('v2');
      else {
        // GAP (cluster): a registration is not read-your-writes. The admin answers 201 once the schema is in the
        // metadata store; each worker learns it through a watch a moment later, so a call right after the 201
        // may still be pinned to v1 by a leader that has not seen v2 yet (observed in CI). New calls must reach
        // v2 once the workers follow.
        await waitFor(async () => (await json(post('/Versioned/which', 0))) === 'v2', {
          timeoutMs: 10_000,
          what: 'new calls to reach the newest deployment',
        });
      }
      expect(await json(fetch(`${server.ingressUrl}/restate/invocation/${inflight}/attach`))).toBe('v1');
    });

    it('refuses to remove a deployment with pinned invocations unless forced', async () => {
      const v3 = await ServiceProcess.start(cleanup, SERVICES, { SERVICE_VERSION: 'v3' });
      const reg = await json(
        fetch(`${server.adminUrl}/deployments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ uri: v3.uri }),
        }),
      );
      // New invocations go to the newest deployment (v3) and are pinned to it once they start.
      // GAP (cluster): registration is not read-your-writes (see above); a leader that has not seen v3 yet starts
      // the invocation on v2. Such an attempt is killed and the next one sent, until one runs on v3.
      let pinned = '';
      let attempt = 0;
      await waitFor(
        async () => {
          const key = `pin-del-${++attempt}`;
          const file = join(dir, key);
          pinned = await sendId('/Waiter/sleepy', { ms: 60_000, file }, { 'idempotency-key': key });
          await waitFor(() => lines(file).includes('started'), { what: 'the pinned invocation to start' });
          if (lines(`${file}.version`)[0] === 'v3') return true;
          expect(server.topology).toBe('cluster'); // the one-process server always starts it on v3
          expect((await admin(`/invocations/${pinned}/kill`)).status).toBe(200);
          return false;
        },
        { timeoutMs: 20_000, what: 'an invocation pinned to v3' },
      );
      const refused = await admin(`/deployments/${reg.id}`, 'DELETE');
      expect(refused.status).toBe(409);
      expect((await json(refused)).message).toMatch(/1 unfinished invocation\(s\) pinned/);
      expect((await admin(`/invocations/${pinned}/kill`)).status).toBe(200);
      expect((await admin(`/deployments/${reg.id}`, 'DELETE')).status).toBe(202);
      expect((await admin(`/deployments/${reg.id}`, 'DELETE')).status).toBe(404);
      expect((await admin('/deployments/dp_nonexistent00000000000000', 'DELETE')).status).toBe(400);
    });
  });

  describe('kill -9 of the server in the middle', () => {
    it('keeps object queues, waiting workflows and awakeables, and finishes them after restart', async () => {
      const awkFile = join(dir, 'crash-awk');
      const wfFile = join(dir, 'crash-wf');
      const queued = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          sendId('/Counter/crash/slowAdd', { n: 1, ms: 300 }, { 'idempotency-key': `q${i}` }),
        ),
      );
      const awk = await sendId('/Waiter/wait', { file: awkFile }, { 'idempotency-key': 'crash-awk' });
      await sendId('/Signup/crash/run', { email: 'c@x', file: wfFile });
      await waitFor(() => lines(awkFile).length === 1 && lines(wfFile).length === 1, { what: 'handlers to wait' });
      // The workflow's `run` step is durable once the state it sets afterwards is visible (a kill before that is
      // free to run the step again: a step is retried until its result is in the log).
      await waitFor(async () => (await json(post('/Signup/crash/status'))) === 'waiting', {
        what: 'the workflow to wait for its promise',
      });
      await server.kill9();
      await server.start();
      // Right after the restart a partition may still be electing its leader: a client retries what was not
      // accepted (the status is checked, so that a refused resolve cannot leave the awakeable waiting for ever).
      const accepted = async (path: string, body: unknown, what: string) => {
        let last = '';
        await waitFor(
          async () => {
            const res = await post(path, body).catch((e: Error) => e);
            if (res instanceof Error) last = res.message;
            else last = `${res.status} ${await res.text()}`;
            return !(res instanceof Error) && res.status < 300;
          },
          { timeoutMs: 30_000, what },
        ).catch((e: Error) => {
          throw new Error(`${e.message}; last answer: ${last}`);
        });
      };
      await accepted(`/restate/awakeables/${lines(awkFile)[0]}/resolve`, 'after crash', 'the awakeable resolved');
      await accepted('/Signup/crash/confirm', '42', 'the workflow promise resolved');
      // Each attach is bounded: one that never ends names the invocation, shows its status and the server's output.
      const attach = async (path: string, id: string | undefined, what: string) => {
        try {
          return await json(fetch(`${server.ingressUrl}${path}`, { signal: AbortSignal.timeout(45_000) }));
        } catch (e) {
          const status = id
            ? await fetch(`${server.adminUrl}/invocations/${id}`).then((r) => r.text(), String)
            : 'unknown id';
          throw new Error(`${what}: ${(e as Error).message}\nstatus: ${status}\n--- output ---\n${server.output()}`);
        }
      };
      expect(await attach(`/restate/invocation/${awk}/attach`, awk, 'the awakeable handler')).toBe('after crash');
      expect(await attach('/restate/workflow/Signup/crash/attach', undefined, 'the workflow')).toBe('c@x:42');
      const results = [];
      for (const id of queued) results.push(await attach(`/restate/invocation/${id}/attach`, id, 'a queued add'));
      expect([...results].sort()).toEqual([1, 2, 3, 4, 5]);
      expect(await json(post('/Counter/crash/get'))).toBe(5);
      expect(lines(wfFile)).toEqual(['run']);
    });
  });

  describe('bad input', () => {
    it('answers a promise completed twice, an oversized state value and malformed ids with clear 4xx', async () => {
      const small = await startStead(cleanup, ['--max-state-value-size', '1KiB']);
      await small.register(svc.uri);
      const big = await fetch(`${small.ingressUrl}/Counter/big/setBig`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '4096',
      });
      expect(big.status).toBe(413);
      expect((await json(big)).message).toMatch(/state value for key 'big' is \d+ bytes; the limit is 1024/);
      const ok = await fetch(`${small.ingressUrl}/Counter/big/setBig`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '10',
      });
      expect(await json(ok)).toBe(10);
      await small.stop();

      await sendId('/Signup/twice/run', { email: 't@x' });
      expect((await post('/Signup/twice/confirm', 'first')).status).toBe(200);
      const second = await post('/Signup/twice/confirm', 'second');
      expect(second.status).toBe(409);
      expect(await json(fetch(`${server.ingressUrl}/restate/workflow/Signup/twice/attach`))).toBe('t@x:first');

      const badId = await fetch(`${server.ingressUrl}/restate/invocation/not-an-id/output`);
      expect(badId.status).toBe(400);
      expect((await json(badId)).message).toMatch(/not an invocation id/);
      expect((await admin('/invocations/inv_1xyz/kill')).status).toBe(400);
    });
  });
});
