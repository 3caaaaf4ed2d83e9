import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createMetadataStore, GrpcMetadataClient, MetadataError, Precondition } from '@stead/metadata';
import { checkLinearizable, HistoryRecorder, type KvInput, type KvOutput, kvModel } from '@stead/raft/sim';

// Three (then five, then three) real metadata-store processes on loopback, under kill -9, SIGSTOP/SIGCONT and
// membership changes, while clients keep writing; the recorded history must be linearizable.

const NODE = '/work/main/node_modules/.bin/node';
const MAIN = new URL('../src/main.ts', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'stead-md-e2e-'));

interface Proc {
  id: string;
  port: number;
  metricsPort: number;
  addr: string;
  dir: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  logFile: string;
}
const procs = new Map<string, Proc>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function spawnMember(p: Omit<Proc, 'child' | 'exited' | 'logFile'>, args: string[]): Proc {
  const logFile = join(root, `member-${p.id}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(
    NODE,
    [
      '--disable-warning=ExperimentalWarning',
      MAIN,
      `--node-id=${p.id}`,
      `--data-dir=${p.dir}`,
      '--bind-address=127.0.0.1',
      `--node-port=${p.port}`,
      `--metrics-port=${p.metricsPort}`,
      `--advertised-address=${p.addr}`,
      '--tick-interval=50ms',
      '--election-timeout=500ms',
      '--heartbeat-interval=100ms',
      '--cluster-name=e2e',
      ...args,
    ],
    { stdio: ['ignore', out, out], env: { PATH: process.env.PATH ?? '' } },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const proc = { ...p, child, exited, logFile };
  procs.set(p.id, proc);
  return proc;
}

async function until<T>(f: () => Promise<T | undefined | false> | T | undefined | false, ms: number, what: string) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Resolves with `value` after `ms` without keeping the process alive. */
function after<T>(ms: number, value: T): Promise<T> {
  return new Promise((r) => setTimeout(() => r(value), ms).unref());
}

async function ready(p: Proc): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${p.metricsPort}/ready`);
    return r.status === 200;
  } catch {
    return false;
  }
}

async function leaderOf(addrs: string[]): Promise<string | undefined> {
  for (const a of addrs) {
    const c = new GrpcMetadataClient({ addresses: [a], attemptTimeoutMs: 300, timeoutMs: 300 });
    try {
      const s = await c.status(a);
      if (s.role === 'leader') return s.nodeId;
    } catch {
      // member down or paused
    } finally {
      await c.close();
    }
  }
  return undefined;
}

/** Set when the test ends, also by a failure: the load workers stop, so that jest can exit. */
let stop = false;
/** Closed by afterAll too, when a failure skipped the test's own close. */
const clients: GrpcMetadataClient[] = [];

afterAll(async () => {
  stop = true;
  for (const c of clients) await c.close().catch(() => {});
  for (const p of procs.values()) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      try {
        process.kill(p.child.pid!, 'SIGCONT');
      } catch {}
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
  rmSync(root, { recursive: true, force: true });
});

describe('metadata-store processes (e2e)', () => {
  it('stays linearizable and loses no acknowledged write through kill -9, SIGSTOP and 3→5→3 membership', async () => {
    const base = [] as Omit<Proc, 'child' | 'exited' | 'logFile'>[];
    for (const id of ['1', '2', '3', '4', '5']) {
      const port = await freePort();
      base.push({ id, port, metricsPort: await freePort(), addr: `127.0.0.1:${port}`, dir: join(root, `data-${id}`) });
    }
    const initial = base.slice(0, 3);
    const peersArg = `--peers=${initial.map((p) => `${p.id}=${p.addr}`).join(',')}`;
    for (const p of initial) spawnMember(p, [peersArg]);
    await until(
      async () => (await Promise.all(initial.map((p) => ready(procs.get(p.id)!)))).every(Boolean),
      20_000,
      'members ready',
    );

    const addresses = initial.map((p) => p.addr);
    const rec = new HistoryRecorder<KvInput, KvOutput>();
    const acked = new Map<string, number[]>(); // key -> acknowledged versions
    let firstWriteAfter: ((t: number) => void) | undefined;
    const workers = [0, 1, 2, 3].map(async (c) => {
      const cl = new GrpcMetadataClient({ addresses, timeoutMs: 6000, attemptTimeoutMs: 700 });
      let seq = 0;
      const seen = new Map<string, number>();
      while (!stop) {
        const key = `k${c % 2}`;
        const value = `c${c}.${++seq}`;
        const known = seen.get(key);
        const pre =
          seq % 3 === 0 && known
            ? Precondition.matchesVersion(known)
            : seq % 3 === 1
              ? Precondition.none
              : Precondition.none;
        const input: KvInput = {
          kind: 'put',
          key,
          value,
          pre: pre.kind === 'matches-version' ? { kind: 'version', version: String(pre.version) } : { kind: 'none' },
        };
        const started = Date.now();
        const done = rec.begin(c, input);
        try {
          const v = await cl.put(key, new TextEncoder().encode(value), pre);
          done({ kind: 'write', ok: true, version: String(v) });
          seen.set(key, v);
          acked.set(key, [...(acked.get(key) ?? []), v]);
          firstWriteAfter?.(started);
        } catch (e) {
          if (e instanceof MetadataError && e.code === 'precondition-failed') done({ kind: 'write', ok: false });
          else done(undefined);
        }
        const g = rec.begin(c, { kind: 'get', key });
        try {
          const r = await cl.get(key);
          g({
            kind: 'get',
            value: r ? new TextDecoder().decode(r.value) : null,
            version: r ? String(r.version) : null,
          });
          if (r) seen.set(key, r.version);
        } catch {
          g(undefined);
        }
      }
      await cl.close();
    });

    // 1. kill -9 the leader; a new leader must serve a write within 2 s.
    await new Promise((r) => setTimeout(r, 800));
    const leaderId = await until(() => leaderOf(addresses), 5000, 'leader');
    const victim = procs.get(leaderId)!;
    const served = new Promise<number>((resolve) => {
      firstWriteAfter = (startedAt) => {
        if (startedAt >= killedAt) {
          firstWriteAfter = undefined;
          resolve(Date.now());
        }
      };
    });
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;
    const servedAt = await Promise.race([served, after(5000, Infinity)]);
    const failoverMs = servedAt - killedAt;
    console.log(`failover: leader ${leaderId} killed, a write was served by the new leader after ${failoverMs} ms`);
    expect(failoverMs).toBeLessThan(2000);
    // restart it on its data dir: it rejoins and catches up
    spawnMember(victim, [peersArg]);
    await until(() => ready(procs.get(leaderId)!), 10_000, 'restarted member ready');

    // 2. pause a follower with SIGSTOP, then resume it.
    const lead2 = await until(() => leaderOf(addresses), 5000, 'leader');
    const paused = procs.get(initial.find((p) => p.id !== lead2)!.id)!;
    process.kill(paused.child.pid!, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(paused.child.pid!, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 500));

    // 3. grow to five members and shrink back to three while the writes go on.
    const admin = new GrpcMetadataClient({ addresses, timeoutMs: 15_000 });
    clients.push(admin);
    const retryConf = async <T>(f: () => Promise<T>): Promise<T> => {
      const end = Date.now() + 15_000;
      for (;;) {
        try {
          return await f();
        } catch (e) {
          if (Date.now() > end || !(e instanceof MetadataError) || e.code === 'invalid-argument') throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    for (const p of base.slice(3)) {
      spawnMember(p, ['--join']);
      const members = await retryConf(() => admin.addMember(p.id, p.addr));
      // It joins as a learner and becomes a voter only once it has caught up.
      expect(members.find((m) => m.nodeId === p.id)).toMatchObject({ learner: true });
      await until(() => ready(procs.get(p.id)!), 10_000, `member ${p.id} ready`);
      await until(
        async () => (await admin.status()).members.find((m) => m.nodeId === p.id)?.learner === false,
        15_000,
        `member ${p.id} promoted to voter`,
      );
    }
    expect((await admin.status()).members.map((m) => `${m.nodeId}${m.learner ? 'L' : ''}`)).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
    ]);
    // remove two of the original members (possibly the leader)
    const removed = ['1', '2'];
    for (const id of removed) {
      const members = await retryConf(() => admin.removeMember(id));
      expect(members.map((m) => m.nodeId)).not.toContain(id);
    }
    const finalMembers = (await admin.status()).members.map((m) => m.nodeId);
    expect(finalMembers).toEqual(['3', '4', '5']);
    await new Promise((r) => setTimeout(r, 500));

    stop = true;
    await Promise.all(workers);

    // Every acknowledged write is there: the final value of each key is at least the newest acknowledged one.
    const finalAddrs = base.filter((p) => finalMembers.includes(p.id)).map((p) => p.addr);
    const reader = new GrpcMetadataClient({ addresses: finalAddrs });
    for (const [key, versions] of acked) {
      const cur = await reader.get(key);
      expect(cur).toBeDefined();
      expect(cur!.version).toBeGreaterThanOrEqual(Math.max(...versions));
      const fin = rec.begin(99, { kind: 'get', key });
      fin({ kind: 'get', value: new TextDecoder().decode(cur!.value), version: String(cur!.version) });
    }
    await reader.close();
    await admin.close();

    const h = rec.history();
    const res = checkLinearizable(kvModel(h), h);
    const okOps = h.filter((o) => o.output).length;
    console.log(
      `history: ${h.length} operations (${okOps} with known outcome), check: ${res.result} in ${res.steps} steps`,
    );
    expect(res.result).toBe('ok');
    expect(okOps).toBeGreaterThan(100);

    // A member started on a data dir written by another cluster (same name, other id) refuses to start.
    const foreignDir = join(root, 'data-foreign');
    const foreign = await createMetadataStore({ dataDir: foreignDir, nodeId: '6', clusterName: 'e2e', tickMs: 10 });
    await foreign.client.put('x', new TextEncoder().encode('y'));
    await until(() => foreign.node.clusterId !== '' && foreign.node.status().appliedIndex >= 3, 5000, 'foreign id');
    await foreign.close();
    const p6 = await freePort();
    const intruder = spawnMember(
      { id: '6', port: p6, metricsPort: await freePort(), addr: `127.0.0.1:${p6}`, dir: foreignDir },
      [
        `--peers=6=127.0.0.1:${p6},${base
          .filter((p) => finalMembers.includes(p.id))
          .map((p) => `${p.id}=${p.addr}`)
          .join(',')}`,
      ],
    );
    expect(await Promise.race([intruder.exited, after(15_000, 'timeout')])).toBe(1);
    expect(readFileSync(intruder.logFile, 'utf8')).toMatch(/belongs to metadata cluster id .* refusing to start/);

    // Removed members are stopped; the rest shut down gracefully on SIGTERM.
    for (const id of ['1', '2', '3', '4', '5']) {
      const p = procs.get(id)!;
      p.child.kill('SIGTERM');
      const code = await Promise.race([p.exited, after(10_000, 'timeout')]);
      if (code !== 0) console.log(readFileSync(p.logFile, 'utf8').slice(-3000));
      expect(code).toBe(0);
    }
    const log3 = readFileSync(procs.get('3')!.logFile, 'utf8').trim().split('\n');
    for (const line of log3) expect(() => JSON.parse(line)).not.toThrow();
  }, 120_000);
});
