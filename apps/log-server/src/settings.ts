import { nodeSettings, type Settings, type SettingsSpec, setting, shutdownTimeoutSetting } from '@stead/runtime';

/** Settings of the log-server deployable. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const logServerSettings = {
  ...nodeSettings({
    nodeId:
      'Id of this log server (stable across restarts; stored in the data dir). `auto` = the host name (pod name).',
    nodePort: 'gRPC port of the log server service.',
    advertisedAddress: 'host:port sequencers and readers use to reach this server. `auto` = hostname:node-port.',
  }),
  // Half of it is the drain on SIGTERM: the records this server holds are copied to the others before it leaves.
  shutdownTimeout: shutdownTimeoutSetting('60s'),
  clusterName: setting(
    'string',
    'stead',
    'Name of the cluster; stored in the data dir, which then refuses other clusters.',
  ),
  dataDir: setting('string', './stead-data/log-server', 'Where records live (LevelDB).'),
  drainOnShutdown: setting(
    'bool',
    'true',
    'On SIGTERM, leave the cluster first: wait (up to half of --shutdown-timeout) until the active admin has moved every log segment off this server and copied the records only it held. false = a plain stop, for a restart that keeps the data dir (new segments avoid the server while it is down; its sealed segments stay named, unless it is down longer than the replica replacement delay).',
  ),
  metadataAddress: setting(
    'string',
    'none',
    'host:port of metadata-store members, comma separated: the server registers itself in the log nodes config (`none` = it does not).',
  ),
} satisfies SettingsSpec;

export type LogServerSettings = Settings<typeof logServerSettings>;
