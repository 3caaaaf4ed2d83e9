// @stead/cluster: what the deployables of a cluster share (see README.md): the worker node API over gRPC (server
// and client), the backend that forwards ingress and admin requests to partition leaders, and the settings groups
// of the server, worker, ingress and admin.

export {
  partitionLogId,
  partitionLogIds,
  partitionLogIdsOf,
  TableLeaders,
  type TableLeadersOptions,
} from './leaders.ts';
export { type LeaderDirectory, RemoteBackend, type RemoteBackendOptions } from './remote-backend.ts';
export { routing } from './routing.ts';
export {
  engineSettings,
  type HttpSecurity,
  httpSecurity,
  httpSettings,
  invocationDefaults,
  invocationSettings,
  registrySettings,
  requestIdentity,
  requestIdentitySettings,
  snapshotRepository,
  snapshotSettings,
} from './settings.ts';
export { snapshotService } from './snapshots.ts';
export { RetryableError } from './wire.ts';
export { WorkerClient, WorkerClients } from './worker-client.ts';
export {
  type ReplicaStatus,
  type SnapshotInfo,
  type SnapshotService,
  type SnapshotsAnswer,
  serveWorker,
  snapshotInfo,
  type WorkerBackend,
} from './worker-service.ts';
