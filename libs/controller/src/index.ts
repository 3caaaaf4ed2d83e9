// @stead/controller: the cluster controller (see ../README.md). `decide` is the pure decision core; the rest is
// its I/O shell over the metadata store: node records, the partition table, the controller lease and the loop.

export {
  CLUSTER_CONFIG_KEY,
  type ClusterConfig,
  type ClusterConfigFollower,
  decodeClusterConfig,
  encodeClusterConfig,
  followClusterConfig,
  formatReplication,
  initClusterConfig,
  parseReplication,
  type Replication,
  readClusterConfig,
  updateClusterConfig,
} from './config.ts';
export {
  Controller,
  type ControllerHandle,
  type ControllerOptions,
  type ControllerShellConfig,
  type ControllerStatus,
  type NodeHealth,
  type PingInfo,
  type RoundReport,
} from './controller.ts';
export { DEFAULT_MAX_MOVES_PER_ROUND, decide } from './decide.ts';
export { ControllerError, type ControllerErrorCode } from './errors.ts';
export { type LeaseHandle, type LeaseOptions, type LeaseStatus, runLease } from './lease.ts';
export { deregisterNode, listNodes, readPartitionTable, registerNode, setNodeDraining } from './nodes.ts';
export {
  CLUSTER_KEYS,
  decodeLease,
  decodeNodeRecord,
  decodePartitionTable,
  encodeLease,
  encodeNodeRecord,
  encodePartitionTable,
  type LeaseRecord,
  type NodeRecord,
  type PartitionTable,
  type Versioned,
} from './records.ts';
export {
  type ClusterRequest,
  type NodeChangedNotice,
  readRequests,
  submitRequest,
} from './requests.ts';
export {
  planScaling,
  type ScalingAction,
  type ScalingInput,
  type ScalingNode,
  type ScalingPlan,
  statefulSetOrdinal,
} from './scaling.ts';
export { PartitionTableWatcher, type PartitionTableWatcherOptions } from './table-watcher.ts';
export { type Clock, systemClock, systemTimers, type Timers } from './time.ts';
export {
  planTrims,
  type ReplicaReport,
  safeTrimPoint,
  type TrimHistory,
  type TrimInput,
  type TrimPartitionInput,
  type TrimPlan,
  type TrimPlanEntry,
} from './trims.ts';
export type {
  Change,
  ControllerConfig,
  DecideInput,
  Decision,
  LeaderChangeReason,
  NodeRole,
  NodeView,
  OperatorRequest,
  PartitionPlacement,
  ReplicaAddReason,
  ReplicaRemoveReason,
  RequestOutcome,
} from './types.ts';
