import { compareIds, zoneOf } from './cluster.ts';
import type { ReplicaAddReason, ReplicaRemoveReason } from './types.ts';
import { type Round, replicaCounts, type WorkingPartition } from './work.ts';

function eligibleReplicas(round: Round, p: WorkingPartition): string[] {
  return p.replicas.filter((r) => round.cluster.eligibleSet.has(r));
}

export function remove(round: Round, p: WorkingPartition, node: string, reason: ReplicaRemoveReason): void {
  p.replicas = p.replicas.filter((r) => r !== node);
  round.changes.push({ kind: 'replica-removed', partition: p.partition, node, reason });
}

export function add(round: Round, p: WorkingPartition, node: string, reason: ReplicaAddReason): void {
  p.replicas.push(node);
  round.changes.push({ kind: 'replica-added', partition: p.partition, node, reason });
}

/**
 * The eligible worker a new replica of `p` goes to: fewest replicas, then a location `p` does not use yet,
 * then node id ({zone: N} replication: a location `p` does not use comes first). Undefined when every eligible
 * worker already holds a replica of `p`.
 */
export function pickNewReplica(round: Round, p: WorkingPartition, counts: Map<string, number>): string | undefined {
  const { cluster } = round;
  const used = new Set(p.replicas.map((r) => cluster.location.get(r)).filter((l) => l !== undefined));
  const zoneUsed = (id: string): number => {
    const loc = cluster.location.get(id);
    return loc !== undefined && used.has(loc) ? 1 : 0;
  };
  const candidates = cluster.eligible.filter((id) => !p.replicas.includes(id));
  const load = (a: string, b: string): number => counts.get(a)! - counts.get(b)!;
  const zone = (a: string, b: string): number => zoneUsed(a) - zoneUsed(b);
  candidates.sort((a, b) =>
    cluster.zoneScope ? zone(a, b) || load(a, b) || compareIds(a, b) : load(a, b) || zone(a, b) || compareIds(a, b),
  );
  return candidates[0];
}

/**
 * Among `nodes`, the replica to drop from `p`: most replicas, then not the leader, then highest id ({zone: N}
 * replication: one whose location another replica of `p` shares comes first).
 */
function pickExcess(round: Round, p: WorkingPartition, nodes: string[], counts: Map<string, number>): string {
  const isLeader = (id: string): number => (id === p.leader ? 1 : 0);
  const shared = (id: string): number =>
    round.cluster.zoneScope &&
    p.replicas.some((r) => r !== id && zoneOf(round.cluster, r) === zoneOf(round.cluster, id))
      ? 1
      : 0;
  return [...nodes].sort(
    (a, b) => shared(b) - shared(a) || counts.get(b)! - counts.get(a)! || isLeader(a) - isLeader(b) || compareIds(b, a),
  )[0];
}

/** Distinct locations among the eligible replicas of `p`. */
function zonesOf(round: Round, p: WorkingPartition): number {
  return new Set(eligibleReplicas(round, p).map((r) => zoneOf(round.cluster, r))).size;
}

/**
 * Repairs that are never deferred: dead and unknown replicas go (a failed worker's after the replacement delay), drained replicas whose replacement is in place
 * go, replicas beyond the replication factor go, and missing replicas are added. With no eligible worker at all
 * nothing is removed (there is nowhere to move the data).
 */
export function repairReplicas(round: Round, p: WorkingPartition): void {
  const { cluster } = round;
  if (cluster.replication === 0) return;
  for (const r of [...p.replicas]) if (!cluster.live.has(r) && !cluster.recent.has(r)) remove(round, p, r, 'dead');
  // A draining replica leaves once a replacement is in (at most one replica beyond the factor at any time).
  for (const r of [...p.replicas].sort(compareIds)) {
    if (cluster.draining.has(r) && p.replicas.length > cluster.replication) remove(round, p, r, 'drained');
  }
  while (eligibleReplicas(round, p).length > cluster.replication) {
    remove(round, p, pickExcess(round, p, eligibleReplicas(round, p), replicaCounts(round)), 'excess');
  }
  const fresh = p.replicas.length === 0;
  while (p.replicas.length < cluster.replication) {
    add(round, p, pickNewReplica(round, p, replicaCounts(round))!, fresh ? 'initial' : 'replace');
  }
}

/** Drain hand-over, one move per partition: the replacement is added now, the draining replica goes next round. */
export function drainReplicas(round: Round): void {
  for (const p of round.parts) {
    if (round.movesLeft === 0) return;
    if (round.moved.has(p.partition) || !p.replicas.some((r) => round.cluster.draining.has(r))) continue;
    if (eligibleReplicas(round, p).length >= round.cluster.replication) continue;
    const node = pickNewReplica(round, p, replicaCounts(round));
    if (node === undefined) continue;
    add(round, p, node, 'drain');
    round.moved.add(p.partition);
    round.movesLeft--;
  }
}

/**
 * {zone: N} replication, bounded by the round's moves: a partition whose replicas share a location while an
 * eligible worker in a location it does not use exists gets a replica there (added now; the replica that shares
 * a location goes next round as an excess).
 */
export function spreadZones(round: Round): void {
  const { cluster } = round;
  if (!cluster.zoneScope) return;
  const want = Math.min(cluster.replication, cluster.zones);
  for (const p of round.parts) {
    if (round.movesLeft === 0) return;
    if (round.moved.has(p.partition) || p.replicas.length > cluster.replication || zonesOf(round, p) >= want) continue;
    const node = pickNewReplica(round, p, replicaCounts(round));
    const zones = new Set(p.replicas.map((r) => zoneOf(cluster, r)));
    if (node === undefined || zones.has(zoneOf(cluster, node))) continue;
    add(round, p, node, 'rebalance');
    round.moved.add(p.partition);
    round.movesLeft--;
  }
}

/**
 * The partition whose replica on `from` moves to `to`: one not moved this round, holding `from` and not `to`;
 * preferably one where `to` brings a zone the other replicas do not use; then the lowest partition number.
 */
function partitionToMove(round: Round, from: string, to: string): WorkingPartition | undefined {
  const zone = round.cluster.location.get(to);
  const candidates = round.parts.filter(
    (q) => !round.moved.has(q.partition) && q.replicas.includes(from) && !q.replicas.includes(to),
  );
  const spreads = (q: WorkingPartition): boolean =>
    zone === undefined || !q.replicas.some((r) => r !== from && round.cluster.location.get(r) === zone);
  // {zone: N}: a move may not leave two replicas in one location (the same location as `from` is fine).
  if (round.cluster.zoneScope) {
    const z = zoneOf(round.cluster, to);
    return candidates.find(
      (q) => zoneOf(round.cluster, from) === z || !q.replicas.some((r) => r !== from && zoneOf(round.cluster, r) === z),
    );
  }
  return candidates.find(spreads) ?? candidates[0];
}

/**
 * Replica rebalancing, bounded by the round's moves: while the most and least loaded eligible workers differ by
 * more than one, the least loaded gets a replica of a partition of the most loaded (added now; the extra replica,
 * on the most loaded worker, goes next round as an excess). The pending removal counts as done.
 */
export function rebalanceReplicas(round: Round): void {
  const counts = replicaCounts(round);
  while (round.movesLeft > 0) {
    const order = [...counts.keys()].sort((a, b) => counts.get(a)! - counts.get(b)! || compareIds(a, b));
    const low = order[0];
    const high = order[order.length - 1];
    if (low === undefined || counts.get(high)! - counts.get(low)! <= 1) return;
    const p = partitionToMove(round, high, low);
    if (!p) return;
    add(round, p, low, 'rebalance');
    round.moved.add(p.partition);
    round.movesLeft--;
    counts.set(low, counts.get(low)! + 1);
    counts.set(high, counts.get(high)! - 1);
  }
}
