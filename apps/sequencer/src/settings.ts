import { nodeSettings, type Settings, type SettingsSpec, setting } from '@stead/runtime';

/** Settings of the sequencer deployable. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const sequencerSettings = {
  ...nodeSettings({
    nodeId: 'Id of this sequencer (stable across restarts). `auto` = the host name (the pod name).',
    nodePort: 'gRPC port of the sequencer service.',
    advertisedAddress: 'host:port appenders use to reach this sequencer. `auto` = hostname:node-port.',
  }),
  metadataAddress: setting(
    'string',
    '127.0.0.1:5122',
    'host:port of metadata-store members, comma separated (the client finds the leader).',
  ),
  storeTimeout: setting(
    'duration',
    '2s',
    'A store not answered within this goes to another log server of the nodeset.',
    { min: 1 },
  ),
  maxInflightWaves: setting('int', '64', 'Batches in flight per loglet (pipelining).', { min: 1, max: 4096 }),
  maxWaveRecords: setting('int', '1024', 'Records per batch sent to log servers.', { min: 1 }),
  maxWaveSize: setting('bytes', '4MiB', 'Bytes per batch.', { min: 1, max: 32 * 1024 * 1024 }),
  readWindowSize: setting(
    'bytes',
    '4MiB',
    'Recently released records kept per loglet for readers that follow it (ReadStream); a reader further behind reads from log servers.',
    { min: 1 },
  ),
} satisfies SettingsSpec;

export type SequencerSettings = Settings<typeof sequencerSettings>;
