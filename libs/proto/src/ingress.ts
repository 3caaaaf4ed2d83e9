// The gRPC ingress's messages and service (libs/ingress serves it, libs/client calls it).
export {
  type AttachRequest,
  type CallRequest,
  type Failure,
  type GetOutputRequest,
  type IdempotentRef,
  IngressClient,
  type IngressServer,
  IngressService,
  type InvocationRef,
  InvocationState,
  type Output,
  type RejectAwakeableRequest,
  type ResolveAwakeableRequest,
  RestateError,
  RpcStatus,
  type SendRequest,
  type SendResponse,
  SendStatus,
  type SubmitWorkflowRequest,
  type Target,
  type WatchEvent,
  type WatchRequest,
  type WorkflowRequest,
} from './gen/stead/ingress/v1/ingress.ts';

/** The type URL of a RestateError packed in the google.rpc.Status of a failed call (`grpc-status-details-bin`). */
export const RESTATE_ERROR_TYPE_URL = 'type.googleapis.com/stead.ingress.v1.RestateError';
