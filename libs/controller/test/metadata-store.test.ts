// The shell against a real single-member metadata store (gRPC client, system clock).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  CLUSTER_CONFIG_KEY,
  CLUSTER_KEYS,
  Controller,
  decodeLease,
  deregisterNode,
  followClusterConfig,
  initClusterConfig,
  listNodes,
  type NodeRecord,
  PartitionTableWatcher,
  parseReplication,
  readClusterConfig,
  readPartitionTable,
  registerNode,
  updateClusterConfig,
} from '@stead/controller';
import { createMetadataStore, GrpcMetadataClient, type MetadataStore } from '@stead/metadata';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

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

async function until<T>(f: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startStore(): Promise<{ store: MetadataStore; client: GrpcMetadataClient; address: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'stead-controller-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const store = await createMetadataStore({
    dataDir: dir,
    nodeId: '1',
    tickMs: 10,
    grpcPort: port,
    grpcHost: '127.0.0.1',
    address: `127.0.0.1:${port}`,
  });
  cleanups.push(() => store.close());
  const address = `127.0.0.1:${port}`;
  const client = new GrpcMetadataClient({ addresses: [address] });
  cleanups.push(() => client.close());
  return { store, client, address };
}

const worker = (id: string, instance = `${id}-1`): NodeRecord => ({
  id,
  instance,
  roles: ['worker'],
  address: `127.0.0.1:${5000 + Number(id.slice(1))}`,
  location: 'zone-a',
  draining: false,
});

describe('controller on a real metadata store', () => {
  it('registers nodes (a restart replaces the record), lists them, and refuses bad bytes naming the key', async () => {
    const { client } = await startStore();
    await registerNode(client, worker('w2'));
    await registerNode(client, worker('w1'));
    await registerNode(client, { ...worker('w1', 'w1-2'), roles: ['worker', 'ingress'] });
    await registerNode(client, { ...worker('a1'), roles: ['admin'], location: undefined });
    const nodes = await listNodes(client);
    expect(nodes.map((n) => [n.id, n.instance, n.roles])).toEqual([
      ['a1', 'a1-1', ['admin']],
      ['w1', 'w1-2', ['worker', 'ingress']],
      ['w2', 'w2-1', ['worker']],
    ]);
    expect(nodes[0].location).toBeUndefined();
    await deregisterNode(client, 'w2');
    expect((await listNodes(client)).map((n) => n.id)).toEqual(['a1', 'w1']);
    await expect(registerNode(client, { ...worker('x'), id: 'a/b' })).rejects.toThrow(/must be non-empty/);

    await client.put(CLUSTER_KEYS.partitionTable, new Uint8Array([8, 2, 0xff]));
    await expect(readPartitionTable(client)).rejects.toThrow(/metadata key 'cluster\/partition-table'/);
    await client.put(CLUSTER_KEYS.node('w1'), new Uint8Array([0x0a, 0x05]));
    await expect(listNodes(client)).rejects.toMatchObject({
      code: 'corrupt-record',
      message: expect.stringContaining("'cluster/nodes/w1'"),
    });
  });

  it('an active controller writes the table, a watcher follows it, and stopping releases the lease', async () => {
    const { client, address } = await startStore();
    for (const id of ['w1', 'w2', 'w3']) await registerNode(client, worker(id));
    const down = new Set<string>();
    const watcherClient = new GrpcMetadataClient({ addresses: [address] });
    cleanups.push(() => watcherClient.close());
    const watcher = PartitionTableWatcher.start({ client: watcherClient, pollMs: 60_000 });
    cleanups.push(() => watcher.close());
    const seen: number[] = [];
    watcher.onChange((t) => seen.push(t.version));

    const controller = new Controller({
      client,
      nodeId: 'admin-1',
      instance: 'admin-1-a',
      config: {
        partitions: 4,
        partitionReplication: 2,
        nodeFailureTimeoutMs: 600,
        roundMs: 100,
        pingTimeoutMs: 100,
        leaseRenewMs: 100,
        leaseTimeoutMs: 400,
      },
      ping: async (n) => !down.has(n.id),
    });
    const handle = controller.run();
    cleanups.push(() => handle.stop());

    const first = await watcher.next();
    expect(first.value.partitions).toBe(4);
    expect(first.value.controller).toBe('admin-1');
    expect(first.value.placements.every((p) => p.leader !== undefined && p.replicas.length === 2)).toBe(true);
    await until(() => handle.status().lastRound?.tableVersion === first.version);

    // w1 stops answering: its leaderships move, and the watcher sees the new table.
    down.add('w1');
    const moved = await until(async () => {
      const t = await readPartitionTable(client);
      return t && t.value.placements.every((p) => !p.replicas.includes('w1')) && t;
    });
    await until(() => watcher.current()!.version >= moved.version);
    expect(watcher.current()!.value.placements).toEqual(moved.value.placements);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));

    await handle.stop();
    const lease = await client.get(CLUSTER_KEYS.controllerLease);
    expect(decodeLease(CLUSTER_KEYS.controllerLease, lease!.value)).toEqual({
      nodeId: 'admin-1',
      instance: 'admin-1-a',
      released: true,
    });
    expect(handle.status().active).toBe(false);
  });
});

describe('the cluster config', () => {
  it('parses replication as operators write it and refuses anything else with a message naming the text', () => {
    expect(parseReplication('2')).toEqual({ scope: 'node', count: 2 });
    expect(parseReplication('node:3')).toEqual({ scope: 'node', count: 3 });
    expect(parseReplication('{zone: 2}')).toEqual({ scope: 'zone', count: 2 });
    expect(parseReplication('{"zone": 2}')).toEqual({ scope: 'zone', count: 2 });
    for (const bad of ['0', '17', 'rack:2', '{zone: }', 'two'])
      expect(() => parseReplication(bad)).toThrow(new RegExp(`replication '${bad.replace(/[{}]/g, '\\$&')}'`));
  });

  it('is written once by the first admin, changed conditionally, followed by watchers, and refused when corrupt', async () => {
    const { client } = await startStore();
    const initial = { partitionReplication: parseReplication('2'), logReplication: parseReplication('2') };
    await initClusterConfig(client, initial);
    // A second admin with other flags does not override what the cluster already has.
    await initClusterConfig(client, { ...initial, partitionReplication: parseReplication('3') });
    expect((await readClusterConfig(client))?.value).toEqual(initial);
    const follower = followClusterConfig(client);
    cleanups.push(() => follower.close());
    await until(() => follower.current()?.partitionReplication.count === 2);
    await updateClusterConfig(client, (c) => ({ ...c!, logReplication: parseReplication('{zone: 2}') }));
    await until(() => follower.current()?.logReplication.scope === 'zone');
    expect(follower.current()).toEqual({ ...initial, logReplication: { scope: 'zone', count: 2 } });
    await client.put(CLUSTER_CONFIG_KEY, new TextEncoder().encode('{"format":1,"logReplication":{"scope":"rack"}}'));
    await expect(readClusterConfig(client)).rejects.toThrow(/'cluster\/config': partitionReplication is not/);
  });
});
