import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterView } from '../src/admin-client.ts';
import { run } from '../src/program.ts';
import { CLUSTER } from './fixtures.ts';

interface Call {
  method: string;
  url: string;
  body?: unknown;
}

type Answer = { status: number; body: unknown };

/** An admin API whose answers a test sets per `METHOD /path`; `GET /cluster` answers each of `clusters` in turn. */
async function scriptedAdmin() {
  const calls: Call[] = [];
  const answers = new Map<string, Answer>();
  let clusters: ClusterView[] = [CLUSTER];
  const server: Server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const call: Call = { method: req.method ?? '', url: req.url ?? '' };
    if (text !== '') call.body = JSON.parse(text);
    calls.push(call);
    const key = `${call.method} ${call.url}`;
    let a: Answer | undefined = answers.get(key);
    if (!a && key === 'GET /cluster') a = { status: 200, body: clusters.length > 1 ? clusters.shift() : clusters[0] };
    a ??= { status: 404, body: { message: `no such path: ${call.url}` } };
    res.writeHead(a.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(a.body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    answer: (key: string, status: number, body: unknown) => answers.set(key, { status, body }),
    setClusters: (cs: ClusterView[]) => {
      clusters = cs;
    },
    reset: () => {
      calls.length = 0;
      answers.clear();
      clusters = [CLUSTER];
    },
    server,
  };
}

let admin: Awaited<ReturnType<typeof scriptedAdmin>>;

async function stead(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run([...argv, '--address', admin.url], {
    out: (t) => (out += t),
    err: (t) => (err += t),
    pollMs: 5,
  });
  return { code, out, err };
}

/** CLUSTER with partition `p` placed as given. */
function placed(p: number, replicas: string[], leader?: string): ClusterView {
  const t = CLUSTER.partition_table!;
  const placements = t.placements.map((x) => (x.partition === p ? { ...x, replicas, leader } : x));
  return { ...CLUSTER, partition_table: { ...t, placements } };
}

beforeAll(async () => {
  admin = await scriptedAdmin();
});
beforeEach(() => admin.reset());
afterAll(async () => {
  admin.server.close();
  await once(admin.server, 'close');
});

describe('config', () => {
  const config = { partition_replication: { scope: 'node', count: 3 }, log_replication: { scope: 'zone', count: 2 } };

  it('get shows both replication properties', async () => {
    admin.answer('GET /cluster/config', 200, config);
    const r = await stead('ctl', 'config', 'get');
    expect(r).toEqual({
      code: 0,
      out: 'Partition replication:  {node: 3}\nLog replication:        {zone: 2}\n',
      err: '',
    });
  });

  it('set sends the values as given; the admin refuses bad ones with a 400 shown in one line', async () => {
    admin.answer('PATCH /cluster/config', 200, config);
    expect((await stead('ctl', 'config', 'set', '--partition-replication', '3')).code).toBe(0);
    expect(admin.calls[0]).toEqual({
      method: 'PATCH',
      url: '/cluster/config',
      body: { partition_replication: '3' },
    });
    admin.answer('PATCH /cluster/config', 400, { message: "partition_replication: replication 'x': expected …" });
    const bad = await stead('ctl', 'config', 'set', '--partition-replication', 'x');
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(
      `stead: the admin API at ${admin.url} answered 400 to PATCH /cluster/config: partition_replication: replication 'x': expected …\n`,
    );
    const none = await stead('ctl', 'config', 'set');
    expect(none.err).toBe('stead: config set: give --partition-replication and/or --log-replication\n');
  });
});

describe('nodes', () => {
  it('drain prints what is left on the node until nothing is, then "drained"', async () => {
    admin.answer('POST /cluster/nodes/w1/drain', 200, { node: 'w1', draining: true });
    admin.setClusters([placed(1, ['w1', 'w2'], 'w1'), placed(1, ['w1', 'w2'], 'w2'), placed(0, ['w2'], 'w2')]);
    const r = await stead('ctl', 'nodes', 'drain', 'w1');
    expect(r.err).toBe('');
    expect(r.out.split('\n')).toEqual([
      'w1: 2 replicas, 2 leaders left',
      'w1: 2 replicas, 1 leader left',
      'w1 drained',
      '',
    ]);
  });

  it('drain counts the open segments of a log node when the admin reports them; --no-wait returns at once', async () => {
    admin.answer('POST /cluster/nodes/ls1/drain', 200, { node: 'ls1', draining: true });
    const logNodes = (segments: number) => ({
      ...CLUSTER,
      log_nodes: [{ id: 'ls1', kind: 'log-server', segments }],
    });
    admin.setClusters([logNodes(2), logNodes(0)]);
    expect((await stead('ctl', 'nodes', 'drain', 'ls1')).out).toBe(
      'ls1: 0 replicas, 0 leaders, 2 segments left\nls1 drained\n',
    );
    admin.reset();
    admin.answer('POST /cluster/nodes/w1/drain', 200, { node: 'w1', draining: true });
    expect((await stead('ctl', 'nodes', 'drain', 'w1', '--no-wait')).out).toBe('w1 draining\n');
    expect(admin.calls.map((c) => c.url)).toEqual(['/cluster/nodes/w1/drain']);
  });

  it('prestop of a node that is not leaving returns at once, exit 0', async () => {
    admin.answer('POST /cluster/nodes/stead-worker-1/prestop', 200, {
      leaving: false,
      node: 'stead-worker-1',
      statefulset: 'stead-worker',
      ordinal: 1,
      desired_replicas: 3,
    });
    const r = await stead('ctl', 'nodes', 'prestop', 'stead-worker-1');
    expect(r).toEqual({
      code: 0,
      out: 'stead-worker-1 is not leaving (ordinal 1 < 3 replicas of stead-worker): nothing to drain\n',
      err: '',
    });
    expect(admin.calls.map((c) => c.url)).toEqual(['/cluster/nodes/stead-worker-1/prestop']);
  });

  it('prestop of a node scaled away waits until it holds nothing', async () => {
    admin.answer('POST /cluster/nodes/w1/prestop', 200, {
      leaving: true,
      node: 'w1',
      statefulset: 'w',
      ordinal: 1,
      desired_replicas: 1,
    });
    admin.setClusters([placed(1, ['w1', 'w2'], 'w2'), placed(0, ['w2'], 'w2')]);
    const r = await stead('ctl', 'nodes', 'prestop', 'w1');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual([
      'w1 is leaving (ordinal 1 >= 1 replicas of w): draining',
      'w1: 2 replicas, 1 leader left',
      'w1 drained',
      '',
    ]);
  });

  it('prestop gives up after --timeout in one line, exit 1', async () => {
    admin.answer('POST /cluster/nodes/w1/prestop', 200, {
      leaving: true,
      node: 'w1',
      statefulset: 'w',
      ordinal: 1,
      desired_replicas: 1,
    });
    const r = await stead('ctl', 'nodes', 'prestop', 'w1', '--timeout', '50ms');
    expect(r.code).toBe(1);
    expect(r.err).toBe('stead: timed out after 50ms waiting for w1 to drain (w1: 1 replica, 1 leader left)\n');
  });

  it('drain gives up after --timeout with what is left, exit 1', async () => {
    admin.answer('POST /cluster/nodes/w1/drain', 200, { node: 'w1', draining: true });
    const r = await stead('ctl', 'nodes', 'drain', 'w1', '--timeout', '50ms');
    expect(r.code).toBe(1);
    expect(r.err).toBe('stead: timed out after 50ms waiting for w1 to drain (w1: 1 replica, 1 leader left)\n');
  });

  it('drain of an unknown node: the 404 in one line', async () => {
    admin.answer('POST /cluster/nodes/nope/drain', 404, { message: "no node 'nope'" });
    const r = await stead('ctl', 'nodes', 'drain', 'nope');
    expect(r.err).toBe(
      `stead: the admin API at ${admin.url} answered 404 to POST /cluster/nodes/nope/drain: no node 'nope'\n`,
    );
  });

  it('remove asks with force only when told; a refusal is the 409 with its reason', async () => {
    admin.answer('DELETE /cluster/nodes/w2?force=true', 200, { node: 'w2', removed: true });
    expect((await stead('ctl', 'nodes', 'remove', 'w2', '--force')).out).toBe('w2 removed\n');
    admin.answer('DELETE /cluster/nodes/w1', 409, { message: 'w1 holds replicas of partitions 0: drain it first' });
    const r = await stead('ctl', 'nodes', 'remove', 'w1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/answered 409 to DELETE \/cluster\/nodes\/w1: w1 holds replicas of partitions 0/);
  });

  it('list shows the controller nodes, log nodes and metadata members, one row per node', async () => {
    admin.setClusters([{ ...CLUSTER, log_nodes: [{ id: 'ls1', kind: 'log-server', zone: 'z1', draining: false }] }]);
    admin.answer('GET /cluster/metadata/members', 200, {
      leader: { id: 'm1', address: '127.0.0.1:5300' },
      term: 2,
      members: [{ id: 'm1', address: '127.0.0.1:5300', learner: false }],
    });
    const r = await stead('ctl', 'nodes', 'list');
    expect(r.out.split('\n')).toEqual([
      'NODE  ROLES            ADDRESS         ZONE  ALIVE  DRAINING',
      'w1    worker           127.0.0.1:5201  -     yes    no',
      'w2    worker           127.0.0.1:5202  -     no     no',
      'ls1   log-server       -               z1    -      no',
      'm1    metadata-server  127.0.0.1:5300  -     -      -',
      '',
    ]);
  });
});

describe('partitions', () => {
  it('move posts the request and waits until the replica moved', async () => {
    admin.answer('POST /cluster/partitions/1/move', 202, { request: { id: 'r' } });
    admin.setClusters([CLUSTER, placed(1, ['w1', 'w2']), placed(1, ['w1'])]);
    const r = await stead('ctl', 'partitions', 'move', '1', '--from', 'w2', '--to', 'w1');
    expect(admin.calls[0].body).toEqual({ from: 'w2', to: 'w1' });
    expect(r.out).toBe(
      'partition 1: replicas w2 (adding w1)\npartition 1: replicas w1,w2 (removing w2)\npartition 1: replicas w1\n',
    );
  });

  it('transfer-leader waits for the new leader; a target that is no replica is refused by the admin', async () => {
    admin.answer('POST /cluster/partitions/0/transfer-leader', 202, { request: { id: 'r' } });
    admin.setClusters([CLUSTER, { ...placed(0, ['w1', 'w2'], 'w2') }]);
    const r = await stead('ctl', 'partitions', 'transfer-leader', '0', '--to', 'w2');
    expect(r.out).toBe('partition 0: leader w1, moving to w2\npartition 0: leader w2 (epoch 4)\n');
    admin.answer('POST /cluster/partitions/1/transfer-leader', 409, { message: 'w1 is not a replica of partition 1' });
    const bad = await stead('ctl', 'partitions', 'transfer-leader', '1', '--to', 'w1');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/answered 409 .*w1 is not a replica of partition 1\n$/);
    const usage = await stead('ctl', 'partitions', 'transfer-leader', 'x', '--to', 'w1');
    expect(usage.err).toBe("stead: partition 'x': expected a partition number\n");
  });
});

describe('logs and metadata', () => {
  it('seal and trim take a partition number or a log id', async () => {
    admin.answer('POST /cluster/logs/partition-1/seal-segment', 200, {
      log: 'partition-1',
      segments: 2,
      open_segment: { index: 1, base: '40' },
    });
    expect((await stead('ctl', 'logs', 'seal', '1')).out).toBe(
      'partition-1: segment 1 open from offset 40 (2 segments)\n',
    );
    admin.answer('POST /cluster/logs/partition-0/trim', 200, { log: 'partition-0', trim_point: '10' });
    expect((await stead('ctl', 'logs', 'trim', 'partition-0', '--to', '10')).out).toBe(
      'partition-0: trimmed below 10\n',
    );
    expect(admin.calls.at(-1)!.body).toEqual({ to: '10' });
  });

  it('get shows the value and its version; put sends text or a file, conditionally with --version', async () => {
    admin.answer('GET /cluster/metadata/cluster%2Fconfig', 200, {
      key: 'cluster/config',
      version: 3,
      encoding: 'utf8',
      value: '{"format":1}',
    });
    expect((await stead('ctl', 'metadata', 'get', 'cluster/config')).out).toBe(
      'Key:       cluster/config\nVersion:   3\nEncoding:  utf8\n\n{"format":1}\n',
    );
    admin.answer('PUT /cluster/metadata/my%2Fkey', 200, { key: 'my/key', version: 4 });
    expect((await stead('ctl', 'metadata', 'put', 'my/key', 'hello', '--version', '3')).out).toBe(
      'my/key: version 4\n',
    );
    expect(admin.calls.at(-1)!.body).toEqual({ value: 'hello', encoding: 'utf8', version: 3, force: false });
    const dir = mkdtempSync(join(tmpdir(), 'stead-ctl-'));
    try {
      const file = join(dir, 'value.bin');
      writeFileSync(file, Buffer.from([0xff, 0x00, 0x01]));
      await stead('ctl', 'metadata', 'put', 'my/key', `@${file}`);
      expect(admin.calls.at(-1)!.body).toEqual({ value: '/wAB', encoding: 'base64', force: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('members: the leader and every member', async () => {
    admin.answer('GET /cluster/metadata/members', 200, {
      leader: { id: 'm1', address: 'a:1' },
      term: 2,
      members: [
        { id: 'm1', address: 'a:1', learner: false },
        { id: 'm2', address: 'a:2', learner: true },
      ],
    });
    expect((await stead('ctl', 'metadata', 'members')).out.split('\n')).toEqual([
      'Leader:  m1 (a:1)',
      'Term:    2',
      '',
      'MEMBER  ADDRESS  ROLE',
      'm1      a:1      leader',
      'm2      a:2      learner',
      '',
    ]);
  });
});
