// The worker messages and services other packages use: the worker node API (libs/cluster).
export {
  type AttachRequest,
  type CallRequest,
  type CompleteAwakeableRequest,
  type CreateSnapshotsResponse,
  type Outcome,
  type PingResponse,
  type ScanBatch,
  type ScanRequest,
  type SqlRow,
  type SqlValue,
  type SqlValue_U32List,
  type SqlValue_Utf8List,
  WorkerServiceClient,
  type WorkerServiceServer,
  WorkerServiceService,
} from './gen/stead/worker/v1/worker.ts';
