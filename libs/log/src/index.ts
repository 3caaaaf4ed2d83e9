// @stead/log: ordered, durable logs (see README.md). Only what other packages use is exported here; the
// simulation is a separate entry, `@stead/log/sim`.
export { type AppendMetrics, registerAppendMetrics } from './append-metrics.ts';
export { Bifrost, type BifrostOptions, type Placement } from './bifrost/bifrost.ts';
export { BifrostLoglet, type BifrostLogletOptions } from './bifrost/bifrost-loglet.ts';
export {
  chainKey,
  decodeChain,
  type LogChain,
  logletIdOf,
  readChain,
  type SequencerRef,
  sequencerOfLoglet,
} from './bifrost/chain.ts';
export { ClusterDirectory } from './cluster/directory.ts';
export {
  type DrainLogNodeOptions,
  drainLogNode,
  type LogNodeKind,
  readChains,
  removeLogNode,
  segmentsNaming,
  setLogNodeDraining,
} from './cluster/drain.ts';
export { DataDirError, LevelDbLogServerStorage } from './cluster/leveldb-storage.ts';
export {
  GrpcLogServerClient,
  type LogletSequencers,
  type LogServerGrpcServer,
  logServerRule,
  serveLogServer,
} from './cluster/log-server-grpc.ts';
export {
  type LogNodesConfig,
  type LogServerNode,
  loadNodes,
  NODES_KEY,
  type SequencerNode,
  updateNodes,
} from './cluster/nodes.ts';
export { PlacementError, placementProblem } from './cluster/placement.ts';
export {
  planRebalance,
  type RebalanceAction,
  type RebalanceInput,
  type RebalancePlan,
} from './cluster/rebalance-plan.ts';
export { LogRebalancer, type LogRebalancerOptions, type RebalanceLogger } from './cluster/rebalancer.ts';
export {
  addSequencerService,
  GrpcSequencerClient,
  type SequencerServer,
  serveSequencer,
} from './cluster/sequencer-grpc.ts';
export { registerSequencerMetrics } from './cluster/sequencer-metrics.ts';
export { adoptLocalLog, LOCAL_LOG_SEQUENCER, LocalLogServer } from './local/local-log-server.ts';
export { type LocalLoglet, LocalLogStore } from './local/local-log-store.ts';
export { LogServerCore, type LogServerMetrics } from './replicated/log-server-core.ts';
export { realTimers } from './replicated/quorum.ts';
export { SequencerHost } from './replicated/sequencer-host.ts';
export type { ReplicationProperty } from './replicated/types.ts';
export { type Loglet, type LogRecord, LogSealedError, LogTrimmedError } from './types.ts';
