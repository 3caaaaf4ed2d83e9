/**
 * @stead/invoker: how the server talks to SDK endpoints — discovery (manifest fetch and parse) and the
 * service-protocol invocation stream over HTTP/2 (or HTTP/1.1 request/response), framed as the protocol says.
 * Every request says who sends it (request identity, identity.ts): signed with an Ed25519 key, or `unsigned`.
 */
export {
  DEFAULT_MAX_DISCOVERY_RESPONSE_BYTES,
  type DiscoverOptions,
  DiscoveryError,
  discover,
  guardedLookup,
  parseManifest,
  type ResolveAll,
} from './discovery.ts';
export {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameTooLargeError,
  isCommand,
  isNotification,
  MessageType,
  REQUESTED_ACK,
} from './framing.ts';
export { Http2Pool, type RequestOptions, ResponseTooLargeError, request, type SimpleResponse } from './http.ts';
export {
  base58,
  type FollowedRequestSigner,
  followRequestSigner,
  JWT_V1_HEADER,
  loadRequestSigner,
  publicKeyId,
  RequestIdentityError,
  type RequestSigner,
  requestSigner,
  SIGNATURE_SCHEME_HEADER,
  UNSIGNED_REQUESTS,
} from './identity.ts';
export {
  type InvocationStream,
  InvocationStreamClient,
  InvokeError,
  type OpenOptions,
} from './transport.ts';
