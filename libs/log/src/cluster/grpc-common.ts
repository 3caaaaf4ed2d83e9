/** One gRPC listen/close and one set of channel options for every server and client: the node runtime's. */
export {
  GRPC_CHANNEL_OPTIONS as CHANNEL_OPTIONS,
  GRPC_CLIENT_OPTIONS as CLIENT_OPTIONS,
  listenGrpc,
  type ServingGrpc,
} from '@stead/runtime';
