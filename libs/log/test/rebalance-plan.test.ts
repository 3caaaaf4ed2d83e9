import { expect, test } from '@jest/globals';
import type { LogChain, Segment } from '../src/bifrost/chain.ts';
import type { LogNodesConfig } from '../src/cluster/nodes.ts';
import { planRebalance, type RebalanceAction } from '../src/cluster/rebalance-plan.ts';

// The rebalancer's decisions, as a pure function of chains, registered nodes, failed log servers and the desired
// replication.

const R2 = { scope: 'node' as const, count: 2 };

function nodes(ls: string[], seqs: Record<string, { colocated?: boolean; draining?: boolean }>, drain: string[] = []) {
  const c: LogNodesConfig = { logServers: {}, sequencers: {} };
  for (const id of ls) c.logServers[id] = drain.includes(id) ? { address: id, draining: true } : { address: id };
  for (const [id, s] of Object.entries(seqs)) c.sequencers[id] = { address: id, instance: `${id}-i`, ...s };
  return c;
}

function seg(index: number, seq: string, nodeset: string[], sealedTail?: bigint): Segment {
  return {
    index,
    base: BigInt(index * 10),
    logletId: `x.${index}`,
    sequencer: { id: seq, instance: `${seq}-i` },
    nodeset: nodeset.map((id) => ({ id })),
    replication: R2,
    ...(sealedTail === undefined ? {} : { sealedTail }),
  };
}

function chain(logId: string, ...segments: Segment[]): LogChain {
  return { logId, trimPoint: 0n, segments: segments.map((s) => ({ ...s, logletId: `${logId}.${s.index}` })) };
}

const ids = (a: RebalanceAction) =>
  a.kind === 'reconfigure' ? a.placement.nodeset.map((m) => m.id) : a.nodeset.map((m) => m.id);

test('nothing to do when every open segment uses every eligible log server with the desired replication', () => {
  const plan = planRebalance({
    chains: [chain('a', seg(0, 's1', ['l1', 'l2', 'l3'], 10n), seg(1, 's1', ['l1', 'l2', 'l3']))],
    nodes: nodes(['l1', 'l2', 'l3'], { s1: {} }),
    failed: new Set(),
    replication: R2,
  });
  expect(plan).toEqual({ actions: [], blocked: [] });
});

test('a joined log server: open segments are reconfigured to include it, sealed ones are left alone', () => {
  const plan = planRebalance({
    chains: [chain('a', seg(0, 's1', ['l1', 'l2', 'l3'], 10n), seg(1, 's1', ['l1', 'l2', 'l3']))],
    nodes: nodes(['l1', 'l2', 'l3', 'l4'], { s1: {} }),
    failed: new Set(),
    replication: R2,
  });
  expect(plan.actions).toHaveLength(1);
  const a = plan.actions[0]!;
  expect(a).toMatchObject({ kind: 'reconfigure', logId: 'a', segment: 1 });
  expect(ids(a)).toEqual(['l1', 'l2', 'l3', 'l4']);
  expect(a.kind === 'reconfigure' && a.placement.sequencer).toEqual({ id: 's1', instance: 's1-i' });
  expect(a.reason).toMatch(/l4 joined/);
});

test('a draining log server: the open segment is moved off it, and its sealed segments copied, in the same round', () => {
  const n = nodes(['l1', 'l2', 'l3', 'l4'], { s1: {} }, ['l2']);
  const first = planRebalance({
    chains: [chain('a', seg(0, 's1', ['l1', 'l2', 'l3'], 10n), seg(1, 's1', ['l1', 'l2', 'l3']))],
    nodes: n,
    failed: new Set(),
    replication: R2,
  });
  // The open segment comes first (appends are at stake); the sealed one moves beside it.
  expect(first.actions.map((a) => [a.kind, a.segment])).toEqual([
    ['reconfigure', 1],
    ['re-replicate', 0],
  ]);
  expect(ids(first.actions[0]!)).toEqual(['l1', 'l3', 'l4']);
  // Next round: the old open segment is sealed and still names l2.
  const second = planRebalance({
    chains: [
      chain(
        'a',
        seg(0, 's1', ['l1', 'l3', 'l4'], 10n),
        seg(1, 's1', ['l1', 'l2', 'l3'], 5n),
        seg(2, 's1', ['l1', 'l3', 'l4']),
      ),
    ],
    nodes: n,
    failed: new Set(),
    replication: R2,
  });
  expect(second.actions).toHaveLength(1);
  const a = second.actions[0]!;
  expect(a).toMatchObject({ kind: 're-replicate', logId: 'a', leaving: ['l2'] });
  expect(ids(a)).toEqual(['l1', 'l3', 'l4']);
});

test('a failed log server is more urgent than a draining one, which beats a join', () => {
  const plan = planRebalance({
    chains: [
      chain('a', seg(0, 's1', ['l1', 'l2', 'l3'])), // names l4's absence: a join only
      chain('b', seg(0, 's1', ['l1', 'l3', 'l4'], 3n), seg(1, 's1', ['l1', 'l2', 'l3', 'l4'])), // l4 failed
      chain('c', seg(0, 's1', ['l1', 'l2', 'l3', 'l5'])), // l5 draining
    ],
    nodes: nodes(['l1', 'l2', 'l3', 'l4', 'l5'], { s1: {} }, ['l5']),
    failed: new Set(['l4']),
    replication: R2,
    maxActions: 3,
  });
  // The failed server's open segment, then its sealed one, then the draining server's open segment.
  expect(plan.actions.map((a) => [a.logId, a.kind])).toEqual([
    ['b', 'reconfigure'],
    ['b', 're-replicate'],
    ['c', 'reconfigure'],
  ]);
  expect(ids(plan.actions[0]!)).toEqual(['l1', 'l2', 'l3']);
});

test('at most maxActions per round, one per log', () => {
  const chains = Array.from({ length: 10 }, (_, i) => chain(`log${i}`, seg(0, 's1', ['l1', 'l2'])));
  const plan = planRebalance({
    chains,
    nodes: nodes(['l1', 'l2', 'l3'], { s1: {} }),
    failed: new Set(),
    replication: R2,
    maxActions: 4,
  });
  expect(plan.actions).toHaveLength(4);
  expect(new Set(plan.actions.map((a) => a.logId)).size).toBe(4);
});

test('a replication change reconfigures open segments; too few servers for it is reported as blocked', () => {
  const chains = [chain('a', seg(0, 's1', ['l1', 'l2', 'l3']))];
  const ok = planRebalance({
    chains,
    nodes: nodes(['l1', 'l2', 'l3'], { s1: {} }),
    failed: new Set(),
    replication: { scope: 'node', count: 3 },
  });
  expect(ok.actions[0]).toMatchObject({ kind: 'reconfigure', placement: { replication: { count: 3 } } });
  const blocked = planRebalance({
    chains,
    nodes: nodes(['l1', 'l2', 'l3'], { s1: {} }),
    failed: new Set(),
    replication: { scope: 'node', count: 4 },
  });
  expect(blocked.actions).toEqual([]);
  expect(blocked.blocked[0]?.reason).toMatch(/needs 4 nodes/);
});

test('unbalanced dedicated sequencers: open segments move from the busiest to the idlest', () => {
  const chains = Array.from({ length: 4 }, (_, i) => chain(`log${i}`, seg(0, 's1', ['l1', 'l2'])));
  const plan = planRebalance({
    chains,
    nodes: nodes(['l1', 'l2'], { s1: {}, s2: {} }),
    failed: new Set(),
    replication: R2,
  });
  // 4 vs 0 → two moves make it 2 vs 2.
  expect(plan.actions).toHaveLength(2);
  for (const a of plan.actions) {
    expect(a.kind === 'reconfigure' && a.placement.sequencer.id).toBe('s2');
    expect(ids(a)).toEqual(['l1', 'l2']);
  }
});

test('a colocated (worker) sequencer is kept when the nodeset changes, and never balanced away', () => {
  const chains = [chain('a', seg(0, 'w1', ['l1', 'l2'])), chain('b', seg(0, 'w1', ['l1', 'l2']))];
  const plan = planRebalance({
    chains,
    nodes: nodes(['l1', 'l2', 'l3'], { w1: { colocated: true }, s1: {}, s2: {} }),
    failed: new Set(),
    replication: R2,
  });
  expect(plan.actions).toHaveLength(2);
  for (const a of plan.actions) expect(a.kind === 'reconfigure' && a.placement.sequencer.id).toBe('w1');
  const none = planRebalance({
    chains: chains.map((c) => ({
      ...c,
      segments: c.segments.map((s) => ({ ...s, nodeset: [{ id: 'l1' }, { id: 'l2' }, { id: 'l3' }] })),
    })),
    nodes: nodes(['l1', 'l2', 'l3'], { w1: { colocated: true }, s1: {}, s2: {} }),
    failed: new Set(),
    replication: R2,
  });
  expect(none.actions).toEqual([]);
});

test('a draining dedicated sequencer: its open segments go to the least loaded other one', () => {
  const chains = [chain('a', seg(0, 's1', ['l1', 'l2'])), chain('b', seg(0, 's2', ['l1', 'l2']))];
  const plan = planRebalance({
    chains,
    nodes: nodes(['l1', 'l2'], { s1: { draining: true }, s2: {}, s3: {} }),
    failed: new Set(),
    replication: R2,
  });
  expect(plan.actions).toHaveLength(1);
  expect(plan.actions[0]).toMatchObject({ logId: 'a', placement: { sequencer: { id: 's3' } } });
});

test('with nodesetSize, logs spread over the log servers and zone replication is respected', () => {
  const n: LogNodesConfig = { logServers: {}, sequencers: { s1: { address: 's1', instance: 's1-i' } } };
  for (let i = 1; i <= 6; i++) n.logServers[`l${i}`] = { address: `l${i}`, zone: `z${i % 3}` };
  const chains = Array.from({ length: 30 }, (_, i) => chain(`log${i}`, seg(0, 's1', ['l1', 'l2', 'l3'])));
  const plan = planRebalance({
    chains,
    nodes: n,
    failed: new Set(),
    replication: { scope: 'zone', count: 2 },
    nodesetSize: 3,
    maxActions: 30,
  });
  const use = new Map<string, number>();
  for (const a of plan.actions) {
    const set = ids(a);
    expect(set).toHaveLength(3);
    const zones = new Set(set.map((id) => n.logServers[id]!.zone));
    expect(zones.size).toBeGreaterThanOrEqual(2);
    for (const id of set) use.set(id, (use.get(id) ?? 0) + 1);
  }
  expect(use.size).toBe(6); // every server takes part
});

test('a failed log server that is not yet lost keeps its sealed segments; its open segment moves off it at once', () => {
  const input = {
    chains: [chain('a', seg(0, 's1', ['l1', 'l2', 'l3'], 10n), seg(1, 's1', ['l1', 'l2', 'l3']))],
    nodes: nodes(['l1', 'l2', 'l3', 'l4'], { s1: {} }),
    failed: new Set(['l3']),
    replication: R2,
  };
  const restarting = planRebalance({ ...input, lost: new Set() });
  expect(restarting.actions.map((a) => [a.kind, a.segment])).toEqual([['reconfigure', 1]]);
  expect(ids(restarting.actions[0]!)).toEqual(['l1', 'l2', 'l4']);
  // Once lost (failed past the replacement delay), the next round copies its sealed segment's records elsewhere.
  const sealedOnly = {
    ...input,
    chains: [chain('a', seg(0, 's1', ['l1', 'l2', 'l3'], 10n), seg(1, 's1', ['l1', 'l2', 'l4']))],
  };
  expect(planRebalance({ ...sealedOnly, lost: new Set() }).actions).toEqual([]);
  const lost = planRebalance({ ...sealedOnly, lost: new Set(['l3']) });
  expect(lost.actions.map((a) => [a.kind, a.segment])).toEqual([['re-replicate', 0]]);
  expect(ids(lost.actions[0]!)).toEqual(['l1', 'l2', 'l4']);
});

test('shrinking: a sealed segment whose log servers leave keeps its records as often as the (lower) desired replication says', () => {
  const R1 = { scope: 'node' as const, count: 1 };
  const sealed = chain('a', seg(0, 's1', ['l1', 'l2', 'l3'], 10n), { ...seg(1, 's1', ['l3']), replication: R1 });
  const n = nodes(['l1', 'l2', 'l3'], { s1: {} }, ['l1', 'l2']);
  const plan = planRebalance({ chains: [sealed], nodes: n, failed: new Set(), replication: R1 });
  expect(plan.blocked).toEqual([]);
  expect(plan.actions).toHaveLength(1);
  const a = plan.actions[0]!;
  expect(a).toMatchObject({ kind: 're-replicate', segment: 0, leaving: ['l1', 'l2'], replication: R1 });
  expect(ids(a)).toEqual(['l3']);
  expect(a.reason).toMatch(/replication \{node: 2\} → \{node: 1\}/);
  // While the cluster still asks for 2 copies, the segment cannot go below: blocked, not lowered.
  const kept = planRebalance({ chains: [sealed], nodes: n, failed: new Set(), replication: R2 });
  expect(kept.actions.filter((x) => x.kind === 're-replicate')).toEqual([]);
  expect(kept.blocked.map((b) => b.segment)).toContain(0);
});
