// Where each partition's log may be trimmed: a pure function of what the workers report, the partition table
// and the time, so that simulations and unit tests drive it; the admin's shell reads the inputs and trims.
//
// A record below the trim point is gone for good, so the point must stay at or below what every replica can
// recover from:
// - with archived snapshots (a bucket): the oldest kept snapshot, so that each kept snapshot can be restored (a
//   corrupt newest one falls back to the one before). Replicas that answer pings also keep the log they have
//   not stored yet: trimming it would force them to restore a snapshot. A replica that does not answer (dead,
//   wiped) restores the newest snapshot when it comes back.
// - without, and only when asked (`trimWithoutSnapshots`): the lowest offset that every replica of the partition
//   has stored durably, dead ones included (a replica that comes back replays the log from its store). A replica
//   added after such a trim has nothing to start from, so by default a cluster without snapshots does not trim.
// A point becomes a trim only after it has been safe for `trimDelayMs`, and never above what is safe now.

/** What one worker said about one partition replica in its last ping. */
export interface ReplicaReport {
  /** The last applied offset synced to its disk (-1: none). */
  durableOffset: bigint;
  /**
   * Set when the worker takes snapshots (a bucket): the applied offset of the oldest kept snapshot it knows of,
   * -1 when it knows none (then nothing may be trimmed on the snapshots' account yet).
   */
  archivedOffset?: bigint;
}

export interface TrimPartitionInput {
  partition: number;
  /** The workers holding a replica (from the partition table). */
  replicas: readonly string[];
  /** The log's current trim point (records below it are gone). */
  trimPoint: bigint;
}

export interface TrimInput {
  nowMs: number;
  trimDelayMs: number;
  /**
   * Without snapshots, trim below what every replica synced (default false: no trim). A replica added later
   * (a new worker, a drain, a move) then cannot be built: the log no longer reaches back to offset 0.
   */
  trimWithoutSnapshots?: boolean;
  partitions: readonly TrimPartitionInput[];
  /** Reports of the workers that answered their last ping, by worker id, then by partition. */
  reports: ReadonlyMap<string, ReadonlyMap<number, ReplicaReport>>;
  /** Safe points seen in earlier rounds (the planner's memory); start with an empty map. */
  history: TrimHistory;
}

/** Per partition, safe points in the order first seen (increasing), with when each was first seen. */
export type TrimHistory = Map<number, { atMs: number; point: bigint }[]>;

export interface TrimPlanEntry {
  partition: number;
  /** What may be trimmed now: below this offset. */
  safe: bigint;
  /** Why it is not higher, for the operator. */
  limit: 'snapshots' | 'replicas' | 'unknown' | 'no-snapshots';
  /** The newest archived offset a replica reported (absent: none reported). */
  archived?: bigint;
}

export interface TrimPlan {
  /** Trims to perform now (above the current trim point, safe for the whole delay). */
  trims: { partition: number; upTo: bigint }[];
  /** The safe point of every partition this round. */
  safe: TrimPlanEntry[];
}

/** The offset below which the log of one partition can be trimmed now, and what limits it. */
export function safeTrimPoint(
  p: TrimPartitionInput,
  reports: TrimInput['reports'],
  trimWithoutSnapshots = true,
): Omit<TrimPlanEntry, 'partition'> {
  let archived: bigint | undefined;
  let minLive: bigint | undefined;
  let minAll: bigint | undefined;
  for (const node of p.replicas) {
    const r = reports.get(node)?.get(p.partition);
    const stored = r ? r.durableOffset + 1n : 0n;
    if (minAll === undefined || stored < minAll) minAll = stored;
    if (!r) continue;
    if (minLive === undefined || stored < minLive) minLive = stored;
    if (r.archivedOffset !== undefined && (archived === undefined || r.archivedOffset > archived))
      archived = r.archivedOffset;
  }
  if (archived !== undefined) {
    const bySnapshots = archived + 1n;
    if (minLive !== undefined && minLive < bySnapshots) return { safe: minLive, limit: 'replicas', archived };
    return { safe: bySnapshots, limit: 'snapshots', archived };
  }
  if (minAll === undefined) return { safe: 0n, limit: 'unknown' };
  if (!trimWithoutSnapshots) return { safe: 0n, limit: 'no-snapshots' };
  return { safe: minAll, limit: 'replicas' };
}

/**
 * The trims due this round. Updates `input.history` (the caller keeps it between rounds): a safe point is
 * remembered with the time it was first seen, and used once `trimDelayMs` has passed, capped by this round's
 * safe point (it may have dropped: a replica fell behind, a snapshot went missing).
 */
export function planTrims(input: TrimInput): TrimPlan {
  const trims: TrimPlan['trims'] = [];
  const safe: TrimPlanEntry[] = [];
  const known = new Set<number>();
  for (const p of input.partitions) {
    known.add(p.partition);
    const s = safeTrimPoint(p, input.reports, input.trimWithoutSnapshots ?? false);
    safe.push({ partition: p.partition, ...s });
    const seen = input.history.get(p.partition) ?? [];
    if (s.safe > (seen.at(-1)?.point ?? 0n)) seen.push({ atMs: input.nowMs, point: s.safe });
    // The newest point safe for the whole delay; older ones are no longer needed.
    let due: bigint | undefined;
    let keepFrom = 0;
    for (let i = 0; i < seen.length; i++) {
      if (input.nowMs - seen[i]!.atMs < input.trimDelayMs) break;
      due = seen[i]!.point;
      keepFrom = i;
    }
    input.history.set(p.partition, seen.slice(keepFrom));
    if (due === undefined) continue;
    const upTo = due < s.safe ? due : s.safe;
    if (upTo > p.trimPoint) trims.push({ partition: p.partition, upTo });
  }
  for (const p of [...input.history.keys()]) if (!known.has(p)) input.history.delete(p);
  return { trims, safe };
}
