// The logServer messages and services other packages use: log servers (libs/log/src/cluster).
export {
  GetDigestRequest,
  GetDigestResponse,
  GetRecordsRequest,
  GetRecordsResponse,
  LogletState,
  LogServerServiceClient,
  type LogServerServiceServer,
  LogServerServiceService,
  SealRequest,
  StoreRequest,
  StoreResponse,
  StoreStatus,
  TrimRequest,
} from './gen/stead/log/v1/log_server.ts';
