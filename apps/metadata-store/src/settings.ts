import { hostname } from 'node:os';
import type { Member } from '@stead/raft';
import {
  addressList,
  nodeIdProblem,
  nodeSettings,
  resolveNodeId,
  type Settings,
  type SettingsSpec,
  setting,
} from '@stead/runtime';

/** Settings of the metadata-store deployable. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const metadataStoreSettings = {
  ...nodeSettings({
    nodeId: 'Id of this member (stable across restarts). `auto` = the host name (the pod name in a StatefulSet).',
    nodePort: 'gRPC port: metadata API and Raft traffic.',
    advertisedAddress:
      'host:port other members and clients use to reach this member. `auto` = from --peers, else hostname:node-port.',
  }),
  clusterName: setting(
    'string',
    'stead',
    'Name of the metadata cluster; stored in the data dir, which then refuses other clusters.',
  ),
  peers: setting(
    'string',
    'self',
    'Initial members as `id=host:port,...` (including this one), used on the first start only. `self` = a single-member store.',
  ),
  join: setting('bool', 'false', 'Start without membership and wait to be added to a running cluster (AddMember).'),
  dataDir: setting('string', './stead-data/metadata', 'Where the Raft log, hard state and snapshots live.'),
  tickInterval: setting('duration', '100ms', 'Length of one Raft tick.', { min: 1, max: 10_000 }),
  electionTimeout: setting(
    'duration',
    '1s',
    'Silence from the leader after which a follower campaigns (randomised up to twice this).',
    { min: 2 },
  ),
  heartbeatInterval: setting('duration', '200ms', 'Leader heartbeat period.', { min: 1 }),
  snapshotEvery: setting('int', '5000', 'Snapshot and compact the log every this many entries.', { min: 1 }),
  maxValueSize: setting('bytes', '1MiB', 'Largest value a put accepts.', { min: 1, max: 32 * 1024 * 1024 }),
  writeTimeout: setting('duration', '10s', 'How long a write waits for its commit.', { min: 1 }),
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
  const nodeId = resolveNodeId(s.nodeId);
  const idProblem = nodeIdProblem(nodeId);
  if (idProblem) problems.push(idProblem);
  let peers: Member[] = [];
  if (s.peers !== 'self') {
    const seen = new Set<string>();
    for (const part of addressList(s.peers)) {
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
