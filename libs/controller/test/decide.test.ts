import { describe, expect, it } from '@jest/globals';
import {
  type ControllerConfig,
  type Decision,
  decide,
  type NodeView,
  type PartitionPlacement,
} from '@stead/controller';

const NOW = 100_000;
const config = (over: Partial<ControllerConfig> = {}): ControllerConfig => ({
  partitions: 4,
  partitionReplication: 2,
  nodeFailureTimeoutMs: 5_000,
  ...over,
});
const worker = (id: string, over: Partial<NodeView> = {}): NodeView => ({
  id,
  roles: ['worker'],
  lastHeartbeatMs: NOW,
  ...over,
});
const dead = (id: string, over: Partial<NodeView> = {}): NodeView =>
  worker(id, { lastHeartbeatMs: NOW - 5_001, ...over });

/** Applies `decide` to its own output until nothing changes; returns every round's decision. */
function converge(nodes: NodeView[], table: PartitionPlacement[], cfg: ControllerConfig, maxRounds = 200): Decision[] {
  const rounds: Decision[] = [];
  for (let i = 0; i < maxRounds; i++) {
    const d = decide({ nowMs: NOW, nodes, table, config: cfg });
    rounds.push(d);
    if (d.changes.length === 0) return rounds;
    table = d.table;
  }
  throw new Error(`no fixpoint after ${maxRounds} rounds`);
}
const last = (rounds: Decision[]): PartitionPlacement[] => rounds[rounds.length - 1].table;
const leadersOf = (table: PartitionPlacement[], id: string): number => table.filter((p) => p.leader === id).length;
const replicasOf = (table: PartitionPlacement[], id: string): number =>
  table.filter((p) => p.replicas.includes(id)).length;

describe('first table', () => {
  it('creates every partition with the replication factor, a leader and epoch 1', () => {
    const nodes = ['a', 'b', 'c'].map((id) => worker(id));
    const d = decide({ nowMs: NOW, nodes, table: [], config: config({ partitions: 3 }) });
    expect(d.table).toEqual([
      { partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 1 },
      { partition: 1, replicas: ['a', 'c'], leader: 'c', epoch: 1 },
      { partition: 2, replicas: ['b', 'c'], leader: 'b', epoch: 1 },
    ]);
    expect(d.changes.filter((c) => c.kind === 'partition-created')).toHaveLength(3);
    expect(d.changes).toContainEqual({ kind: 'replica-added', partition: 0, node: 'a', reason: 'initial' });
    expect(d.changes).toContainEqual({ kind: 'leader-changed', partition: 0, to: 'a', reason: 'initial' });
    expect(d.changes).toContainEqual({ kind: 'epoch-bumped', partition: 0, from: 0, to: 1 });
  });

  it('uses as many replicas as there are live non-draining workers when fewer than the factor', () => {
    const nodes = [worker('a'), worker('b', { draining: true }), dead('c')];
    const d = decide({ nowMs: NOW, nodes, table: [], config: config({ partitions: 2, partitionReplication: 3 }) });
    expect(d.table.map((p) => p.replicas)).toEqual([['a'], ['a']]);
  });

  it('spreads the replicas of a partition across zones', () => {
    const nodes = [
      worker('a', { location: 'r.z1' }),
      worker('b', { location: 'r.z1' }),
      worker('c', { location: 'r.z2' }),
      worker('d', { location: 'r.z2' }),
    ];
    const { table } = decide({ nowMs: NOW, nodes, table: [], config: config({ partitions: 4 }) });
    const zone = (id: string): string => nodes.find((n) => n.id === id)!.location!;
    for (const p of table) expect(new Set(p.replicas.map(zone)).size).toBe(2);
  });

  it('ignores nodes without the worker role and is the same for the same input in any order', () => {
    const nodes = [worker('c'), { ...worker('z'), roles: ['log-server' as const] }, worker('a'), worker('b')];
    const one = decide({ nowMs: NOW, nodes, table: [], config: config() });
    const two = decide({ nowMs: NOW, nodes: [...nodes].reverse(), table: [], config: config() });
    expect(two).toEqual(one);
    expect(one.table.flatMap((p) => p.replicas)).not.toContain('z');
  });
});

describe('failures', () => {
  it('replaces a dead leader by a live replica and bumps the epoch by one', () => {
    const nodes = [dead('a'), worker('b'), worker('c')];
    const table = [{ partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 7 }];
    const d = decide({ nowMs: NOW, nodes, table, config: config({ partitions: 1 }) });
    expect(d.table).toEqual([{ partition: 0, replicas: ['b', 'c'], leader: 'b', epoch: 8 }]);
    expect(d.changes).toEqual([
      { kind: 'replica-removed', partition: 0, node: 'a', reason: 'dead' },
      { kind: 'replica-added', partition: 0, node: 'c', reason: 'replace' },
      { kind: 'leader-changed', partition: 0, from: 'a', to: 'b', reason: 'leader-lost' },
      { kind: 'epoch-bumped', partition: 0, from: 7, to: 8 },
    ]);
  });

  it('keeps a live leader and its epoch', () => {
    const nodes = [worker('a'), worker('b')];
    const table = [{ partition: 0, replicas: ['a', 'b'], leader: 'b', epoch: 3 }];
    const d = decide({ nowMs: NOW, nodes, table, config: config({ partitions: 1 }) });
    expect(d).toEqual({ table, changes: [], unavailable: [], requests: [] });
  });

  it('treats a heartbeat exactly at the timeout as live', () => {
    const nodes = [worker('a', { lastHeartbeatMs: NOW - 5_000 })];
    const table = [{ partition: 0, replicas: ['a'], leader: 'a', epoch: 1 }];
    expect(decide({ nowMs: NOW, nodes, table, config: config({ partitions: 1 }) }).changes).toEqual([]);
  });

  it('keeps no leader for a partition with no live replica, reports it, and keeps its replicas', () => {
    const nodes = [dead('a'), dead('b')];
    const table = [{ partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 4 }];
    const d = decide({ nowMs: NOW, nodes, table, config: config({ partitions: 1 }) });
    expect(d.table).toEqual([{ partition: 0, replicas: ['a', 'b'], epoch: 5 }]);
    expect(d.unavailable).toEqual([0]);
    const again = decide({ nowMs: NOW, nodes, table: d.table, config: config({ partitions: 1 }) });
    expect(again).toEqual({ table: d.table, changes: [], unavailable: [0], requests: [] });
  });

  it('cleans a garbage table: unknown nodes, duplicates, leader outside the set, stray entries', () => {
    const nodes = [worker('a'), worker('b')];
    const table = [
      { partition: 0, replicas: ['a', 'a', 'ghost'], leader: 'b', epoch: 2 },
      { partition: 0, replicas: ['b'], leader: 'b', epoch: 9 },
      { partition: 5, replicas: ['a'], leader: 'a', epoch: 1 },
    ];
    const d = decide({ nowMs: NOW, nodes, table, config: config({ partitions: 1 }) });
    expect(d.table).toEqual([{ partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 3 }]);
    expect(d.changes).toContainEqual({ kind: 'entry-dropped', partition: 0, reason: 'duplicate' });
    expect(d.changes).toContainEqual({ kind: 'entry-dropped', partition: 5, reason: 'out-of-range' });
    expect(d.changes).toContainEqual({ kind: 'replica-removed', partition: 0, node: 'a', reason: 'duplicate' });
    expect(d.changes).toContainEqual({ kind: 'replica-removed', partition: 0, node: 'ghost', reason: 'dead' });
  });
});

describe('draining', () => {
  it('empties a draining worker one move at a time, adding each replacement before removing', () => {
    const cfg = config({ partitions: 4, maxMovesPerRound: 1 });
    const nodes = ['a', 'b', 'c'].map((id) => worker(id));
    const start = last(converge(nodes, [], cfg));
    const draining = nodes.map((n) => (n.id === 'a' ? { ...n, draining: true } : n));
    const rounds = converge(draining, start, cfg);
    const final = last(rounds);
    expect(replicasOf(final, 'a')).toBe(0);
    expect(leadersOf(final, 'a')).toBe(0);
    for (const d of rounds) {
      const added = d.changes.filter((c) => c.kind === 'replica-added' && c.reason === 'drain');
      expect(added.length).toBeLessThanOrEqual(1);
      // Never fewer than the factor: the replacement is in place before the draining replica leaves.
      for (const p of d.table) expect(p.replicas.length).toBeGreaterThanOrEqual(2);
    }
    expect(rounds.length).toBeGreaterThan(replicasOf(start, 'a'));
    for (const p of final) expect(p.replicas).toHaveLength(2);
  });

  it('moves the leadership off a draining worker at once', () => {
    const nodes = [worker('a', { draining: true }), worker('b')];
    const table = [{ partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 1 }];
    const d = decide({ nowMs: NOW, nodes, table, config: config({ partitions: 1 }) });
    expect(d.table[0].leader).toBe('b');
    expect(d.table[0].epoch).toBe(2);
  });
});

describe('balance', () => {
  it('fills a new worker gradually, within the per-round bound, until counts differ by at most one', () => {
    const cfg = config({ partitions: 6, maxMovesPerRound: 2 });
    const before = ['a', 'b'].map((id) => worker(id));
    const start = last(converge(before, [], cfg));
    const nodes = [...before, worker('c')];
    const rounds = converge(nodes, start, cfg);
    for (const d of rounds) {
      const moves = d.changes.filter(
        (c) => (c.kind === 'replica-added' || c.kind === 'leader-changed') && c.reason === 'rebalance',
      );
      expect(moves.length).toBeLessThanOrEqual(2);
    }
    expect(rounds.length).toBeGreaterThan(2);
    const final = last(rounds);
    expect(['a', 'b', 'c'].map((id) => replicasOf(final, id))).toEqual([4, 4, 4]);
    expect(['a', 'b', 'c'].map((id) => leadersOf(final, id))).toEqual([2, 2, 2]);
  });

  it('epochs grow by exactly one per leader change', () => {
    const cfg = config({ partitions: 6 });
    const start = last(
      converge(
        ['a', 'b'].map((id) => worker(id)),
        [],
        cfg,
      ),
    );
    let table = start;
    for (const d of converge(
      ['a', 'b', 'c'].map((id) => worker(id)),
      start,
      cfg,
    )) {
      for (const p of d.table) {
        const prior = table.find((q) => q.partition === p.partition)!;
        expect(p.epoch).toBe(prior.epoch + (p.leader === prior.leader ? 0 : 1));
      }
      table = d.table;
    }
  });
});

describe('edge cases', () => {
  it('never lowers a garbage epoch: a fraction rounds up, a non-number starts from 0', () => {
    const nodes = [worker('a')];
    const table = [
      { partition: 0, replicas: ['a'], epoch: 2.5 },
      { partition: 1, replicas: ['a'], epoch: Number.NaN },
    ];
    const d = decide({ nowMs: NOW, nodes, table, config: config({ partitions: 2 }) });
    expect(d.table.map((p) => p.epoch)).toEqual([4, 1]);
  });

  it('keeps the latest heartbeat of a node listed twice', () => {
    const nodes = [worker('a', { lastHeartbeatMs: 0 }), worker('a'), worker('b')];
    const { table } = decide({ nowMs: NOW, nodes, table: [], config: config({ partitions: 1 }) });
    expect(table[0].replicas).toEqual(['a', 'b']);
  });

  it('never holds more than one replica beyond the factor when every replica of a partition drains', () => {
    const cfg = config({ partitions: 1, maxMovesPerRound: 1 });
    const table = [{ partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 1 }];
    const nodes = [worker('a', { draining: true }), worker('b', { draining: true }), worker('c'), worker('d')];
    const rounds = converge(nodes, table, cfg);
    for (const d of rounds) expect(d.table[0].replicas.length).toBeLessThanOrEqual(3);
    expect(last(rounds)[0]).toEqual({ partition: 0, replicas: ['c', 'd'], leader: 'c', epoch: 2 });
  });

  it('leaves a partition on its draining workers while there is no other worker, led by one of them', () => {
    const nodes = [worker('a', { draining: true }), dead('b')];
    const table = [{ partition: 0, replicas: ['a', 'b'], leader: 'b', epoch: 1 }];
    const d = decide({ nowMs: NOW, nodes, table, config: config({ partitions: 1 }) });
    expect(d.table).toEqual([{ partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 2 }]);
    expect(d.unavailable).toEqual([]);
  });
});

describe('scale', () => {
  it('places 1024 partitions on 9 workers in 3 zones at once, balanced and spread over zones', () => {
    const nodes = Array.from({ length: 9 }, (_, i) => worker(`w${i}`, { location: `r.z${i % 3}` }));
    const cfg = config({ partitions: 1024, partitionReplication: 3 });
    const started = performance.now();
    const rounds = converge(nodes, [], cfg);
    const table = last(rounds);
    expect(performance.now() - started).toBeLessThan(10_000);
    const replicas = nodes.map((n) => replicasOf(table, n.id));
    const leaders = nodes.map((n) => leadersOf(table, n.id));
    expect(Math.max(...replicas) - Math.min(...replicas)).toBeLessThanOrEqual(1);
    expect(Math.max(...leaders) - Math.min(...leaders)).toBeLessThanOrEqual(1);
    const zone = (id: string): string => nodes.find((n) => n.id === id)!.location!;
    for (const p of table) expect(new Set(p.replicas.map(zone)).size).toBe(3);
  });
});

describe('a lost leader', () => {
  it('is replaced by the replica that already followed the partition, not by the one added in its place', () => {
    // c leads nothing, b leads two: by load alone the fresh replica c would lead partition 0.
    const table: PartitionPlacement[] = [
      { partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 3 },
      { partition: 1, replicas: ['b', 'c'], leader: 'b', epoch: 1 },
      { partition: 2, replicas: ['b', 'c'], leader: 'b', epoch: 1 },
    ];
    const d = decide({
      nowMs: NOW,
      nodes: [dead('a'), worker('b'), worker('c')],
      table,
      config: config({ partitions: 3, maxMovesPerRound: 0 }),
    });
    expect(d.table[0]).toEqual({ partition: 0, replicas: ['b', 'c'], leader: 'b', epoch: 4 });
    expect(d.changes).toContainEqual({ kind: 'replica-added', partition: 0, node: 'c', reason: 'replace' });
    // Balancing later may hand leadership to c, once c is a replica of the input table.
    const later = converge([dead('a'), worker('b'), worker('c')], d.table, config({ partitions: 3 }));
    expect(leadersOf(last(later), 'c')).toBeGreaterThanOrEqual(1);
  });
});

describe('the replica replacement delay', () => {
  const table: PartitionPlacement[] = [
    { partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 1 },
    { partition: 1, replicas: ['b', 'c'], leader: 'b', epoch: 1 },
  ];
  const cfg = config({ partitions: 2, replicaReplacementDelayMs: 10_000, maxMovesPerRound: 0 });

  it('moves a failed worker’s leaderships at once and keeps its replicas until the delay has passed', () => {
    const within = decide({ nowMs: NOW, nodes: [dead('a'), worker('b'), worker('c')], table, config: cfg });
    expect(within.table[0]).toEqual({ partition: 0, replicas: ['a', 'b'], leader: 'b', epoch: 2 });
    expect(within.changes.filter((c) => c.kind === 'replica-removed' || c.kind === 'replica-added')).toEqual([]);
    // Past failure timeout + delay: replaced.
    const after = decide({
      nowMs: NOW,
      nodes: [worker('a', { lastHeartbeatMs: NOW - 5_000 - 10_001 }), worker('b'), worker('c')],
      table: within.table,
      config: cfg,
    });
    expect(after.table[0]).toEqual({ partition: 0, replicas: ['b', 'c'], leader: 'b', epoch: 2 });
    expect(after.changes).toContainEqual({ kind: 'replica-removed', partition: 0, node: 'a', reason: 'dead' });
  });

  it('counts a worker known to have failed as dead at once, whatever its last heartbeat', () => {
    const d = decide({
      nowMs: NOW,
      nodes: [worker('a', { failed: true }), worker('b'), worker('c')],
      table,
      config: config({ partitions: 2, maxMovesPerRound: 0 }),
    });
    expect(d.table[0]).toEqual({ partition: 0, replicas: ['b', 'c'], leader: 'b', epoch: 2 });
  });
});

describe('{zone: N} replication', () => {
  const zoned = (n: number, zones: number) =>
    Array.from({ length: n }, (_, i) => worker(`w${i}`, { location: `r.z${i % zones}` }));
  const zoneOfNode = (nodes: NodeView[], id: string): string => nodes.find((n) => n.id === id)!.location!;
  const spans = (nodes: NodeView[], p: PartitionPlacement): number =>
    new Set(p.replicas.map((r) => zoneOfNode(nodes, r))).size;

  it('places the replicas of every partition in distinct zones even when load would prefer otherwise', () => {
    // Zone z0 has one worker, z1 three: node scope balances load and may pair two z1 workers; zone scope may not.
    const nodes = [
      worker('a', { location: 'r.z0' }),
      worker('b', { location: 'r.z1' }),
      worker('c', { location: 'r.z1' }),
      worker('d', { location: 'r.z1' }),
    ];
    const byNode = last(converge(nodes, [], config({ partitions: 8 })));
    expect(byNode.some((p) => spans(nodes, p) < 2)).toBe(true);
    const byZone = last(converge(nodes, [], config({ partitions: 8, partitionReplicationScope: 'zone' })));
    for (const p of byZone) expect(spans(nodes, p)).toBe(2);
    expect(replicasOf(byZone, 'a')).toBe(8);
  });

  it('moves a replica out of a shared zone once a worker in a free zone joins', () => {
    const cfg = config({ partitions: 6, partitionReplication: 2, partitionReplicationScope: 'zone' });
    const two = [worker('a', { location: 'r.z0' }), worker('b', { location: 'r.z0' })];
    const start = last(converge(two, [], cfg));
    for (const p of start) expect(spans(two, p)).toBe(1); // one zone: distinct workers is all it can do
    const nodes = [...two, worker('c', { location: 'r.z1' }), worker('d', { location: 'r.z1' })];
    const rounds = converge(nodes, start, cfg);
    for (const p of last(rounds)) expect(spans(nodes, p)).toBe(2);
    for (const d of rounds) expect(d.table.every((p) => p.replicas.length <= 3)).toBe(true);
    const replicas = nodes.map((n) => replicasOf(last(rounds), n.id));
    expect(Math.max(...replicas) - Math.min(...replicas)).toBeLessThanOrEqual(1);
  });

  it('keeps every partition led and spread over the two zones left when a whole zone dies', () => {
    const cfg = config({ partitions: 12, partitionReplication: 2, partitionReplicationScope: 'zone' });
    const nodes = zoned(6, 3);
    const start = last(converge(nodes, [], cfg));
    for (const p of start) expect(spans(nodes, p)).toBe(2);
    const after = nodes.map((n) => (n.location === 'r.z2' ? dead(n.id, { location: n.location }) : n));
    const rounds = converge(after, start, cfg);
    const first = rounds[0];
    expect(first.unavailable).toEqual([]);
    for (const p of first.table) expect(after.find((n) => n.id === p.leader)!.location).not.toBe('r.z2');
    for (const p of last(rounds)) {
      expect(spans(after, p)).toBe(2);
      for (const r of p.replicas) expect(zoneOfNode(after, r)).not.toBe('r.z2');
    }
  });
});

describe('operator requests', () => {
  const nodes = ['a', 'b', 'c'].map((id) => worker(id));
  // Within the balance tolerance: replicas a:3, b:3, c:2; leaders a:2, b:1, c:1.
  const table: PartitionPlacement[] = [
    { partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 3 },
    { partition: 1, replicas: ['b', 'c'], leader: 'b', epoch: 2 },
    { partition: 2, replicas: ['a', 'c'], leader: 'c', epoch: 5 },
    { partition: 3, replicas: ['a', 'b'], leader: 'a', epoch: 1 },
  ];
  const cfg = config({ partitions: 4 });
  const move = (partition: number, from: string, to: string) =>
    ({ id: `m${partition}${from}${to}`, kind: 'move', partition, from, to }) as const;
  const transfer = (partition: number, to: string) =>
    ({ id: `t${partition}${to}`, kind: 'transfer-leader', partition, to }) as const;

  it('the table is settled to begin with', () => {
    expect(decide({ nowMs: NOW, nodes, table, config: cfg }).changes).toEqual([]);
  });

  it('moves a replica in two rounds: the new one is added, then the old one goes once it followed a round', () => {
    const req = move(0, 'b', 'c');
    const one = decide({ nowMs: NOW, nodes, table, config: cfg, requests: [req] });
    expect(one.table[0]).toEqual({ partition: 0, replicas: ['a', 'b', 'c'], leader: 'a', epoch: 3 });
    expect(one.changes).toEqual([{ kind: 'replica-added', partition: 0, node: 'c', reason: 'operator' }]);
    expect(one.requests).toEqual([{ request: req, status: 'pending' }]);
    const two = decide({ nowMs: NOW, nodes, table: one.table, config: cfg, requests: [req] });
    expect(two.table[0]).toEqual({ partition: 0, replicas: ['a', 'c'], leader: 'a', epoch: 3 });
    expect(two.changes).toEqual([{ kind: 'replica-removed', partition: 0, node: 'b', reason: 'operator' }]);
    expect(two.requests).toEqual([{ request: req, status: 'done' }]);
    // Within the tolerance (replicas a:3, b:2, c:3): balancing leaves it.
    expect(converge(nodes, two.table, cfg)).toHaveLength(1);
  });

  it('moving the leader hands its leadership to a replica that followed the log, the epoch bumped once', () => {
    const req = move(0, 'a', 'c');
    const one = decide({ nowMs: NOW, nodes, table, config: cfg, requests: [req] });
    expect(one.table[0].leader).toBe('a');
    const two = decide({ nowMs: NOW, nodes, table: one.table, config: cfg, requests: [req] });
    expect(two.table[0]).toMatchObject({ replicas: ['b', 'c'], epoch: 4 });
    expect(['b', 'c']).toContain(two.table[0].leader);
    expect(two.changes).toContainEqual(
      expect.objectContaining({ kind: 'leader-changed', partition: 0, from: 'a', reason: 'operator' }),
    );
  });

  it('transfers the leadership to a replica (epoch + 1); balancing leaves it within the tolerance', () => {
    const req = transfer(0, 'b'); // leaders a:1, b:2, c:1
    const one = decide({ nowMs: NOW, nodes, table, config: cfg, requests: [req] });
    expect(one.table[0]).toEqual({ partition: 0, replicas: ['a', 'b'], leader: 'b', epoch: 4 });
    expect(one.changes).toEqual([
      { kind: 'leader-changed', partition: 0, from: 'a', to: 'b', reason: 'operator' },
      { kind: 'epoch-bumped', partition: 0, from: 3, to: 4 },
    ]);
    expect(one.requests).toEqual([{ request: req, status: 'done' }]);
    expect(converge(nodes, one.table, cfg)).toHaveLength(1);
  });

  it('a transfer that makes a larger imbalance is kept this round and rebalanced in later ones', () => {
    const one = decide({ nowMs: NOW, nodes, table, config: cfg, requests: [transfer(2, 'a')] }); // a:3, c:0
    expect(one.table[2].leader).toBe('a');
    const rest = last(converge(nodes, one.table, cfg));
    const counts = ['a', 'b', 'c'].map((id) => leadersOf(rest, id));
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('waits for a replica added this round to follow the log before it leads', () => {
    const t: PartitionPlacement[] = [{ partition: 0, replicas: ['a'], leader: 'a', epoch: 1 }];
    const req = transfer(0, 'b');
    const c1 = config({ partitions: 1, partitionReplication: 2 });
    const one = decide({ nowMs: NOW, nodes, table: t, config: c1, requests: [req] });
    expect(one.table[0].replicas).toContain('b');
    expect(one.table[0].leader).toBe('a');
    expect(one.requests[0].status).toBe('pending');
    const two = decide({ nowMs: NOW, nodes, table: one.table, config: c1, requests: [req] });
    expect(two.table[0]).toMatchObject({ leader: 'b', epoch: 2 });
  });

  it('drops requests that cannot be done, saying why, and changes nothing for them', () => {
    const requests = [move(0, 'b', 'x'), move(1, 'x', 'a'), move(7, 'a', 'b'), transfer(1, 'a')];
    const d = decide({ nowMs: NOW, nodes, table, config: cfg, requests });
    expect(d.requests.map((o) => [o.status, o.reason])).toEqual([
      ['dropped', 'x is not a live worker taking replicas (gone, dead or draining)'],
      ['dropped', 'x is no longer a replica of partition 1'],
      ['dropped', 'no partition 7'],
      ['dropped', 'a is not a replica of partition 1'],
    ]);
    expect(d.changes).toEqual([]);
  });

  it('refuses a draining or dead target; a move already done is done', () => {
    const drain = [worker('a'), worker('b', { draining: true }), dead('c')];
    const d = decide({
      nowMs: NOW,
      nodes: drain,
      table,
      config: cfg,
      requests: [move(2, 'a', 'b'), move(1, 'b', 'c')],
    });
    expect(d.requests.map((o) => o.status)).toEqual(['dropped', 'dropped']);
    const already = decide({ nowMs: NOW, nodes, table, config: cfg, requests: [move(0, 'c', 'b')] });
    expect(already.requests[0]).toEqual({ request: move(0, 'c', 'b'), status: 'done' });
    expect(already.changes).toEqual([]);
  });
});

describe('a worker scaled away', () => {
  const table: PartitionPlacement[] = [
    { partition: 0, replicas: ['a', 'b'], leader: 'a', epoch: 1 },
    { partition: 1, replicas: ['b', 'c'], leader: 'b', epoch: 1 },
  ];
  const cfg = config({ partitions: 2, replicaReplacementDelayMs: 10_000, maxMovesPerRound: 0 });

  it('loses its replicas as soon as it fails, without the replacement delay', () => {
    const d = decide({
      nowMs: NOW,
      nodes: [dead('a', { scaledAway: true }), worker('b'), worker('c')],
      table,
      config: cfg,
    });
    expect(d.table[0]).toEqual({ partition: 0, replicas: ['b', 'c'], leader: 'b', epoch: 2 });
    expect(d.changes).toContainEqual({ kind: 'replica-removed', partition: 0, node: 'a', reason: 'dead' });
  });

  it('keeps its replicas while it is alive (its drain moves them)', () => {
    const d = decide({
      nowMs: NOW,
      nodes: [worker('a', { scaledAway: true }), worker('b'), worker('c')],
      table,
      config: cfg,
    });
    expect(d.changes).toEqual([]);
  });
});
