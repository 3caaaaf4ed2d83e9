// Operator requests inside one round of decide(): moves of a replica and leadership transfers, asked for with
// `stead ctl partitions move|transfer-leader`. Each takes effect like the controller's own moves (a replica is
// added before one is removed; a leader change bumps the epoch once), but without the per-round bound.
import { add, remove } from './replicas.ts';
import type { OperatorRequest, RequestOutcome } from './types.ts';
import type { Round, WorkingPartition } from './work.ts';

function partitionOf(round: Round, n: number): WorkingPartition | undefined {
  return Number.isInteger(n) ? round.parts[n] : undefined;
}

const pending = (request: OperatorRequest): RequestOutcome => ({ request, status: 'pending' });
const done = (request: OperatorRequest): RequestOutcome => ({ request, status: 'done' });
const dropped = (request: OperatorRequest, reason: string): RequestOutcome => ({ request, status: 'dropped', reason });

/**
 * Before the repairs: checks every request and completes the moves whose new replica has followed the log for a
 * round (it was in the input table), removing the old one. The controller knows no replica's applied offset, so
 * "caught up enough" is that round: the leader keeps serving meanwhile, and a replica that leads later catches up
 * from the log before it acts. Removing the old replica first keeps the repairs from dropping the new one as an
 * excess. Returns one outcome per request; the pending ones continue in `continueRequests`.
 */
export function finishMoves(round: Round, requests: readonly OperatorRequest[]): RequestOutcome[] {
  return requests.map((r) => {
    const p = partitionOf(round, r.partition);
    if (!p) return dropped(r, `no partition ${r.partition}`);
    if (r.kind !== 'move') return pending(r);
    const hasTo = p.replicas.includes(r.to);
    const hasFrom = p.replicas.includes(r.from);
    if (hasTo && !hasFrom) return done(r);
    if (!round.cluster.eligibleSet.has(r.to))
      return dropped(r, `${r.to} is not a live worker taking replicas (gone, dead or draining)`);
    if (!hasFrom) return dropped(r, `${r.from} is no longer a replica of partition ${r.partition}`);
    round.moved.add(p.partition);
    if (!hasTo || !p.startReplicas.has(r.to)) return pending(r);
    remove(round, p, r.from, 'operator');
    if (p.leader === r.from) {
      p.leader = undefined;
      p.leaderReason = 'operator';
    }
    return done(r);
  });
}

/**
 * After the repairs, before balancing: pending moves add their new replica; leadership transfers to a replica
 * that already followed the log take effect. Partitions touched are out of this round's balancing.
 */
export function continueRequests(round: Round, outcomes: RequestOutcome[]): void {
  for (const [i, o] of outcomes.entries()) {
    if (o.status !== 'pending') continue;
    const r = o.request;
    const p = partitionOf(round, r.partition)!;
    if (r.kind === 'move') {
      if (!p.replicas.includes(r.from)) outcomes[i] = dropped(r, `${r.from} left partition ${r.partition}`);
      else if (!p.replicas.includes(r.to)) add(round, p, r.to, 'operator');
      continue;
    }
    outcomes[i] = transferLeader(round, p, r);
  }
}

function transferLeader(round: Round, p: WorkingPartition, r: OperatorRequest): RequestOutcome {
  if (p.leader === r.to) return done(r);
  if (!p.replicas.includes(r.to)) return dropped(r, `${r.to} is not a replica of partition ${r.partition}`);
  if (!round.cluster.eligibleSet.has(r.to))
    return dropped(r, `${r.to} is not a live worker taking leaderships (dead or draining)`);
  round.moved.add(p.partition);
  // A replica added this round has the whole log to catch up on: it leads once it has followed it a round.
  if (!p.startReplicas.has(r.to)) return pending(r);
  p.leader = r.to;
  p.leaderReason = 'operator';
  return done(r);
}
