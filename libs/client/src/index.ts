/**
 * @stead/client: the client of Stead's gRPC ingress (stead.ingress.v1.Ingress, port 8090). `connect()` gives
 * a SteadClient with JSON helpers (call, send, attach, output, workflows, awakeables, watch); `connectRaw()` the
 * generated ts-proto client (outputServices=grpc-js) with every method and message typed as in
 * proto/stead/ingress/v1/ingress.proto. Tested end to end in e2e/test/grpc-ingress.test.ts.
 */
import { ingress } from '@stead/proto';

export {
  type CallOptions,
  type ConnectOptions,
  connect,
  connectRaw,
  type InvocationRef,
  type RawOutput,
  type SendOptions,
  SteadClient,
  type Target,
} from './client.ts';
export { type RestateErrorInfo, restateErrorOf, SteadClientError } from './errors.ts';

/** The generated messages and enums (InvocationState, SendStatus, WatchEvent, ...). */
export const { InvocationState, SendStatus, RESTATE_ERROR_TYPE_URL } = ingress;
export type IngressClient = ingress.IngressClient;
export type Output = ingress.Output;
export type SendResponse = ingress.SendResponse;
export type WatchEvent = ingress.WatchEvent;
