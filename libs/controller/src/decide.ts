import { clusterView } from './cluster.ts';
import { assignLeaders, rebalanceLeaders } from './leaders.ts';
import { drainReplicas, rebalanceReplicas, repairReplicas, spreadZones } from './replicas.ts';
import type { Change, DecideInput, Decision } from './types.ts';
import { finishTable, loadTable, type Round, unavailablePartitions } from './work.ts';

/** Balancing moves per round when the config does not say. */
export const DEFAULT_MAX_MOVES_PER_ROUND = 2;

/**
 * One round of the cluster controller: the placement table that should hold now, and the changes from the
 * given one. Pure and deterministic (no clock, no I/O, no randomness; every choice is ordered by id). Applied
 * again to its own output with the same nodes it reaches a fixpoint (no changes) within a bounded number of rounds.
 *
 * Order: repairs first and unbounded (dead replicas replaced, drained and excess replicas dropped), then
 * balancing moves bounded by `maxMovesPerRound` (drain hand-overs, zone spreading, replica rebalancing), then leaders
 * (lost leaders replaced, then leadership rebalancing with what is left of the bound).
 */
export function decide(input: DecideInput): Decision {
  const { config } = input;
  const changes: Change[] = [];
  const partitions = Math.max(0, Math.floor(config.partitions));
  const round: Round = {
    cluster: clusterView(input.nowMs, input.nodes, config),
    parts: loadTable(input.table, partitions, changes),
    changes,
    movesLeft: Math.max(0, Math.floor(config.maxMovesPerRound ?? DEFAULT_MAX_MOVES_PER_ROUND)),
    moved: new Set<number>(),
  };
  for (const p of round.parts) repairReplicas(round, p);
  drainReplicas(round);
  spreadZones(round);
  rebalanceReplicas(round);
  assignLeaders(round);
  rebalanceLeaders(round);
  return { table: finishTable(round), changes, unavailable: unavailablePartitions(round) };
}
