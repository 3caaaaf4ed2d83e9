import { compareIds } from './cluster.ts';
import { leaderCounts, type Round, type WorkingPartition } from './work.ts';

function eligibleReplicas(round: Round, p: WorkingPartition): string[] {
  return p.replicas.filter((r) => round.cluster.eligibleSet.has(r)).sort(compareIds);
}

/**
 * The replicas that may lead `p`: its eligible replicas; only when it has none, its live (draining) replicas,
 * which keeps the partition available while there is nowhere to move it.
 */
function leaderCandidates(round: Round, p: WorkingPartition): string[] {
  const eligible = eligibleReplicas(round, p);
  if (eligible.length > 0) return eligible;
  return p.replicas.filter((r) => round.cluster.live.has(r)).sort(compareIds);
}

/**
 * A leader is kept while it may lead; otherwise a candidate takes over: one that was already a replica (a hot
 * standby, not one added this round that has the whole log to catch up on), then the one with the fewest
 * leaderships, then by id.
 */
export function assignLeaders(round: Round): void {
  for (const p of round.parts) {
    if (p.leader !== undefined && !leaderCandidates(round, p).includes(p.leader)) p.leader = undefined;
  }
  const counts = leaderCounts(round);
  const load = (id: string): number => counts.get(id) ?? 0;
  for (const p of round.parts) {
    if (p.leader !== undefined) continue;
    const cold = (id: string): number => (p.startReplicas.has(id) ? 0 : 1);
    const candidates = leaderCandidates(round, p).sort(
      (a, b) => cold(a) - cold(b) || load(a) - load(b) || compareIds(a, b),
    );
    if (candidates.length === 0) continue;
    p.leader = candidates[0];
    p.leaderReason ??= p.startLeader === undefined ? 'initial' : 'leader-lost';
    counts.set(p.leader, load(p.leader) + 1);
  }
}

interface LeaderStep {
  p: WorkingPartition;
  to: string;
}

/** Partitions whose leadership may move for balance: settled (no replica move under way, none this round). */
function movable(round: Round, p: WorkingPartition): boolean {
  return (
    !round.moved.has(p.partition) &&
    p.leader !== undefined &&
    round.cluster.eligibleSet.has(p.leader) &&
    p.replicas.length === round.cluster.replication
  );
}

/**
 * A chain of leadership hand-overs from a most-loaded worker to one with at least two fewer leaderships
 * (breadth-first from every most-loaded worker at once, so the shortest; every intermediate worker gives one
 * leadership and takes one). Undefined when none.
 */
function findLeaderPath(round: Round, counts: Map<string, number>): LeaderStep[] | undefined {
  const max = Math.max(0, ...counts.values());
  const queue = [...counts.keys()].filter((id) => counts.get(id) === max).sort(compareIds);
  const via = new Map<string, LeaderStep & { from: string }>();
  const seen = new Set(queue);
  for (let i = 0; i < queue.length; i++) {
    for (const p of round.parts) {
      if (p.leader !== queue[i] || !movable(round, p)) continue;
      for (const v of eligibleReplicas(round, p)) {
        // Leadership moves for balance only to a replica that already follows the log.
        if (seen.has(v) || !p.startReplicas.has(v)) continue;
        seen.add(v);
        via.set(v, { p, to: v, from: queue[i] });
        if (counts.get(v)! <= max - 2) return unwind(via, v);
        queue.push(v);
      }
    }
  }
  return undefined;
}

function unwind(via: Map<string, LeaderStep & { from: string }>, end: string): LeaderStep[] {
  const steps: LeaderStep[] = [];
  for (let step = via.get(end); step !== undefined; step = via.get(step.from)) steps.push({ p: step.p, to: step.to });
  return steps;
}

/**
 * Leadership balancing, bounded by the round's moves (one hand-over per partition). A chain is done whole even
 * when it is longer than the moves left (it is shorter than the number of workers): cut short, it would only
 * shift the imbalance and the next round would find the same chain again.
 */
export function rebalanceLeaders(round: Round): void {
  while (round.movesLeft > 0) {
    const path = findLeaderPath(round, leaderCounts(round));
    if (!path) return;
    for (const { p, to } of path) {
      p.leader = to;
      p.leaderReason = 'rebalance';
      round.moved.add(p.partition);
    }
    round.movesLeft = Math.max(0, round.movesLeft - path.length);
  }
}
