/**
 * @stead/runtime: what every Stead node process shares, so that an app is configuration plus wiring.
 *
 * - Settings: flags, `STEAD_*` variables and defaults, validated all at once (`loadSettings`, `SettingsSpec`),
 *   and the settings every node has (`nodeSettings`: node id, bind address, node port, advertised address,
 *   metrics port, shutdown timeout).
 * - `runNode`: the `main` of a process — exit 2 on bad settings, 1 on a {@link StartupError}, graceful stop on
 *   SIGTERM/SIGINT.
 * - `NodeLifecycle`: the one logger with the node's fields, start steps that clean up on failure, the probe
 *   server (`/metrics`, `/health`, `/ready`) and a shutdown in reverse order of start with a deadline.
 * - gRPC: `listenGrpc` (bind, drain on close) and `unaryCall` (deadline, cancel, error mapping).
 * - gRPC mTLS: `GrpcTls` (modes off/allow/require, certificates reloaded from files; the process's one set at
 *   start from `grpcTlsSettings`), `grpcChannelCredentials` for clients, `peerOf` + `authorizePeer` for the
 *   authorisation of a call by the node its client certificate names. Test certificates: `@stead/runtime/test-pki`.
 *
 * Tests: `npx jest` in this folder; they start child processes through `test/fixtures/node.ts`.
 */

export {
  BATCH_RECORDS_BUCKETS,
  createRegistry,
  histogram,
  readCounter,
  readGauge,
  readLabeledCounter,
  readLabeledGauge,
  SECONDS_BUCKETS,
  secondsSince,
} from '@stead/observability';
export { errorMessage, StartupError } from './errors.ts';
export {
  authorizePeer,
  type CallWithPeer,
  GRPC_CHANNEL_OPTIONS,
  GRPC_CLIENT_OPTIONS,
  type GrpcPeer,
  guardService,
  listenGrpc,
  type PeerRule,
  peerOf,
  type ServingGrpc,
  type UnaryMethod,
  unaryCall,
} from './grpc.ts';
export {
  certificateNames,
  GrpcTls,
  type GrpcTlsMode,
  grpcChannelCredentials,
  grpcTlsFromSettings,
  NODE_URI_PREFIX,
  nodesOfCertificate,
  processGrpcTls,
  setProcessGrpcTls,
} from './grpc-tls.ts';
export { NodeLifecycle } from './lifecycle.ts';
export { type RunningNode, runNode } from './main.ts';
export {
  addressList,
  grpcTlsSettings,
  locationSetting,
  metricsPortSetting,
  nodeIdProblem,
  nodeSettings,
  portSetting,
  requireNodeId,
  resolveAdvertisedAddress,
  resolveLocation,
  resolveNodeId,
  setting,
  shutdownTimeoutSetting,
} from './node-settings.ts';
export { parseDurationMs, type Settings, type SettingsSpec, settingsWith } from './settings.ts';
