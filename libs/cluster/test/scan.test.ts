/**
 * SQL introspection in a cluster: two workers (real partition hosts on their own logs and LevelDB stores), each
 * leading one of the two partitions and serving the worker API on loopback gRPC. A worker's Scan answers the
 * rows of the partition it leads, with every value's type kept (u64 as bigint, binary as Uint8Array, times as
 * numbers); the remote backend of the admin reads every partition from its leader, retries a partition on its
 * new leader after "not the leader", and holds one row limit over all partitions.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  InputError,
  type IntrospectionRow,
  newInvocationId,
  partitionKeyOf,
  partitionOf,
  type SchemaView,
} from '@stead/core';
import { LocalLogStore } from '@stead/log';
import { type Command, openPartitionStorage, PartitionHost } from '@stead/partition';
import { Cleanup, waitFor } from '@stead/testing';
import {
  type LeaderDirectory,
  RemoteBackend,
  RetryableError,
  serveWorker,
  type WorkerBackend,
  WorkerClient,
} from '../src/index.ts';

const PARTITIONS = 2;
const EPOCH = 1;
/** No services are registered: the invocations below never run, their attempts fail and are retried. */
const NO_SCHEMA: SchemaView = { service: () => undefined, deployment: () => undefined };

interface TestWorker {
  nodeId: string;
  address: string;
  host: PartitionHost;
}

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A worker for the test: a host leading `partition` (of PARTITIONS) on its own log and store, served on gRPC. */
async function startWorker(nodeId: string, partition: number): Promise<TestWorker> {
  const dir = cleanup.tempDir('stead-scan-');
  const logs = await LocalLogStore.open(join(dir, 'log'));
  cleanup.add(() => logs.close());
  const storage = await openPartitionStorage(join(dir, 'partitions'), { partitions: PARTITIONS });
  cleanup.add(() => storage.close());
  const host = new PartitionHost({
    partitions: PARTITIONS,
    schema: NO_SCHEMA,
    instance: nodeId,
    log: () => {},
    onFatal: (err) => {
      throw err;
    },
    commitIntervalMs: 10,
  });
  cleanup.add(() => host.close());
  await host.addPartition(partition, await logs.loglet(partition), storage.partition(partition));
  await host.lead(partition, EPOCH);
  const backend: WorkerBackend = {
    call: (req, signal) => host.call(req, signal),
    send: (req) => host.send(req),
    attach: (query, mode, signal) => host.attach(query, mode, signal),
    completeAwakeable: (id, result) => host.completeAwakeable(id, result),
    control: (id, op) => host.control(id, op),
    restartAsNew: (id) => host.restartAsNew(id),
    replaceState: (req) => host.replaceState(req),
    schedule: (pk, op) => host.schedule(pk, op),
    pinned: async () => ({ count: 0, partitions: [partition] }),
    status: () => ({ nodeId, instance: nodeId, partitions: [] }),
    scan: (p, table, opts) => host.scanPartition(p, table, opts),
  };
  const server = await serveWorker(backend, { host: '127.0.0.1', port: 0 });
  cleanup.add(() => server.close());
  return { nodeId, address: `127.0.0.1:${server.port}`, host };
}

/** An object key whose partition is `partition`. */
function keyIn(partition: number): string {
  for (let i = 0; ; i++) if (partitionOf(partitionKeyOf(`key-${i}`), PARTITIONS) === partition) return `key-${i}`;
}

/** SetStateCommandMessage: key (field 1), Value{content} (field 3); short key and value. */
function setState(key: string, value: Uint8Array) {
  const k = Buffer.from(key);
  const inner = Buffer.concat([Buffer.from([0x0a, value.length]), value]);
  return {
    type: 0x0403,
    bytes: Buffer.concat([Buffer.from([0x0a, k.length]), k, Buffer.from([0x1a, inner.length]), inner]),
  };
}

/** Starts an invocation of object `key` in the worker's partition and journals a state write for it. */
async function writeState(w: TestWorker, partition: number, key: string, value: Uint8Array): Promise<string> {
  const id = newInvocationId(partitionKeyOf(key)).toString();
  const processor = w.host.processor(partition);
  if (!processor) throw new Error(`${w.nodeId} does not host partition ${partition}`);
  const target = { service: 'Counter', handler: 'add', key, serviceType: 'VIRTUAL_OBJECT', handlerType: 'EXCLUSIVE' };
  const invoke: Command = {
    kind: 'Invoke',
    ts: 1000,
    inv: { id, target, input: new Uint8Array(), headers: [] },
  } as Command;
  await processor.append(invoke);
  const entry = setState('count', value);
  await processor.append({
    kind: 'Effect',
    ts: 2000,
    epoch: EPOCH,
    invocationId: id,
    effect: { kind: 'command', entry },
  });
  return id;
}

async function collect(rows: AsyncIterable<IntrospectionRow[]>): Promise<IntrospectionRow[]> {
  const out: IntrospectionRow[] = [];
  for await (const batch of rows) out.push(...batch);
  return out;
}

const isPlainBytes = (v: unknown) => v instanceof Uint8Array && Object.getPrototypeOf(v) === Uint8Array.prototype;

describe('introspection over the worker API', () => {
  it('a worker scans the partition it leads, with every value type kept, and refuses the others', async () => {
    const a = await startWorker('w1', 0);
    const key = keyIn(0);
    const binary = new Uint8Array([0xff, 0x00, 0x41]);
    const id = await writeState(a, 0, key, binary);
    const client = new WorkerClient(a.address);
    cleanup.add(() => client.close());

    const state = await waitFor(async () => {
      const rows = await collect(client.scan(0, 'state', { limit: 100 }));
      return rows.length === 1 ? rows : undefined;
    });
    expect(state).toEqual([
      {
        partition_key: partitionKeyOf(key),
        service_name: 'Counter',
        service_key: key,
        key: 'count',
        key_length: 5n,
        value: binary,
        value_length: 3n,
      },
    ]);
    expect(typeof state[0].partition_key).toBe('bigint');
    expect(isPlainBytes(state[0].value)).toBe(true);
    expect('value_utf8' in state[0]).toBe(false); // not UTF-8: NULL

    const [status] = await collect(client.scan(0, 'sys_invocation_status', { limit: 100 }));
    expect(status).toMatchObject({
      id,
      partition_key: partitionKeyOf(key),
      status: 'invoked',
      target: `Counter/${key}/add`,
      journal_size: 2,
      journal_commands_size: 2,
      created_at: 1000,
      running_at: 1000,
      completion_retention: 0,
    });
    // Asked for some columns, the worker reads and sends those only.
    const columns = new Set(['status', 'target']);
    expect(await collect(client.scan(0, 'sys_invocation_status', { limit: 100, columns }))).toEqual([
      { status: 'invoked', target: `Counter/${key}/add` },
    ]);
    // The leader's view of the attempts, which fail (no deployment): a retry count and the failure.
    const attempts = await waitFor(async () => {
      const [row] = await collect(client.scan(0, 'sys_invocation_state', { limit: 100 }));
      return row && (row.retry_count as bigint) >= 1n ? row : undefined;
    });
    expect(attempts).toMatchObject({ id, partition_key: partitionKeyOf(key) });
    expect(typeof attempts.in_flight).toBe('boolean');
    expect(String(attempts.last_failure)).toMatch(/service 'Counter' is not registered/);

    await expect(collect(client.scan(1, 'state', { limit: 100 }))).rejects.toBeInstanceOf(RetryableError);
    await expect(collect(client.scan(1, 'state', { limit: 100 }))).rejects.toMatchObject({ notLeaderOf: 1 });
    await expect(collect(client.scan(0, 'sys_nope', { limit: 100 }))).rejects.toBeInstanceOf(InputError);
  });

  it('the remote backend reads every partition from its leader, retries on a new leader, and holds the limit', async () => {
    const a = await startWorker('w1', 0);
    const b = await startWorker('w2', 1);
    const k0 = keyIn(0);
    const k1 = keyIn(1);
    await writeState(a, 0, k0, Buffer.from('zero'));
    await writeState(b, 1, k1, Buffer.from('one'));
    // The directory names w1 as partition 1's leader once (an old table), then w2.
    let stale = true;
    const dir: LeaderDirectory = {
      partitions: PARTITIONS,
      leader: (p) => {
        if (p === 0) return a;
        if (stale) {
          stale = false;
          return a;
        }
        return b;
      },
      onChange: () => () => {},
    };
    const clients = new Map<string, WorkerClient>();
    const remote = new RemoteBackend({
      leaders: dir,
      connect: (address) => {
        let c = clients.get(address);
        if (!c) {
          c = new WorkerClient(address);
          clients.set(address, c);
          cleanup.add(() => c?.close());
        }
        return c;
      },
      plan: () => {
        throw new Error('unused');
      },
      partitionKeyOfQuery: () => 0n,
      partitionKeyOfInvocation: () => 0n,
      partitionKeyOfAwakeable: () => 0n,
    });
    cleanup.add(() => remote.close());

    const rows = await waitFor(async () => {
      const all = await collect(remote.introspection.scan('state', { limit: 100 }));
      return all.length === 2 ? all : undefined;
    });
    expect(rows.map((r) => [r.service_key, r.value_utf8, r.partition_key]).sort()).toEqual(
      [
        [k0, 'zero', partitionKeyOf(k0)],
        [k1, 'one', partitionKeyOf(k1)],
      ].sort(),
    );
    expect(rows.every((r) => isPlainBytes(r.value) && typeof r.partition_key === 'bigint')).toBe(true);
    expect(remote.retries).toBeGreaterThanOrEqual(1);

    expect(await collect(remote.introspection.scan('state', { limit: 1 }))).toHaveLength(1);
    const invocations = await collect(remote.introspection.scan('sys_invocation', { limit: 100 }));
    expect(invocations.map((r) => r.target).sort()).toEqual([`Counter/${k0}/add`, `Counter/${k1}/add`].sort());

    const gone = new AbortController();
    gone.abort(new Error('the client went away'));
    await expect(collect(remote.introspection.scan('state', { limit: 100, signal: gone.signal }))).rejects.toThrow(
      'the client went away',
    );
  });
});
