import type { Settings, SettingsSpec } from '@stead/core';

/** Settings of the sequencer deployable. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const sequencerSettings = {
  nodeId: {
    kind: 'string',
    default: 'auto',
    help: 'Id of this sequencer (stable across restarts). `auto` = the host name (the pod name).',
  },
  metadataAddress: {
    kind: 'string',
    default: '127.0.0.1:5122',
    help: 'host:port of metadata-store members, comma separated (the client finds the leader).',
  },
  bindAddress: { kind: 'string', default: '0.0.0.0', help: 'Address the gRPC and metrics listeners bind to.' },
  nodePort: { kind: 'int', default: '5122', min: 0, max: 65535, help: 'gRPC port of the sequencer service.' },
  advertisedAddress: {
    kind: 'string',
    default: 'auto',
    help: 'host:port appenders use to reach this sequencer. `auto` = hostname:node-port.',
  },
  metricsPort: { kind: 'int', default: '5123', min: 0, max: 65535, help: 'Port of /metrics, /health, /ready.' },
  storeTimeout: {
    kind: 'duration',
    default: '2s',
    min: 1,
    help: 'A store not answered within this goes to another log server of the nodeset.',
  },
  maxInflightWaves: {
    kind: 'int',
    default: '64',
    min: 1,
    max: 4096,
    help: 'Batches in flight per loglet (pipelining).',
  },
  maxWaveRecords: { kind: 'int', default: '1024', min: 1, help: 'Records per batch sent to log servers.' },
  maxWaveSize: { kind: 'bytes', default: '4MiB', min: 1, max: 32 * 1024 * 1024, help: 'Bytes per batch.' },
  shutdownTimeout: { kind: 'duration', default: '10s', min: 1, help: 'Grace period for a clean shutdown.' },
} satisfies SettingsSpec;

export type SequencerSettings = Settings<typeof sequencerSettings>;
