import { hostname } from 'node:os';
import { StartupError } from './errors.ts';
import type { SettingKind, SettingSpec } from './settings.ts';

type Bounds = Pick<SettingSpec, 'min' | 'max' | 'check'>;

/** One setting of kind `kind` (its value type follows the kind), e.g. `setting('int', '8', 'Partitions.', { min: 1 })`. */
export function setting<K extends SettingKind>(
  kind: K,
  defaultValue: string,
  help: string,
  bounds: Bounds = {},
): SettingSpec & { kind: K } {
  return { kind, default: defaultValue, help, ...bounds };
}

/** A TCP port (0 = any free port). */
export const portSetting = (defaultValue: string, help: string) =>
  setting('int', defaultValue, help, { min: 0, max: 65535 });

/**
 * The settings every node process has: its id, where its gRPC node port and its probe/metrics port listen, the
 * address others reach it at, and the grace period of a shutdown. `help` says what they mean for this role.
 */
export function nodeSettings(help: { nodeId: string; nodePort: string; advertisedAddress: string }) {
  return {
    nodeId: setting('string', 'auto', help.nodeId),
    bindAddress: setting('string', '0.0.0.0', 'Address the gRPC and metrics listeners bind to.'),
    nodePort: portSetting('5122', help.nodePort),
    advertisedAddress: setting('string', 'auto', help.advertisedAddress),
    metricsPort: metricsPortSetting,
    location: locationSetting,
    shutdownTimeout: shutdownTimeoutSetting('10s'),
    ...grpcTlsSettings,
  };
}

export const GRPC_TLS_MODES = ['off', 'allow', 'require'] as const;
export type GrpcTlsMode = (typeof GRPC_TLS_MODES)[number];

/** The settings every node process has for its gRPC links (`grpcTlsMode`, CA, certificate, key). */
export const grpcTlsSettings = {
  grpcTlsMode: setting(
    'string',
    'off',
    'mTLS on gRPC links between nodes: off (plaintext), allow (listeners take plaintext and mTLS, clients try mTLS first), require (mTLS only, client certificates signed by the CA). Switch a cluster off → allow → require one process at a time.',
    {
      check: (v) => ((GRPC_TLS_MODES as readonly string[]).includes(v) ? undefined : 'expected off, allow or require'),
    },
  ),
  grpcTlsCaFile: setting('string', 'none', 'PEM file of the cluster CA (gRPC mTLS); none = unset.'),
  grpcTlsCertFile: setting(
    'string',
    'none',
    "PEM file of this node's certificate (gRPC mTLS; SAN URI stead://node/<node-id>); none = unset.",
  ),
  grpcTlsKeyFile: setting('string', 'none', "PEM file of this node's private key (gRPC mTLS); none = unset."),
};

/**
 * `--location` / `STEAD_LOCATION`: the failure domain of the process, `region.zone` (or `zone`), or
 * `kubernetes:<node>` to read it from that Kubernetes Node's labels at start (`@stead/kubernetes`). Replicas of
 * a partition and the copies of a log record with `{zone: N}` replication go to distinct locations.
 */
export const locationSetting = setting(
  'string',
  'none',
  'Failure domain of this process, `region.zone` (e.g. `eu-west-1.a`); `kubernetes:<node>` = the topology.kubernetes.io/region and /zone labels of that Kubernetes Node; `none` = no location. With {zone: N} replication, copies go to N distinct locations.',
  { check: locationProblem },
);

const LITERAL_LOCATION = /^[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})?$/;

/** What is wrong with a `--location` value, or undefined (the node name of `kubernetes:` is checked at start). */
export function locationProblem(value: string): string | undefined {
  if (value === 'none' || value.startsWith('kubernetes:') || LITERAL_LOCATION.test(value)) return undefined;
  return "expected region.zone or zone (letters, digits, '_', '-'), kubernetes:<node> or none";
}

/**
 * A literal `--location` checked: undefined for `none`, else `region.zone` or `zone` of letters, digits, `_` and
 * `-`. (`kubernetes:<node>` needs the Kubernetes API: `resolveNodeLocation` of `@stead/kubernetes` takes every form.)
 */
export function resolveLocation(setting: string): string | undefined {
  if (setting === 'none') return undefined;
  if (!LITERAL_LOCATION.test(setting))
    throw new StartupError(
      `--location / STEAD_LOCATION: '${setting}' is not region.zone or zone (letters, digits, '_', '-')`,
    );
  return setting;
}

/** The port of `/metrics`, `/health` and `/ready`. */
export const metricsPortSetting = portSetting('5123', 'Port of /metrics, /health, /ready.');

export const shutdownTimeoutSetting = (defaultValue: string) =>
  setting('duration', defaultValue, 'Grace period for a clean shutdown.', { min: 1 });

/** `--node-id` resolved: `auto` is the host name (the pod name). */
export function resolveNodeId(setting: string): string {
  return setting === 'auto' ? hostname() : setting;
}

/** What is wrong with a node id, or undefined when it is fine. */
export function nodeIdProblem(id: string): string | undefined {
  if (/^[A-Za-z0-9._-]{1,64}$/.test(id)) return undefined;
  return `--node-id / STEAD_NODE_ID: '${id}' must be 1-64 letters, digits, '.', '_' or '-'`;
}

/** `--node-id` resolved, or a StartupError saying what is wrong with it. */
export function requireNodeId(setting: string): string {
  const id = resolveNodeId(setting);
  const problem = nodeIdProblem(id);
  if (problem) throw new StartupError(problem);
  return id;
}

/** `--advertised-address` resolved: `auto` is this host's name with the port actually bound. */
export function resolveAdvertisedAddress(setting: string, boundPort: number): string {
  return setting === 'auto' ? `${hostname()}:${boundPort}` : setting;
}

/** A comma-separated list of `host:port` (empty entries dropped). */
export function addressList(setting: string): string[] {
  return setting
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
}
