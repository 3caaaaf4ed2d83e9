// The cluster records other packages use: nodes, partition table and controller lease (libs/controller).
export {
  ControllerLease,
  NodeIndex,
  NodeRecord,
  PartitionPlacement,
  PartitionTable,
} from './gen/stead/cluster/v1/cluster.ts';
