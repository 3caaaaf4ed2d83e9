import type { Settings, SettingsSpec } from '@stead/core';

/** Settings of the log-server deployable. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const logServerSettings = {
  nodeId: {
    kind: 'string',
    default: 'auto',
    help: 'Id of this log server (stable across restarts; stored in the data dir). `auto` = the host name (pod name).',
  },
  clusterName: {
    kind: 'string',
    default: 'stead',
    help: 'Name of the cluster; stored in the data dir, which then refuses other clusters.',
  },
  dataDir: { kind: 'string', default: './stead-data/log-server', help: 'Where records live (LevelDB).' },
  bindAddress: { kind: 'string', default: '0.0.0.0', help: 'Address the gRPC and metrics listeners bind to.' },
  nodePort: { kind: 'int', default: '5122', min: 0, max: 65535, help: 'gRPC port of the log server service.' },
  advertisedAddress: {
    kind: 'string',
    default: 'auto',
    help: 'host:port sequencers and readers use to reach this server. `auto` = hostname:node-port.',
  },
  metricsPort: { kind: 'int', default: '5123', min: 0, max: 65535, help: 'Port of /metrics, /health, /ready.' },
  zone: { kind: 'string', default: 'none', help: 'Failure domain (for {zone: N} replication); `none` = no zone.' },
  metadataAddress: {
    kind: 'string',
    default: 'none',
    help: 'host:port of metadata-store members, comma separated: the server registers itself in the log nodes config (`none` = it does not).',
  },
  shutdownTimeout: { kind: 'duration', default: '10s', min: 1, help: 'Grace period for a clean shutdown.' },
} satisfies SettingsSpec;

export type LogServerSettings = Settings<typeof logServerSettings>;
