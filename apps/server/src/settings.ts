import {
  engineSettings,
  httpSettings,
  invocationSettings,
  registrySettings,
  requestIdentitySettings,
  snapshotSettings,
} from '@stead/cluster';
import {
  grpcTlsSettings,
  metricsPortSetting,
  portSetting,
  type Settings,
  type SettingsSpec,
  setting,
  shutdownTimeoutSetting,
} from '@stead/runtime';

/** Settings of the all-in-one server. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const serverSettings = {
  dataDir: setting('string', './stead-data', 'Where logs, partition stores and the schema live.'),
  bindAddress: setting(
    'string',
    '0.0.0.0',
    'Address the ingress, admin and metrics listeners bind to (the node port has its own setting).',
  ),
  nodeBindAddress: setting(
    'string',
    '127.0.0.1',
    'Address the node port binds to. Loopback by default: unless --grpc-tls-mode is require, its gRPC API accepts metadata writes and membership changes from any caller, so expose it (e.g. 0.0.0.0) only on a trusted network or with mTLS.',
  ),
  ingressPort: portSetting('8080', 'HTTP ingress port.'),
  grpcIngressPort: portSetting(
    '8090',
    'gRPC ingress port (stead.ingress.v1.Ingress, with the grpc.health.v1 health and server reflection services; same tokens and TLS certificate as the HTTP ingress).',
  ),
  adminPort: portSetting('9070', 'Admin REST API port.'),
  nodePort: portSetting('5122', 'gRPC port: the embedded metadata store, node-to-node traffic.'),
  metricsPort: metricsPortSetting,
  partitions: setting('int', '8', 'Number of partitions (fixed at first start).', { min: 1, max: 4096 }),
  ...httpSettings,
  ...invocationSettings,
  ...registrySettings,
  ...requestIdentitySettings,
  ...engineSettings,
  ...snapshotSettings,
  ...grpcTlsSettings,
  trimDelay: setting(
    'duration',
    '0s',
    'The partition logs are trimmed behind the partition stores (every 10 000 records, once the stores are synced) this long after the sync.',
    { min: 0 },
  ),
  shutdownTimeout: shutdownTimeoutSetting('20s'),
} satisfies SettingsSpec;

export type ServerSettings = Settings<typeof serverSettings>;
