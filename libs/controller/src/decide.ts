import { clusterView } from './cluster.ts';
import { assignLeaders, rebalanceLeaders } from './leaders.ts';
import { continueRequests, finishMoves } from './operator.ts';
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
 *
 * Operator requests (`input.requests`, see operator.ts) go around the repairs: a move completes before them, starts
 * after them; a leadership transfer applies after them. They are not bounded, and the partitions they touch are
 * left out of that round's balancing. Balancing acts only on imbalances beyond its tolerance (replica or
 * leadership counts of two workers differing by more than one), so a request whose result stays within it is
 * kept; one that makes a larger imbalance is rebalanced in later rounds.
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
  const requests = finishMoves(round, input.requests ?? []);
  for (const p of round.parts) repairReplicas(round, p);
  continueRequests(round, requests);
  drainReplicas(round);
  spreadZones(round);
  rebalanceReplicas(round);
  assignLeaders(round);
  rebalanceLeaders(round);
  return { table: finishTable(round), changes, unavailable: unavailablePartitions(round), requests };
}
