/**
 * Disk faults, for real: the server's data dir on a small tmpfs that fills up (ENOSPC; whichever store needs a
 * page first fails), the same with the log directory on a tmpfs of its own (the log's write fails), and fsync
 * failing with EIO through an LD_PRELOAD shim (only the log store syncs). A failed log write is fatal: the server
 * exits non-zero naming the failed write; after the fault is removed and the server restarted, every acknowledged
 * invocation completes exactly once. In a cluster the faulty disk is one process's: a worker's data dir (its
 * partition stores) fills up, or a log server's (the log) fills up or fails fsync; that process exits naming the
 * failed write while the others keep serving, and after the fault is removed and it is restarted, every
 * acknowledged invocation completes exactly once. Side effects are recorded by the SDK services in files outside
 * the faulty disk. Needs root (mount) and gcc.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildFsyncShim,
  Cleanup,
  ServiceProcess,
  type SteadUnderTest,
  startStead,
  Tmpfs,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

/** One invocation submitted with an idempotency key: acknowledged (202 with an id) or of unknown outcome. */
interface Submission {
  key: string;
  path: string;
  body: unknown;
  /** The side-effect file of a Test/steps invocation. */
  file?: string;
  id?: string;
}

describe('disk faults', () => {
  const cleanup = new Cleanup();
  let svc: ServiceProcess;
  let effects: string;

  beforeAll(async () => {
    effects = cleanup.tempDir('stead-disk-effects-');
    svc = await ServiceProcess.start(cleanup, SERVICES);
  });
  afterAll(() => cleanup.run());

  async function submit(server: SteadUnderTest, s: Submission): Promise<{ id: string; status: string } | undefined> {
    try {
      const res = await fetch(`${server.ingressUrl}${s.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': s.key },
        body: JSON.stringify(s.body),
        signal: AbortSignal.timeout(5000),
      });
      const body = await res.text();
      if (res.status !== 202) return undefined;
      const { invocationId, status } = JSON.parse(body) as { invocationId: string; status: string };
      return { id: invocationId, status };
    } catch {
      return undefined; // the server died or stopped answering: the outcome is unknown
    }
  }

  async function attach(server: SteadUnderTest, id: string): Promise<unknown> {
    const res = await fetch(`${server.ingressUrl}/restate/invocation/${id}/attach`, {
      signal: AbortSignal.timeout(20_000),
    });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`attach ${id}: ${res.status} ${body}`);
    return JSON.parse(body);
  }

  /**
   * Acknowledged invocations, then traffic while `inject` breaks the disk: the server must exit non-zero with an
   * error line matching `reason`. Then `heal`, restart, re-submit what had an unknown outcome (as a client would)
   * and check that everything acknowledged completed exactly once.
   */
  /** The process whose disk fails: the server, or one process of the cluster. */
  interface Victim {
    running(): boolean;
    /** Its exit code once it has exited. */
    exited(): Promise<number | null>;
    lines(): string[];
    output(): string;
    start(): Promise<void>;
  }

  function victimOf(server: SteadUnderTest, name: string): Victim {
    const cluster = server.cluster;
    if (!cluster) {
      const s = server.server!;
      return {
        running: () => s.proc!.running,
        exited: () => s.proc!.exited,
        lines: () => s.proc!.lines,
        output: () => s.proc!.output(),
        start: () => s.start(),
      };
    }
    return {
      running: () => cluster.alive(name),
      exited: async () => {
        await waitFor(() => cluster.exitCode(name) !== undefined, { what: `the exit code of ${name}` });
        return cluster.exitCode(name) ?? null;
      },
      lines: () => cluster.output(name, 500).split('\n'),
      output: () => cluster.output(name),
      start: () => cluster.restart(name),
    };
  }

  /**
   * Acknowledged invocations, then traffic while `inject` breaks the disk: the server (in a cluster, the process
   * `victim`) must exit non-zero with an error line matching `reason`. Then `heal`, restart, re-submit what had an
   * unknown outcome (as a client would) and check that everything acknowledged completed exactly once.
   */
  async function scenario(
    name: string,
    opts: {
      /** In a cluster: the process whose disk fails, its data dir and environment. */
      victim: string;
      dataDir?: string;
      env?: NodeJS.ProcessEnv;
      inject: () => void;
      heal: () => void;
      /** The fatal error line names the failed write. */
      reason: RegExp;
      /** A line of the dying server's output that shows the fault happened (the shim's report). */
      evidence?: RegExp;
    },
  ): Promise<void> {
    const t0 = Date.now();
    const t = (what: string) => process.stdout.write(`${name} ${Date.now() - t0}ms ${what}\n`);
    const server = await startStead(
      cleanup,
      ['--partitions', '4'],
      TOPOLOGY === 'single'
        ? { dataDir: opts.dataDir, env: opts.env }
        : {
            cluster: {
              dataDirs: opts.dataDir ? { [opts.victim]: opts.dataDir } : {},
              envs: opts.env ? { [opts.victim]: opts.env } : {},
            },
          },
    );
    const victim = victimOf(server, opts.victim);
    await server.register(svc.uri);
    let n = 0;
    const next = (): Submission => {
      const i = n++;
      // Every third submission adds 1 to a counter (state, exactly once); the others run two recorded steps.
      if (i % 3 === 2) return { key: `${name}-add-${i}`, path: `/Counter/${name}/add/send`, body: 1 };
      const file = join(effects, `${name}-${i}`);
      return { key: `${name}-steps-${i}`, path: '/Test/steps/send', body: { n: 2, file, stepMs: 5 }, file };
    };
    const acked: Submission[] = [];
    const unknown: Submission[] = [];
    const record = async (s: Submission) => {
      const r = await submit(server, s);
      if (r) acked.push({ ...s, id: r.id });
      else unknown.push(s);
    };

    // Acknowledged before the fault.
    await Promise.all(Array.from({ length: 12 }, () => record(next())));
    expect(unknown).toEqual([]);

    // Traffic continues while the disk breaks, until the server (the victim) is gone.
    let stop = false;
    const workers = Array.from({ length: 4 }, async () => {
      while (!stop && victim.running()) await record(next());
    });
    let code: number | null;
    try {
      await waitFor(() => acked.length >= 20, { what: 'traffic to be acknowledged before the fault' });
      t('inject');
      opts.inject();
      await waitFor(() => !victim.running(), {
        timeoutMs: 20_000,
        what: `${opts.victim} to exit after the disk fault`,
      });
      code = await victim.exited();
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    const fatal = victim
      .lines()
      .find((l) => l.includes('"level":"error"') && l.includes('"msg":"fatal') && opts.reason.test(l));
    if (code === 0 || !fatal)
      throw new Error(`expected a non-zero exit with ${opts.reason}, got ${code}\n${victim.output()}`);
    expect(code).toBe(1);
    if (opts.evidence) expect(victim.lines().filter((l) => opts.evidence!.test(l))).not.toEqual([]);
    const error = (JSON.parse(fatal) as { error: { message: string } }).error.message;
    process.stdout.write(
      `${name}: ${server.topology === 'single' ? 'stead-server' : opts.victim} exited with ${code}: ${error}\n` +
        `${name}: ${acked.length} acknowledged, ${unknown.length} of unknown outcome\n`,
    );

    t('exited');
    opts.heal();
    await victim.start();
    t('restarted');
    // A client re-submits what it got no answer for, with the same idempotency key.
    for (const s of unknown) {
      const r = await submit(server, s);
      expect(r).toBeDefined();
      s.id = r!.id;
    }
    const all = [...acked, ...unknown];
    for (const s of all) {
      const out = await attach(server, s.id!);
      if (s.file) expect(out).toBe(1);
    }
    t('attached');
    // Steps: each ran, in order; only a step in flight at the fault may have run a second time.
    const before = new Map<string, string[]>();
    for (const s of all) {
      if (!s.file) continue;
      const steps = lines(s.file).map((l) => Number(l.split(' ')[1]));
      expect([...new Set(steps)]).toEqual([0, 1]);
      expect(steps).toEqual([...steps].sort((a, b) => a - b));
      expect(steps.length).toBeLessThanOrEqual(3);
      before.set(s.file, lines(s.file));
    }
    // Counter: exactly one increment per distinct idempotency key, acknowledged or re-submitted.
    const adds = all.filter((s) => !s.file).length;
    const res = await fetch(`${server.ingressUrl}/Counter/${name}/get`, { method: 'POST' });
    expect(await res.json()).toBe(adds);
    // Acknowledged invocations are never run again: a re-submission is answered from the stored result.
    for (const s of acked) {
      const r = await submit(server, s);
      expect(r).toEqual({ id: s.id, status: 'PreviouslyAccepted' });
    }
    for (const [file, was] of before) expect(lines(file)).toEqual(was);
    t('checked');
    await server.stop();
    t('stopped');
  }

  it('exits naming the failed write when the data disk fills up; after a restart every acknowledged invocation completes once', async () => {
    // In a cluster: a worker's data disk (its partition stores).
    const fs = Tmpfs.mount(cleanup, 64 << 20);
    await scenario('enospc', {
      victim: 'w1',
      dataDir: join(fs.path, 'data'),
      inject: () => fs.fill(),
      heal: () => fs.unfill(),
      // Whichever write needs a page first fails: the log store's synced batch or a partition store's write (a
      // partition's own LevelDB or the shared one of the journal).
      reason:
        TOPOLOGY === 'single'
          ? /(log store .*synced write of \d+ records.*failed: .*|partitions\/(?:\d+|ordered)\/\d+\.log: )No space left on device/
          : /partitions\/(?:\d+|ordered)\/\d+\.log: No space left on device/,
    });
  }, 120_000);

  it('exits naming the failed log write when the disk of the log fills up; after a restart every acknowledged invocation completes once', async () => {
    // The log directory on a tmpfs of its own inside the data dir: the first write to fail is the log's. In a
    // cluster: a log server's data dir on that tmpfs.
    const data = join(Tmpfs.mount(cleanup, 64 << 20).path, 'data');
    const logDisk = Tmpfs.mount(cleanup, 16 << 20, join(data, 'log'));
    await scenario('enospc-log', {
      victim: 'ls1',
      dataDir: TOPOLOGY === 'single' ? data : join(data, 'log'),
      inject: () => logDisk.fill(),
      heal: () => logDisk.unfill(),
      reason:
        TOPOLOGY === 'single'
          ? /log store .*synced write of \d+ records.*failed: .*log\/\d+\.log: No space left on device/
          : /durable write of the log failed.*No space left on device/,
    });
  }, 120_000);

  it('exits naming the failed fsync when fsync fails with EIO; after a restart every acknowledged invocation completes once', async () => {
    // In a cluster: on a log server (the process that syncs the log).
    const dir = cleanup.tempDir('stead-fsync-shim-');
    const trigger = join(dir, 'fail-sync');
    await scenario('eio', {
      victim: 'ls1',
      env: buildFsyncShim(dir, trigger),
      inject: () => writeFileSync(trigger, ''),
      heal: () => rmSync(trigger),
      reason:
        TOPOLOGY === 'single'
          ? /log store .*synced write of \d+ records.*failed: .*Input\/output error/
          : /durable write of the log failed.*Input\/output error/,
      evidence: /^fsync-shim: f(?:data)?sync\(\d+\) -> EIO$/,
    });
  }, 120_000);
});
