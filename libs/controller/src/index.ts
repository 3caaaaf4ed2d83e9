// @stead/controller: the cluster controller's decision core (see ../README.md). Pure: inputs in, a decision out.
export { DEFAULT_MAX_MOVES_PER_ROUND, decide } from './decide.ts';
export type {
  Change,
  ControllerConfig,
  DecideInput,
  Decision,
  LeaderChangeReason,
  NodeRole,
  NodeView,
  PartitionPlacement,
  ReplicaAddReason,
  ReplicaRemoveReason,
} from './types.ts';
