import { afterEach, describe, expect, it } from '@jest/globals';
import {
  CLUSTER_KEYS,
  Controller,
  type ControllerHandle,
  type ControllerShellConfig,
  decodeLease,
  decodePartitionTable,
  type NodeRecord,
  type PartitionTable,
  readRequests,
  registerNode,
  setNodeDraining,
  submitRequest,
  updateClusterConfig,
} from '@stead/controller';
import { Prng, SimClock, type SimMetadataClient, SimMetadataStore } from '@stead/testing/sim';

const CONFIG: ControllerShellConfig = {
  partitions: 6,
  partitionReplication: 2,
  nodeFailureTimeoutMs: 3_000,
  roundMs: 500,
  pingTimeoutMs: 200,
  leaseRenewMs: 200,
  leaseTimeoutMs: 1_500,
};
const SEED = Number(process.env.SIM_SEED ?? 7);

/** Awaits `p` while moving simulated time. */
async function drive<T>(clock: SimClock, p: Promise<T>): Promise<T> {
  let done = false;
  const settled = p.finally(() => {
    done = true;
  });
  while (!done) await clock.runAsync(clock.now() + 10, () => done);
  return settled;
}

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops) await s();
  stops = [];
});

/** A simulated cluster: a metadata store, workers that answer pings (or not), controllers on their own clients. */
function cluster(workerIds: string[]) {
  const rng = new Prng(SEED);
  const clock = new SimClock(10_000);
  const store = new SimMetadataStore({ clock, latencyMs: () => rng.int(1, 5) });
  const alive = new Map(workerIds.map((id) => [id, true]));
  /** When each worker was last pinged while alive (the controller counts a heartbeat from the ping's start). */
  const lastAnsweredPing = new Map<string, number>();
  /** Workers that restarted elsewhere: only a ping to this address reaches them, and this instance answers. */
  const movedTo = new Map<string, { address: string; instance: string }>();
  /** Workers whose address refuses connections (the process is gone; not just silent). */
  const refusing = new Set<string>();
  const ping = (n: NodeRecord): Promise<boolean | { instance?: string; refused?: boolean }> =>
    new Promise((resolve, reject) => {
      if (refusing.has(n.id)) {
        clock.setTimeout(() => resolve({ refused: true }), rng.int(1, 5));
        return;
      }
      const moved = movedTo.get(n.id);
      if (moved && n.address !== moved.address) {
        clock.setTimeout(() => reject(new Error('connection refused')), rng.int(1, 10));
        return;
      }
      if (alive.get(n.id)) lastAnsweredPing.set(n.id, clock.now());
      if (!alive.get(n.id)) {
        if (rng.chance(0.5)) clock.setTimeout(() => reject(new Error('connection refused')), rng.int(1, 10));
        return; // otherwise no answer at all: the ping timeout decides
      }
      clock.setTimeout(() => resolve(moved ? { instance: moved.instance } : true), rng.int(1, 20));
    });
  const controllers: { name: string; client: SimMetadataClient; handle: ControllerHandle }[] = [];
  const startController = (name: string) => {
    const client = store.client(name);
    const handle = new Controller({
      client,
      nodeId: name,
      instance: `${name}-1`,
      config: CONFIG,
      ping,
      clock,
      timers: clock,
    }).run();
    stops.push(() => drive(clock, handle.stop()));
    const c = { name, client, handle };
    controllers.push(c);
    return c;
  };
  const register = async (id: string, roles: NodeRecord['roles'] = ['worker']) =>
    drive(
      clock,
      registerNode(store.client(`reg-${id}`), {
        id,
        instance: `${id}-1`,
        roles,
        address: `${id}:5122`,
        location: `zone-${id.charCodeAt(id.length - 1) % 2}`,
        draining: false,
      }),
    );
  const active = () => controllers.filter((c) => c.handle.status().active);
  /** Runs simulated time, checking after every step that no two controllers are active at once. */
  const run = async (ms: number, until?: () => boolean) => {
    const end = clock.now() + ms;
    while (clock.now() < end) {
      await clock.runAsync(Math.min(end, clock.now() + 10));
      expect(active().length).toBeLessThanOrEqual(1);
      if (until?.()) return;
    }
  };
  const table = (): PartitionTable | undefined => {
    const v = store.peek(CLUSTER_KEYS.partitionTable);
    return v && decodePartitionTable(CLUSTER_KEYS.partitionTable, v.value);
  };
  const tableWrites = () =>
    store.writes
      .filter((w) => w.key === CLUSTER_KEYS.partitionTable && w.value)
      .map((w) => ({ ...w, table: decodePartitionTable(w.key, w.value!) }));
  return {
    clock,
    store,
    alive,
    movedTo,
    refusing,
    lastAnsweredPing,
    startController,
    register,
    active,
    run,
    table,
    tableWrites,
  };
}

type Cluster = ReturnType<typeof cluster>;

/** Invariants over the whole history of table writes (each version was written conditional on the one before). */
function checkHistory(c: Cluster): void {
  const writes = c.tableWrites();
  const leaseWrites = c.store.writes.filter((w) => w.key === CLUSTER_KEYS.controllerLease && w.value);
  const writerOfTerm = new Map<number, string>();
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i];
    // A term is the version of a lease write by the same controller; one writer per term.
    const lease = leaseWrites.find((l) => l.version === w.table.controllerTerm);
    expect(lease?.by).toBe(w.by);
    expect(lease && decodeLease(CLUSTER_KEYS.controllerLease, lease.value!).nodeId).toBe(w.table.controller);
    expect(writerOfTerm.get(w.table.controllerTerm) ?? w.by).toBe(w.by);
    writerOfTerm.set(w.table.controllerTerm, w.by);
    if (i === 0) continue;
    const prev = writes[i - 1];
    // Terms never go back; a write is at most one term... of any later holder, never an earlier one.
    expect(w.table.controllerTerm).toBeGreaterThanOrEqual(prev.table.controllerTerm);
    for (const p of w.table.placements) {
      const o = prev.table.placements.find((x) => x.partition === p.partition)!;
      // Epochs never go back, and grow by exactly one per leader change.
      expect(p.epoch).toBe(p.leader === o.leader ? o.epoch : o.epoch + 1);
    }
  }
}

const leaderships = (t: PartitionTable, id: string) => t.placements.filter((p) => p.leader === id).length;
const replicasOn = (t: PartitionTable, id: string) => t.placements.filter((p) => p.replicas.includes(id)).length;

describe('controller shell (simulation)', () => {
  it('one controller of two writes the table; the other takes over when the first dies, evicting nobody', async () => {
    const c = cluster(['w1', 'w2', 'w3']);
    for (const id of ['w1', 'w2', 'w3']) await c.register(id);
    await c.register('ingress-1', ['ingress']);
    const a = c.startController('admin-a');
    const b = c.startController('admin-b');
    await c.run(5_000);

    const [first] = c.active();
    expect(first).toBeDefined();
    const t1 = c.table()!;
    expect(t1.partitions).toBe(6);
    for (const p of t1.placements) {
      expect(p.replicas).toHaveLength(2);
      expect(p.leader).toBeDefined();
      expect(p.epoch).toBe(1);
    }
    for (const w of ['w1', 'w2', 'w3']) expect(leaderships(t1, w)).toBe(2);
    expect(new Set(c.tableWrites().map((w) => w.by))).toEqual(new Set([first.name]));
    const status = first.handle.status();
    expect(status.lastRound?.tableVersion).toBe(c.store.peek(CLUSTER_KEYS.partitionTable)!.version);
    expect(status.lastRound?.nodes.map((n) => [n.id, n.alive])).toEqual([
      ['ingress-1', false],
      ['w1', true],
      ['w2', true],
      ['w3', true],
    ]);
    const other = first === a ? b : a;
    expect(other.handle.status()).toMatchObject({ active: false, leaseHolder: first.name });

    // The active controller dies (its store connection is cut; it does not release the lease).
    first.client.down = true;
    const killedAt = c.clock.now();
    await c.run(10_000, () => other.handle.status().active && other.handle.status().lastRound !== undefined);
    expect(other.handle.status().active).toBe(true);
    expect(c.clock.now() - killedAt).toBeLessThanOrEqual(
      CONFIG.leaseTimeoutMs! + 2 * CONFIG.leaseRenewMs! + CONFIG.roundMs,
    );
    expect(first.handle.status().active).toBe(false);
    await c.run(5_000);
    // The failover changed no leader: every worker stayed alive throughout.
    expect(c.table()!.placements).toEqual(t1.placements);
    checkHistory(c);
  });

  it('a silent worker loses its replicas and leaderships after the failure timeout and gets them back', async () => {
    const c = cluster(['w1', 'w2', 'w3', 'w4']);
    for (const id of ['w1', 'w2', 'w3', 'w4']) await c.register(id);
    c.startController('admin-a');
    c.startController('admin-b');
    await c.run(8_000);
    const settled = c.table()!;
    for (const w of ['w1', 'w2', 'w3', 'w4']) expect(leaderships(settled, w)).toBeGreaterThanOrEqual(1);

    c.alive.set('w2', false);
    const diedAt = c.clock.now();
    await c.run(20_000, () => replicasOn(c.table()!, 'w2') === 0);
    expect(replicasOn(c.table()!, 'w2')).toBe(0);
    expect(leaderships(c.table()!, 'w2')).toBe(0);
    expect(c.clock.now() - c.lastAnsweredPing.get('w2')!).toBeGreaterThan(CONFIG.nodeFailureTimeoutMs);
    expect(c.clock.now() - diedAt).toBeLessThanOrEqual(CONFIG.nodeFailureTimeoutMs + 2 * CONFIG.roundMs);
    await c.run(5_000); // rebalancing among the three others settles
    const without = c.table()!;
    expect(replicasOn(without, 'w2')).toBe(0);
    for (const p of without.placements) {
      expect(p.replicas).toHaveLength(2);
      expect(p.leader).toBeDefined();
    }
    // Where w2 led, the epoch grew by one.
    for (const p of settled.placements.filter((x) => x.leader === 'w2'))
      expect(without.placements[p.partition].epoch).toBe(p.epoch + 1);

    c.alive.set('w2', true);
    await c.run(30_000, () => replicasOn(c.table()!, 'w2') === 3 && leaderships(c.table()!, 'w2') >= 1);
    const back = c.table()!;
    expect(replicasOn(back, 'w2')).toBe(3); // 6 partitions × 2 replicas over 4 workers
    expect(leaderships(back, 'w2')).toBeGreaterThanOrEqual(1);
    checkHistory(c);
  });

  it('reads little from the metadata store, and finds a worker that restarted at another address', async () => {
    const c = cluster(['w1', 'w2', 'w3']);
    for (const id of ['w1', 'w2', 'w3']) await c.register(id);
    const ctl = c.startController('admin-a');
    await c.run(8_000, () => c.table() !== undefined);
    // Steady state: the node index, the cluster config and the operator requests about once a second; records and
    // the table only every RECORD_MAX_AGE_MS.
    const from = c.clock.now();
    await c.run(20_000);
    const reads = c.store.reads.filter((r) => r.by === ctl.client.name && r.atMs >= from && !r.key.includes('lease'));
    expect(reads.length / 20).toBeLessThan(4);
    const before = c.table()!;
    // w2 comes back as a new process at a new address; only pings there (from its new record) reach it.
    await drive(
      c.clock,
      registerNode(c.store.client('reg-w2-again'), {
        id: 'w2',
        instance: 'w2-2',
        roles: ['worker'],
        address: 'w2-elsewhere:5122',
        location: 'zone-0',
        draining: false,
      }),
    );
    c.movedTo.set('w2', { address: 'w2-elsewhere:5122', instance: 'w2-2' });
    const movedAt = c.clock.now();
    await c.run(10_000, () => (c.lastAnsweredPing.get('w2') ?? 0) > movedAt);
    expect(c.lastAnsweredPing.get('w2')).toBeGreaterThan(movedAt);
    // Seen again within the failure timeout: w2 kept its replicas.
    await c.run(CONFIG.nodeFailureTimeoutMs + 2 * CONFIG.roundMs);
    expect(replicasOn(c.table()!, 'w2')).toBe(replicasOn(before, 'w2'));
    checkHistory(c);
  });

  it('a worker whose address refuses connections loses its leaderships within a round or two, not after the timeout', async () => {
    const c = cluster(['w1', 'w2', 'w3']);
    for (const id of ['w1', 'w2', 'w3']) await c.register(id);
    c.startController('admin-a');
    await c.run(8_000, () => c.table() !== undefined && leaderships(c.table()!, 'w2') > 0);
    await c.run(2_000);
    expect(leaderships(c.table()!, 'w2')).toBeGreaterThan(0);
    c.refusing.add('w2');
    const goneAt = c.clock.now();
    await c.run(CONFIG.nodeFailureTimeoutMs, () => leaderships(c.table()!, 'w2') === 0);
    expect(leaderships(c.table()!, 'w2')).toBe(0);
    expect(c.clock.now() - goneAt).toBeLessThanOrEqual(3 * CONFIG.roundMs);
    // Back (a new process answering there): it gets work again.
    c.refusing.delete('w2');
    await c.run(30_000, () => leaderships(c.table()!, 'w2') >= 1);
    expect(leaderships(c.table()!, 'w2')).toBeGreaterThanOrEqual(1);
    checkHistory(c);
  });

  it('controllers that keep failing over never break the table history', async () => {
    const c = cluster(['w1', 'w2', 'w3']);
    for (const id of ['w1', 'w2', 'w3']) await c.register(id);
    const rng = new Prng(SEED + 1);
    const ctrls = [c.startController('admin-a'), c.startController('admin-b'), c.startController('admin-c')];
    for (let step = 0; step < 40; step++) {
      const victim = rng.pick(ctrls);
      victim.client.down = !victim.client.down;
      if (rng.chance(0.3)) c.alive.set(rng.pick(['w1', 'w2', 'w3']), rng.chance(0.7));
      await c.run(rng.int(200, 3_000));
    }
    for (const x of ctrls) x.client.down = false;
    for (const w of ['w1', 'w2', 'w3']) c.alive.set(w, true);
    await c.run(20_000);
    expect(c.active()).toHaveLength(1);
    // The lease changed hands (the scenario did exercise failovers).
    const holders = new Set(c.store.writes.filter((w) => w.key === CLUSTER_KEYS.controllerLease).map((w) => w.by));
    expect(holders.size).toBeGreaterThan(1);
    for (const p of c.table()!.placements) expect(p.leader).toBeDefined();
    checkHistory(c);
  });
});

describe('controller shell: operator settings and requests', () => {
  const replicasOn = (t: PartitionTable, id: string) => t.placements.filter((p) => p.replicas.includes(id)).length;

  it('applies a cluster config change, a drain of a node record and a leadership transfer within seconds', async () => {
    const c = cluster(['w1', 'w2', 'w3']);
    for (const id of ['w1', 'w2', 'w3']) await c.register(id);
    const ctl = c.startController('admin-a');
    await c.run(8_000, () => c.table()?.placements.every((p) => p.leader !== undefined) === true);
    const op = c.store.client('operator');
    // Replication 3 from the cluster config record (the shell's own config says 2).
    await drive(
      c.clock,
      updateClusterConfig(op, () => ({
        partitionReplication: { scope: 'node', count: 3 },
        logReplication: { scope: 'node', count: 2 },
      })),
    );
    await c.run(10_000, () => c.table()!.placements.every((p) => p.replicas.length === 3));
    expect(c.table()!.replication).toBe(3);
    expect(c.table()!.placements.every((p) => p.replicas.length === 3)).toBe(true);

    const p0 = c.table()!.placements[0];
    const to = p0.replicas.find((r) => r !== p0.leader)!;
    await drive(c.clock, submitRequest(op, { id: 'r1', kind: 'transfer-leader', partition: 0, to }));
    await c.run(5_000, () => c.table()!.placements[0].leader === to);
    expect(c.table()!.placements[0]).toMatchObject({ leader: to, epoch: p0.epoch + 1 });
    await c.run(2_000, () => ctl.handle.status().lastRound?.requests.length === 1);
    expect((await drive(c.clock, readRequests(op))).requests).toEqual([]);

    // A drain through the record: seen within a second or two thanks to the node-changed notice.
    await drive(c.clock, setNodeDraining(op, 'w3', true));
    await drive(c.clock, submitRequest(op, { id: 'n1', kind: 'node-changed', node: 'w3' }));
    await c.run(8_000, () => replicasOn(c.table()!, 'w3') === 0);
    expect(replicasOn(c.table()!, 'w3')).toBe(0);
    expect(c.table()!.placements.every((p) => p.replicas.length === 2 && p.leader !== 'w3')).toBe(true);
  });
});
