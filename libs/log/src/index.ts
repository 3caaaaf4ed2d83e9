// @stead/log: ordered, durable logs (see README.md). Only what other packages use is exported here; the
// simulation is a separate entry, `@stead/log/sim`.
export { Bifrost, type BifrostOptions, type Placement } from './bifrost/bifrost.ts';
export { BifrostLoglet, type BifrostLogletOptions } from './bifrost/bifrost-loglet.ts';
export { chainKey, decodeChain, readChain, type SequencerRef } from './bifrost/chain.ts';
export { ClusterDirectory } from './cluster/directory.ts';
export { DataDirError, LevelDbLogServerStorage } from './cluster/leveldb-storage.ts';
export { GrpcLogServerClient, type LogServerGrpcServer, serveLogServer } from './cluster/log-server-grpc.ts';
export {
  type LogNodesConfig,
  type LogServerNode,
  loadNodes,
  NODES_KEY,
  type SequencerNode,
  setLogNodeDraining,
  updateNodes,
} from './cluster/nodes.ts';
export {
  addSequencerService,
  GrpcSequencerClient,
  type SequencerServer,
  serveSequencer,
} from './cluster/sequencer-grpc.ts';
export { registerSequencerMetrics } from './cluster/sequencer-metrics.ts';
export { LocalLogStore } from './local/local-log-store.ts';
export { LogServerCore } from './replicated/log-server-core.ts';
export { realTimers } from './replicated/quorum.ts';
export { SequencerHost } from './replicated/sequencer-host.ts';
export type { ReplicationProperty } from './replicated/types.ts';
export { type Loglet, type LogRecord, LogSealedError, LogTrimmedError } from './types.ts';
