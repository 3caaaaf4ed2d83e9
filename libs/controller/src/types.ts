// The controller's inputs and outputs: plain values, so the decision core stays pure and replayable.

export type NodeRole = 'worker' | 'ingress' | 'log-server' | 'metadata-server' | 'sequencer' | 'admin';

/** What the controller knows of one node (from the metadata store and heartbeats). */
export interface NodeView {
  id: string;
  roles: readonly NodeRole[];
  /** Failure domain, e.g. "region.zone"; replicas of one partition are spread across distinct locations. */
  location?: string;
  lastHeartbeatMs: number;
  /** A draining worker stays live but receives no new replicas and hands its replicas over one move at a time. */
  draining?: boolean;
  /** Known to have failed now (its address refused a connection), whatever its last heartbeat. */
  failed?: boolean;
  /**
   * Leaving for good (its StatefulSet was scaled below it, see `planScaling`): once it fails its replicas are
   * replaced at once, without `replicaReplacementDelayMs` (no restart will bring it back).
   */
  scaledAway?: boolean;
}

/** Where one partition runs. Invariant: `epoch` never decreases and grows by exactly 1 on each leader change. */
export interface PartitionPlacement {
  partition: number;
  replicas: string[];
  leader?: string;
  epoch: number;
}

export interface ControllerConfig {
  /** Partitions are numbered 0 … partitions-1. */
  partitions: number;
  /** Replicas per partition (the count of the cluster config's `partitionReplication`). */
  partitionReplication: number;
  /**
   * 'zone' ({zone: N}): the N replicas of a partition go to N distinct locations whenever the eligible workers
   * span that many (a replica in a location another replica uses is moved when a free location appears).
   * 'node' (default): distinct workers, spread over locations only as a tie-break after load.
   */
  partitionReplicationScope?: 'node' | 'zone';
  nodeFailureTimeoutMs: number;
  /**
   * A failed worker keeps its replicas in the table this much longer than its leaderships (default 0): a worker
   * that comes back soon (a restart) resumes them with the state it has, instead of new replicas replaying the
   * whole log meanwhile. Leaderships move at once either way; the log, not the replicas, holds the data.
   */
  replicaReplacementDelayMs?: number;
  /** Bound on balancing moves (drain hand-overs, replica and leader rebalancing) per round; default 2. */
  maxMovesPerRound?: number;
}

export interface DecideInput {
  nowMs: number;
  nodes: readonly NodeView[];
  table: readonly PartitionPlacement[];
  config: ControllerConfig;
  /** Operator requests (`stead ctl partitions move|transfer-leader`), oldest first; default none. */
  requests?: readonly OperatorRequest[];
}

/**
 * What an operator asked for one partition. `id` is unique per request; the controller drops a request once it
 * is done or cannot be done (see RequestOutcome).
 */
export type OperatorRequest =
  /** Move the replica on `from` to `to`: `to` is added, and `from` goes once `to` has followed the log a round. */
  | { id: string; kind: 'move'; partition: number; from: string; to: string }
  /** Make `to`, a replica, the leader (epoch + 1). */
  | { id: string; kind: 'transfer-leader'; partition: number; to: string };

/** What became of one request this round: still under way, done, or dropped as impossible (`reason` says why). */
export interface RequestOutcome {
  request: OperatorRequest;
  status: 'pending' | 'done' | 'dropped';
  reason?: string;
}

export interface Decision {
  table: PartitionPlacement[];
  /** Empty when the table was already what it should be (the fixpoint). */
  changes: Change[];
  /** Partitions with no live replica, hence no leader, ascending. A state, not a change: repeated each round. */
  unavailable: number[];
  /** One outcome per input request, in input order. */
  requests: RequestOutcome[];
}

export type ReplicaAddReason = 'initial' | 'replace' | 'drain' | 'rebalance' | 'operator';
export type ReplicaRemoveReason = 'dead' | 'duplicate' | 'drained' | 'excess' | 'operator';
export type LeaderChangeReason = 'initial' | 'leader-lost' | 'rebalance' | 'operator';

/** One change of the table, in the order decided. */
export type Change =
  | { kind: 'partition-created'; partition: number }
  | { kind: 'entry-dropped'; partition: number; reason: 'out-of-range' | 'duplicate' }
  | { kind: 'replica-added'; partition: number; node: string; reason: ReplicaAddReason }
  | { kind: 'replica-removed'; partition: number; node: string; reason: ReplicaRemoveReason }
  | { kind: 'leader-changed'; partition: number; from?: string; to?: string; reason: LeaderChangeReason }
  | { kind: 'epoch-bumped'; partition: number; from: number; to: number };
