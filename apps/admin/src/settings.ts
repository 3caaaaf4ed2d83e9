import { httpSettings, invocationSettings, registrySettings, requestIdentitySettings } from '@stead/cluster';
import { parseReplication } from '@stead/controller';
import { statefulSetsProblem } from '@stead/kubernetes';
import {
  grpcTlsSettings,
  locationSetting,
  metricsPortSetting,
  portSetting,
  type Settings,
  type SettingsSpec,
  setting,
  shutdownTimeoutSetting,
} from '@stead/runtime';

/** Settings of the admin deployable. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const adminSettings = {
  nodeId: setting('string', 'auto', 'Id of this admin process (controller lease holder name). `auto` = the host name.'),
  location: locationSetting,
  bindAddress: setting('string', '0.0.0.0', 'Address the admin and metrics listeners bind to.'),
  adminPort: portSetting('9070', 'Admin REST API port.'),
  metricsPort: metricsPortSetting,
  metadataAddress: setting('string', '', 'host:port of the metadata-store members, comma separated (required).'),
  ingressEndpoint: setting(
    'string',
    'http://127.0.0.1:8080',
    'URL of the ingress as clients reach it (shown by the admin API, e.g. to the CLI).',
  ),
  partitions: setting('int', '8', 'Number of partitions (fixed when the cluster first starts).', { min: 1, max: 4096 }),
  partitionReplication: setting(
    'string',
    '2',
    'Workers holding a copy of each partition (one leads): a count (= node:N), node:N, zone:N or {zone: N} (N distinct locations). Seeds the cluster config when the cluster has none.',
    { check: replicationProblem },
  ),
  logReplication: setting(
    'string',
    '2',
    'Copies of each record of a partition log: a count (= node:N), node:N, zone:N or {zone: N}. Seeds the cluster config when the cluster has none.',
    { check: replicationProblem },
  ),
  heartbeatInterval: setting('duration', '250ms', 'How often the active controller pings every worker.', { min: 10 }),
  nodeFailureTimeout: setting(
    'duration',
    '1s',
    'A worker silent for this long loses its leaderships (and its replicas) to live workers.',
    { min: 100 },
  ),
  replicaReplacementDelay: setting(
    'duration',
    '10s',
    'A failed worker keeps its replicas this much longer than its leaderships, so that a restarted worker resumes them with its state instead of new replicas replaying the log; a failed log server keeps its sealed segments this much longer before their records are copied elsewhere.',
  ),
  trimDelay: setting(
    'duration',
    '30s',
    'A partition log is trimmed below a point only once that point has been safe (archived in a snapshot, or stored by every replica) for this long.',
    { min: 0 },
  ),
  trimWithoutSnapshots: setting(
    'bool',
    'false',
    'Without a snapshot bucket, trim each partition log below what every replica of the partition has synced. Bounds the logs, but a replica added afterwards (a new worker, a drain, a move) cannot be built: the log no longer reaches back to offset 0. Default: a cluster without snapshots does not trim.',
  ),
  controllerLeaseTimeout: setting(
    'duration',
    '2s',
    'An active controller silent for this long is replaced by another admin process.',
    { min: 100 },
  ),
  kubernetesStatefulsets: setting(
    'string',
    'none',
    'StatefulSets of the workers and log servers, `namespace/name,namespace/name` (`none` = not on Kubernetes). Their desired replicas are polled: a node named `<statefulset>-<ordinal>` with ordinal >= the replicas was scaled away, so it is drained (then removed once gone) instead of waited for as a crash.',
    { check: statefulSetsProblem },
  ),
  ...httpSettings,
  ...registrySettings,
  ...requestIdentitySettings,
  ...invocationSettings,
  ...grpcTlsSettings,
  shutdownTimeout: shutdownTimeoutSetting('20s'),
} satisfies SettingsSpec;

export type AdminSettings = Settings<typeof adminSettings>;

/** The replication parser's refusal of a setting's value, or undefined when it parses. */
function replicationProblem(text: string): string | undefined {
  try {
    parseReplication(text);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
