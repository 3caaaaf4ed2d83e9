import { engineSettings, invocationSettings, requestIdentitySettings, snapshotSettings } from '@stead/cluster';
import { nodeSettings, type Settings, type SettingsSpec, setting } from '@stead/runtime';

/** Settings of the worker deployable. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const workerSettings = {
  ...nodeSettings({
    nodeId: 'Id of this worker (stable across restarts). `auto` = the host name (the pod name in a StatefulSet).',
    nodePort: 'gRPC port of the worker API (ingress and admin forward requests to it; the controller pings it).',
    advertisedAddress: 'host:port other nodes use to reach this worker. `auto` = hostname:node-port.',
  }),
  metadataAddress: setting('string', '', 'host:port of the metadata-store members, comma separated (required).'),
  dataDir: setting('string', './stead-data/worker', 'Where the partition stores of this worker live (LevelDB).'),
  logReplication: setting('int', '2', 'Copies of each record of a partition log that this worker creates.', {
    min: 1,
    max: 16,
  }),
  colocateSequencer: setting(
    'bool',
    'true',
    'Sequence the log of each partition this worker leads in this process (no network hop between the leader and its sequencer); false = the sequencer processes sequence every log.',
  ),
  ...invocationSettings,
  ...engineSettings,
  ...snapshotSettings,
  ...requestIdentitySettings,
} satisfies SettingsSpec;

export type WorkerSettings = Settings<typeof workerSettings>;
