import * as grpc from '@grpc/grpc-js';

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

export interface ServingGrpc {
  port: number;
  close(): Promise<void>;
}

/** Binds a gRPC server (insecure, loopback or wherever told); `close` drains for up to 2 s, then forces. */
export async function listenGrpc(server: grpc.Server, host: string, port: number): Promise<ServingGrpc> {
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => server.forceShutdown(), 2_000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}
