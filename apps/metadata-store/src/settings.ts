import { hostname } from 'node:os';
import type { Settings, SettingsSpec } from '@stead/core';
import type { Member } from '@stead/raft';

/** Settings of the metadata-store deployable. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const metadataStoreSettings = {
  nodeId: {
    kind: 'string',
    default: 'auto',
    help: 'Id of this member (stable across restarts). `auto` = the host name (the pod name in a StatefulSet).',
  },
  clusterName: {
    kind: 'string',
    default: 'stead',
    help: 'Name of the metadata cluster; stored in the data dir, which then refuses other clusters.',
  },
  peers: {
    kind: 'string',
    default: 'self',
    help: 'Initial members as `id=host:port,...` (including this one), used on the first start only. `self` = a single-member store.',
  },
  join: {
    kind: 'bool',
    default: 'false',
    help: 'Start without membership and wait to be added to a running cluster (AddMember).',
  },
  dataDir: {
    kind: 'string',
    default: './stead-data/metadata',
    help: 'Where the Raft log, hard state and snapshots live.',
  },
  bindAddress: { kind: 'string', default: '0.0.0.0', help: 'Address the gRPC and metrics listeners bind to.' },
  nodePort: { kind: 'int', default: '5122', min: 0, max: 65535, help: 'gRPC port: metadata API and Raft traffic.' },
  advertisedAddress: {
    kind: 'string',
    default: 'auto',
    help: 'host:port other members and clients use to reach this member. `auto` = from --peers, else hostname:node-port.',
  },
  metricsPort: { kind: 'int', default: '5123', min: 0, max: 65535, help: 'Port of /metrics, /health, /ready.' },
  tickInterval: { kind: 'duration', default: '50ms', min: 1, max: 10_000, help: 'Length of one Raft tick.' },
  electionTimeout: {
    kind: 'duration',
    default: '500ms',
    min: 2,
    help: 'Silence from the leader after which a follower campaigns (randomised up to twice this).',
  },
  heartbeatInterval: { kind: 'duration', default: '100ms', min: 1, help: 'Leader heartbeat period.' },
  snapshotEvery: {
    kind: 'int',
    default: '5000',
    min: 1,
    help: 'Snapshot and compact the log every this many entries.',
  },
  maxValueSize: { kind: 'bytes', default: '1MiB', min: 1, max: 32 * 1024 * 1024, help: 'Largest value a put accepts.' },
  writeTimeout: { kind: 'duration', default: '10s', min: 1, help: 'How long a write waits for its commit.' },
  shutdownTimeout: { kind: 'duration', default: '10s', min: 1, help: 'Grace period for a clean shutdown.' },
} satisfies SettingsSpec;

export type MetadataStoreSettings = Settings<typeof metadataStoreSettings>;

export interface ResolvedConfig {
  readonly nodeId: string;
  readonly peers: Member[];
  readonly address: string;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
}

/** Derives member id, peers, address and tick counts; returns the problems found. */
export function resolveConfig(s: MetadataStoreSettings): { config?: ResolvedConfig; problems: string[] } {
  const problems: string[] = [];
  const nodeId = s.nodeId === 'auto' ? hostname() : s.nodeId;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(nodeId)) {
    problems.push(`--node-id / STEAD_NODE_ID: '${nodeId}' must be 1-64 letters, digits, '.', '_' or '-'`);
  }
  let peers: Member[] = [];
  if (s.peers !== 'self') {
    const seen = new Set<string>();
    for (const part of s.peers
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const m = /^([A-Za-z0-9._-]{1,64})=([^\s=,]+):(\d{1,5})$/.exec(part);
      if (!m || Number(m[3]) > 65535) {
        problems.push(`--peers / STEAD_PEERS: '${part}' is not id=host:port`);
        continue;
      }
      if (seen.has(m[1])) problems.push(`--peers / STEAD_PEERS: member '${m[1]}' is listed twice`);
      seen.add(m[1]);
      peers.push({ id: m[1], addr: `${m[2]}:${m[3]}` });
    }
    if (peers.length === 0) problems.push('--peers / STEAD_PEERS: no members given');
    if (!s.join && peers.length > 0 && !seen.has(nodeId)) {
      problems.push(`--peers / STEAD_PEERS: must include this member '${nodeId}' (or start with --join)`);
    }
  }
  let address = s.advertisedAddress;
  if (address === 'auto') address = peers.find((p) => p.id === nodeId)?.addr ?? `${hostname()}:${s.nodePort}`;
  else if (!/^[^\s:]+:\d{1,5}$/.test(address)) problems.push(`--advertised-address: '${address}' is not host:port`);
  if (peers.length === 0) peers = [{ id: nodeId, addr: address }];
  const electionTicks = Math.round(s.electionTimeout / s.tickInterval);
  const heartbeatTicks = Math.max(1, Math.round(s.heartbeatInterval / s.tickInterval));
  if (electionTicks <= heartbeatTicks) {
    problems.push(
      `--election-timeout (${s.electionTimeout}ms) must be more than --heartbeat-interval (${s.heartbeatInterval}ms) ` +
        `and both longer than --tick-interval (${s.tickInterval}ms)`,
    );
  }
  if (problems.length > 0) return { problems };
  return { config: { nodeId, peers, address, electionTicks, heartbeatTicks }, problems };
}
