/**
 * `stead ctl` as a user runs it: the command line as a child process against a local cluster of real processes
 * (3 workers, 4 partitions) and against the one-process server, its tables and `--json` checked against what
 * the admin API's `GET /cluster` says, and its error when nothing answers at `--address`.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Cleanup, freePort, NODE, REPO, type SteadUnderTest, startStead, TOPOLOGY, waitFor } from '@stead/testing';

const CLI = join(REPO, 'apps/cli/src/main.ts');

interface Cluster {
  controller: {
    node: string;
    active: boolean;
    nodes?: Array<{ id: string; roles: string[]; address: string; alive: boolean; draining: boolean }>;
  };
  partition_table?: {
    partitions: number;
    replication: number;
    placements: Array<{ partition: number; replicas: string[]; leader?: string; epoch: number }>;
  };
  logs: Array<{ partition: number; log: string; segments: number; sequencer?: string; trim_point?: string }>;
}

interface Chain {
  log: string;
  trim_point: string;
  segments: Array<{ index: number; base: string; loglet: string; sequencer: { id: string }; sealed_tail?: string }>;
}

/** Runs `stead ctl <args>` in a child process (killed if it has not exited after 20 s). */
function ctl(address: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(NODE, [CLI, 'ctl', ...args, '--address', address], { timeout: 20_000 }, (error, out, err) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, out, err });
    });
  });
}

/** Runs the command, expects exit 0 and returns its standard output. */
async function ok(address: string, ...args: string[]): Promise<string> {
  const r = await ctl(address, ...args);
  if (r.code !== 0) throw new Error(`stead ctl ${args.join(' ')} exited ${r.code}: ${r.err}`);
  return r.out;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  return (await res.json()) as T;
}

/** GET /cluster without what changes at every controller round (the last heartbeat of each node). */
async function clusterNow(adminUrl: string): Promise<Cluster> {
  return stable(await getJson<Cluster>(`${adminUrl}/cluster`));
}

function stable(c: Cluster): Cluster {
  const nodes = c.controller.nodes?.map(({ id, roles, address, alive, draining }) => ({
    id,
    roles,
    address,
    alive,
    draining,
  }));
  return { ...c, controller: { ...c.controller, ...(nodes ? { nodes } : {}) } };
}

/**
 * Checks the output of a command against GET /cluster read just before and after it; the cluster may still be
 * moving (a sequencer moving to its leader), so it polls until both reads agree and the check passes.
 */
async function agrees(adminUrl: string, args: string[], check: (out: string, c: Cluster) => void): Promise<void> {
  await waitFor(
    async () => {
      const before = await clusterNow(adminUrl);
      const out = await ok(adminUrl, ...args);
      const after = await clusterNow(adminUrl);
      expect(after).toEqual(before);
      check(out, after);
      return true;
    },
    { timeoutMs: 15_000, intervalMs: 200, what: `stead ctl ${args.join(' ')} to agree with GET /cluster` },
  );
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A table row: the cells in order, separated by runs of spaces. */
const row = (...cells: unknown[]) => new RegExp(`^${cells.map((c) => esc(String(c))).join(' +')}$`, 'm');

// This suite starts a cluster whatever the topology: it runs in the single-topology run of the e2e suites, and
// the cluster run (STEAD_E2E_TOPOLOGY=cluster) skips it rather than run it twice.
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

describeHere('stead ctl against a cluster', () => {
  const cleanup = new Cleanup();
  let stead: SteadUnderTest;
  let admin: string;

  beforeAll(async () => {
    stead = await startStead(cleanup, ['--partitions=4'], { topology: 'cluster' });
    admin = stead.adminUrl;
    // Settled: every node seen alive, every partition led, and each log sequenced by its leader.
    await waitFor(
      async () => {
        const c = await clusterNow(admin);
        const leaders = new Map(c.partition_table?.placements.map((p) => [p.partition, p.leader]));
        return (
          c.controller.nodes?.some((n) => n.roles.includes('worker')) &&
          c.controller.nodes.every((n) => n.alive) &&
          c.partition_table?.placements.every((p) => p.leader !== undefined) &&
          c.logs.length === 4 &&
          c.logs.every((l) => l.sequencer !== undefined && l.sequencer === leaders.get(l.partition))
        );
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'a settled cluster' },
    );
  }, 120_000);

  afterAll(() => cleanup.run(), 60_000);

  it('status: the active controller, live nodes, partitions with a leader, each log and its sequencer', async () => {
    await agrees(admin, ['status'], (out, c) => {
      const nodes = c.controller.nodes!;
      expect(out).toMatch(new RegExp(`^Controller: +${esc(c.controller.node)} \\(active, term \\d+\\)$`, 'm'));
      expect(out).toMatch(new RegExp(`^Nodes: +${nodes.length} of ${nodes.length} alive$`, 'm'));
      expect(out).toMatch(/^Partitions: +4, replication 2, 4 of 4 with a leader$/m);
      for (const l of c.logs) expect(out).toMatch(row(l.log, l.partition, l.sequencer, l.segments));
    });
    await agrees(admin, ['status', '--json'], (out, c) => expect(stable(JSON.parse(out))).toEqual(c));
  });

  it('nodes list: every node with its roles, address, alive and draining, and the metadata members', async () => {
    await agrees(admin, ['nodes', 'list'], (out, c) => {
      const nodes = c.controller.nodes!;
      // A worker also sequences the logs it leads: its row adds the sequencer role of the log nodes.
      for (const n of nodes)
        expect(out).toMatch(
          new RegExp(`^${esc(n.id)} +${esc(n.roles.join(','))}(,sequencer)? +${esc(n.address)} +- +yes +no$`, 'm'),
        );
      expect(out).toMatch(/^\S+ +metadata-server +\S+ +- +- +-$/m);
    });
    await agrees(admin, ['nodes', 'list', '--json'], (out, c) => {
      const rows = JSON.parse(out) as Array<{ id: string; roles: string[] }>;
      for (const n of c.controller.nodes!)
        expect(rows).toContainEqual(expect.objectContaining({ id: n.id, roles: expect.arrayContaining(n.roles) }));
      expect(rows.some((r) => r.roles.includes('metadata-server'))).toBe(true);
    });
  });

  it('partitions list: replicas, leader and epoch of each partition', async () => {
    await agrees(admin, ['partitions', 'list'], (out, c) => {
      const placements = c.partition_table!.placements;
      expect(placements).toHaveLength(4);
      for (const p of placements) expect(out).toMatch(row(p.partition, p.replicas.join(','), p.leader, p.epoch));
    });
    await agrees(admin, ['partitions', 'list', '--json'], (out, c) => expect(stable(JSON.parse(out))).toEqual(c));
  });

  it('logs list: segments, sequencer and trim point of each partition log', async () => {
    await agrees(admin, ['logs', 'list'], (out, c) => {
      for (const l of c.logs) expect(out).toMatch(row(l.partition, l.log, l.segments, l.sequencer, l.trim_point));
    });
  });

  it('logs describe: every segment of a log, by partition number or log id, the last one open', async () => {
    await agrees(admin, ['logs', 'describe', '2'], (out, c) => {
      const log = c.logs.find((l) => l.partition === 2)!;
      expect(out).toMatch(new RegExp(`^Log: +${esc(log.log)}$`, 'm'));
      const segments = out.split('\n').filter((line) => /^\d+ /.test(line));
      expect(segments).toHaveLength(log.segments);
      expect(segments.at(-1)).toMatch(new RegExp(` ${esc(log.sequencer!)} .* open$`));
      for (const s of segments.slice(0, -1)) expect(s).toMatch(/ \d+$/);
    });
    // --json by log id: the chain as GET /cluster/logs/{id} has it, read before and after.
    await waitFor(
      async () => {
        const before = await getJson<Chain>(`${admin}/cluster/logs/partition-2`);
        const chain = JSON.parse(await ok(admin, 'logs', 'describe', 'partition-2', '--json')) as Chain;
        expect(await getJson<Chain>(`${admin}/cluster/logs/partition-2`)).toEqual(before);
        expect(chain).toEqual(before);
        expect(chain.segments.at(-1)!.sealed_tail).toBeUndefined();
        expect(chain.segments.map((seg) => seg.loglet)).toEqual(
          chain.segments.map((seg) => `partition-2.${seg.index}`),
        );
        return true;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'logs describe --json to agree with GET /cluster/logs/partition-2' },
    );
  });

  it('logs describe of an unknown log: the 404 of the admin API in one line, exit 1', async () => {
    const r = await ctl(admin, 'logs', 'describe', 'no-such-log');
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      `stead: the admin API at ${admin} answered 404 to GET /cluster/logs/no-such-log: log 'no-such-log' not found\n`,
    );
  });

  it('metadata members and metadata get: the Raft members with their leader, a key with its version', async () => {
    const members = await ok(admin, 'metadata', 'members');
    expect(members).toMatch(/^Leader: +\S+ \(\S+\)$/m);
    expect(members).toMatch(/^\S+ +\S+ +leader$/m);
    const config = await ok(admin, 'metadata', 'get', 'cluster/config');
    expect(config).toMatch(/^Key: +cluster\/config$/m);
    expect(config).toMatch(/^Version: +\d+$/m);
    expect(config).toContain('"partitionReplication":{"scope":"node","count":2}');
    const refused = await ctl(admin, 'metadata', 'put', 'cluster/config', '{}');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/answered 409 to PUT .*one the cluster keeps itself/);
  });

  it('config set: a bad value is refused with the reason (exit 1); replication 3 gives every partition 3 replicas', async () => {
    const bad = await ctl(admin, 'config', 'set', '--partition-replication', 'zone:0');
    expect(bad.code).toBe(1);
    expect(bad.out).toBe('');
    expect(bad.err).toMatch(
      /^stead: the admin API at .* answered 400 to PATCH \/cluster\/config: partition_replication: replication 'zone:0': expected a count 1\.\.16/,
    );
    expect(await ok(admin, 'config', 'set', '--partition-replication', '3')).toMatch(
      /^Partition replication: +\{node: 3\}$/m,
    );
    expect(await ok(admin, 'config', 'get')).toMatch(/^Partition replication: +\{node: 3\}$/m);
    await waitFor(
      async () => {
        const t = (await clusterNow(admin)).partition_table!;
        return t.replication === 3 && t.placements.every((p) => p.replicas.length === 3);
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'every partition on 3 replicas' },
    );
  });

  it('partitions transfer-leader: the most loaded worker hands a leadership to the least loaded one', async () => {
    const c = await clusterNow(admin);
    const placements = c.partition_table!.placements;
    const workers = c.controller.nodes!.filter((n) => n.roles.includes('worker')).map((n) => n.id);
    const leads = (id: string) => placements.filter((p) => p.leader === id).length;
    const byLoad = [...workers].sort((a, b) => leads(a) - leads(b));
    const to = byLoad[0];
    const p = placements.find((x) => x.leader === byLoad.at(-1) && x.replicas.includes(to))!;
    const out = await ok(admin, 'partitions', 'transfer-leader', String(p.partition), '--to', to);
    expect(out).toMatch(new RegExp(`^partition ${p.partition}: leader ${esc(to)} \\(epoch \\d+\\)$`, 'm'));
    const refused = await ctl(admin, 'partitions', 'transfer-leader', '0', '--to', 'no-such-worker');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/answered 409 .*no-such-worker is not a replica of partition 0/);
  });

  it('nodes drain: the worker ends with no replica and no leadership; undrain lets it take replicas again', async () => {
    const worker = (await clusterNow(admin)).controller.nodes!.find((n) => n.roles.includes('worker'))!.id;
    const out = await ok(admin, 'nodes', 'drain', worker, '--timeout', '15s');
    expect(out).toMatch(new RegExp(`^${esc(worker)} drained$`, 'm'));
    const c = await clusterNow(admin);
    expect(c.partition_table!.placements.filter((p) => p.replicas.includes(worker))).toEqual([]);
    expect(c.controller.nodes!.find((n) => n.id === worker)!.draining).toBe(true);
    await agrees(admin, ['partitions', 'list'], (list) => expect(list).not.toMatch(new RegExp(`\\b${esc(worker)}\\b`)));
    // Another worker still holds replicas: removing it is refused.
    const other = c.controller.nodes!.find((n) => n.roles.includes('worker') && n.id !== worker)!.id;
    const removal = await ctl(admin, 'nodes', 'remove', other);
    expect(removal.code).toBe(1);
    expect(removal.err).toMatch(
      new RegExp(`answered 409 to DELETE /cluster/nodes/${esc(other)}: ${esc(other)} holds replicas`),
    );
    await ok(admin, 'nodes', 'undrain', worker);
    await waitFor(
      async () => (await clusterNow(admin)).partition_table!.placements.every((p) => p.replicas.includes(worker)),
      { timeoutMs: 20_000, intervalMs: 200, what: `${worker} back on every partition` },
    );
  });
});

describeHere('stead ctl against the one-process server', () => {
  const cleanup = new Cleanup();
  let admin: string;

  beforeAll(async () => {
    admin = (await startStead(cleanup, [], { topology: 'single' })).adminUrl;
  }, 60_000);

  afterAll(() => cleanup.run(), 30_000);

  it('status and partitions list: one node that leads every partition', async () => {
    const c = await clusterNow(admin);
    const n = c.partition_table!.partitions;
    const status = await ok(admin, 'status');
    expect(status).toMatch(/^Controller: +server \(active\)$/m);
    expect(status).toMatch(/^Nodes: +1 of 1 alive$/m);
    expect(status).toMatch(new RegExp(`^Partitions: +${n}, replication 1, ${n} of ${n} with a leader$`, 'm'));
    const partitions = await ok(admin, 'partitions', 'list');
    for (const p of c.partition_table!.placements) {
      expect(p.epoch).toBeGreaterThan(0);
      expect(partitions).toMatch(row(p.partition, 'server', 'server', p.epoch));
    }
    expect(JSON.parse(await ok(admin, 'partitions', 'list', '--json'))).toEqual(c);
    // Its local logs: no segments, the trim point of each (it trims them behind its stores).
    expect(c.logs[0]!.trim_point).toMatch(/^\d+$/);
    expect(await ok(admin, 'logs', 'list')).toMatch(row(0, 'partition-0', 'local', 'server', c.logs[0]!.trim_point));
  });

  it('config get: replication 1; the operator commands that need a cluster say so (exit 1)', async () => {
    expect(await ok(admin, 'config', 'get')).toMatch(/^Partition replication: +\{node: 1\}$/m);
    const drain = await ctl(admin, 'nodes', 'drain', 'server');
    expect(drain.code).toBe(1);
    expect(drain.err).toMatch(/answered 400 to POST \/cluster\/nodes\/server\/drain: not a cluster: /);
    const move = await ctl(admin, 'partitions', 'transfer-leader', '0', '--to', 'server');
    expect(move.err).toMatch(/answered 400 .*not a cluster/);
  });

  it('logs describe: a 404 saying the logs are local', async () => {
    const r = await ctl(admin, 'logs', 'describe', '0');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^stead: the admin API at .* answered 404 .*keeps its logs locally, without segments.*\n$/);
  });
});

describe('stead ctl without an admin API', () => {
  it('names the address and the cause in one line and exits 1', async () => {
    const address = `http://127.0.0.1:${await freePort()}`;
    const r = await ctl(address, 'status');
    expect(r).toEqual({
      code: 1,
      out: '',
      err: `stead: cannot reach the admin API at ${address}: connect ECONNREFUSED ${address.slice('http://'.length)}\n`,
    });
  });
});
