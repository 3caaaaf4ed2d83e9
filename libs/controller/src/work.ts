import { type ClusterView, compareIds } from './cluster.ts';
import type { Change, LeaderChangeReason, PartitionPlacement } from './types.ts';

/** A partition being decided; `startLeader`/`startEpoch` are what the input table said. */
export interface WorkingPartition {
  partition: number;
  replicas: string[];
  leader?: string;
  startLeader?: string;
  startEpoch: number;
  /**
   * Replicas the input table already had: they follow the partition's log (a hot standby); one added this round
   * has yet to catch up on the whole log.
   */
  startReplicas: ReadonlySet<string>;
  leaderReason?: LeaderChangeReason;
}

/** The mutable state of one `decide` call; it never escapes `decide`. */
export interface Round {
  cluster: ClusterView;
  parts: WorkingPartition[];
  changes: Change[];
  /** Balancing moves left this round (drain hand-overs, replica and leader rebalancing). */
  movesLeft: number;
  /** Partitions that already made a balancing move this round (at most one each). */
  moved: Set<number>;
}

/** Replicas held by each eligible worker (0 for none), in the current working table. */
export function replicaCounts(round: Round): Map<string, number> {
  const counts = new Map<string, number>(round.cluster.eligible.map((id) => [id, 0]));
  for (const p of round.parts) {
    for (const r of p.replicas) if (counts.has(r)) counts.set(r, counts.get(r)! + 1);
  }
  return counts;
}

/** Leaderships held by each eligible worker (0 for none), in the current working table. */
export function leaderCounts(round: Round): Map<string, number> {
  const counts = new Map<string, number>(round.cluster.eligible.map((id) => [id, 0]));
  for (const p of round.parts) {
    if (p.leader !== undefined && counts.has(p.leader)) counts.set(p.leader, counts.get(p.leader)! + 1);
  }
  return counts;
}

/** A prior epoch as a whole number that never goes below what the table said (garbage that is no number: 0). */
function validEpoch(epoch: unknown): number {
  return typeof epoch === 'number' && Number.isFinite(epoch) && epoch > 0 ? Math.ceil(epoch) : 0;
}

function emptyPartition(partition: number): WorkingPartition {
  return { partition, replicas: [], startEpoch: 0, startReplicas: new Set() };
}

/** Takes the prior table as it is (garbage included): one entry per partition in range, replicas deduplicated. */
export function loadTable(table: readonly PartitionPlacement[], partitions: number, changes: Change[]) {
  const byPartition = new Map<number, PartitionPlacement>();
  for (const entry of table) {
    const n = entry.partition;
    if (!Number.isInteger(n) || n < 0 || n >= partitions) {
      changes.push({ kind: 'entry-dropped', partition: n, reason: 'out-of-range' });
    } else if (byPartition.has(n)) {
      changes.push({ kind: 'entry-dropped', partition: n, reason: 'duplicate' });
    } else byPartition.set(n, entry);
  }
  const parts: WorkingPartition[] = [];
  for (let n = 0; n < partitions; n++) {
    const entry = byPartition.get(n);
    if (!entry) {
      changes.push({ kind: 'partition-created', partition: n });
      parts.push(emptyPartition(n));
      continue;
    }
    const replicas: string[] = [];
    for (const r of entry.replicas ?? []) {
      if (replicas.includes(r)) changes.push({ kind: 'replica-removed', partition: n, node: r, reason: 'duplicate' });
      else replicas.push(r);
    }
    // A leader outside its own replica set never led: it is replaced (and fenced by the epoch bump).
    const leader = entry.leader !== undefined && replicas.includes(entry.leader) ? entry.leader : undefined;
    parts.push({
      partition: n,
      replicas,
      leader,
      startLeader: entry.leader,
      startEpoch: validEpoch(entry.epoch),
      startReplicas: new Set(replicas),
    });
  }
  return parts;
}

/** The output table; a partition whose leader changed gets epoch + 1 (exactly once per round). */
export function finishTable(round: Round): PartitionPlacement[] {
  return round.parts.map((p) => {
    const changed = p.leader !== p.startLeader;
    const epoch = changed ? p.startEpoch + 1 : p.startEpoch;
    if (changed) {
      round.changes.push({
        kind: 'leader-changed',
        partition: p.partition,
        from: p.startLeader,
        to: p.leader,
        reason: p.leaderReason ?? 'leader-lost',
      });
      round.changes.push({ kind: 'epoch-bumped', partition: p.partition, from: p.startEpoch, to: epoch });
    }
    const out: PartitionPlacement = { partition: p.partition, replicas: [...p.replicas].sort(compareIds), epoch };
    if (p.leader !== undefined) out.leader = p.leader;
    return out;
  });
}

/** Partitions without a live replica (and so without a leader): a state, reported every round while it lasts. */
export function unavailablePartitions(round: Round): number[] {
  return round.parts.filter((p) => !p.replicas.some((r) => round.cluster.live.has(r))).map((p) => p.partition);
}
