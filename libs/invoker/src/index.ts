/**
 * @stead/invoker: how the server talks to SDK endpoints — discovery (manifest fetch and parse) and the
 * service-protocol invocation stream over HTTP/2 (or HTTP/1.1 request/response), framed as the protocol says.
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
  type InvocationStream,
  InvocationStreamClient,
  InvokeError,
  type OpenOptions,
} from './transport.ts';
