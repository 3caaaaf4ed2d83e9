export const MAX_MESSAGE_BYTES = 64 << 20;

export const CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
};

/** Client channel options: large messages, quick reconnects after a peer restarts. */
export const CLIENT_OPTIONS = {
  ...CHANNEL_OPTIONS,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
};

/** One gRPC listen/close for every server: the node runtime's. */
export { listenGrpc, type ServingGrpc } from '@stead/runtime';
