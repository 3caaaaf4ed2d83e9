// The admin's part in the log cluster's membership: while this process runs the active controller, it runs the
// log rebalancer over the partition logs (joined log servers used at once, draining and failed ones emptied,
// dedicated sequencers balanced); it exports the log-node gauges and the `log_nodes` of `GET /cluster`.
import { partitionLogIdsOf } from '@stead/cluster';
import { readClusterConfig } from '@stead/controller';
import {
  Bifrost,
  ClusterDirectory,
  GrpcLogServerClient,
  GrpcSequencerClient,
  type LogChain,
  type LogNodesConfig,
  LogRebalancer,
  loadNodes,
  type ReplicationProperty,
  realTimers,
  segmentsNaming,
} from '@stead/log';
import type { GrpcMetadataClient } from '@stead/metadata';
import { type createRegistry, type NodeLifecycle, readLabeledCounter, readLabeledGauge } from '@stead/runtime';

/** How often the active controller's rebalancer runs a round. */
const ROUND_MS = 500;

export interface LogNodeView {
  id: string;
  kind: 'log-server' | 'sequencer';
  address: string;
  zone: string | undefined;
  draining: boolean;
  /** From the rebalancer's probes (log servers, while this process's controller is active); null when unknown. */
  alive: boolean | null;
  /** Segments naming it: for a log server any (open or sealed), for a sequencer open ones. */
  segments: number;
}

export interface AdminLogs {
  /** Every registered log server and sequencer, for `GET /cluster`. */
  /** The log servers and sequencers, with the segments of `chains` (the partition logs' chains) naming each. */
  logNodes(chains: LogChain[]): Promise<LogNodeView[]>;
  /** The admin's client of the logs (operator seals and trims go through it). */
  bifrost: Bifrost;
  /** What the rebalancer's last round saw (log nodes, chains, liveness); undefined while this admin is standby. */
  lastSeen(): ReturnType<LogRebalancer['lastSeen']> | undefined;
}

export function startLogRebalancing(deps: {
  node: NodeLifecycle;
  metadata: GrpcMetadataClient;
  registry: ReturnType<typeof createRegistry>;
  partitions: number;
  /** Whether this process's controller is the active one (only it rebalances). */
  active: () => boolean;
  /** Replication of new segments until `cluster/config` says otherwise. */
  logReplication: ReplicationProperty;
  nodeFailureTimeoutMs: number;
  /** A failed log server's sealed segments are copied elsewhere after this much longer (a restart copies nothing). */
  replacementDelayMs: number;
  /** Log servers scaled away (see LogRebalancerOptions.leaving). */
  leaving: () => ReadonlySet<string>;
}): AdminLogs {
  const { node, metadata } = deps;
  const logIds = partitionLogIdsOf(deps.partitions);
  let replication: ReplicationProperty = deps.logReplication;
  const currentReplication = async () => {
    try {
      replication = (await readClusterConfig(metadata))?.value.logReplication ?? replication;
    } catch (e) {
      node.log('warn', 'cannot read the cluster config; keeping the last log replication', { error: String(e) });
    }
    return replication;
  };
  const directory = new ClusterDirectory({
    metadata,
    connectLogServer: (a) => new GrpcLogServerClient(a),
    connectSequencer: (a) => new GrpcSequencerClient(a),
    replication: () => replication,
    failedLogServers: () => rebalancer.failed(),
  });
  node.onClose('log directory', () => directory.close());
  const bifrost = new Bifrost({
    metadata,
    logServers: directory.logServers,
    sequencers: directory.sequencers,
    place: directory.place,
    timers: realTimers,
    random: Math.random,
  });
  const rebalancer: LogRebalancer = new LogRebalancer({
    metadata,
    bifrost,
    logServers: directory.logServers,
    logIds: () => logIds,
    replication: currentReplication,
    timers: realTimers,
    nodeFailureTimeoutMs: deps.nodeFailureTimeoutMs,
    replacementDelayMs: deps.replacementDelayMs,
    leaving: deps.leaving,
    // Re-replications of sealed segments are most of the work of a log server's drain; they run side by side.
    maxActionsPerRound: 16,
    log: node.log,
  });
  const stop = rebalancer.run(ROUND_MS, deps.active);
  node.onClose('log rebalancer', stop);
  registerGauges(deps.registry, rebalancer, deps.active);
  return {
    bifrost,
    lastSeen: () => (deps.active() ? rebalancer.lastSeen() : undefined),
    logNodes: async (chains) => {
      const nodes = await loadNodes(metadata);
      const alive = deps.active() ? rebalancer.lastSeen().alive : () => undefined;
      return logNodeViews(nodes, chains, alive);
    },
  };
}

function logNodeViews(
  nodes: LogNodesConfig,
  chains: LogChain[],
  alive: (id: string) => boolean | undefined,
): LogNodeView[] {
  const out: LogNodeView[] = [];
  for (const [id, l] of Object.entries(nodes.logServers))
    out.push({
      id,
      kind: 'log-server',
      address: l.address,
      zone: l.zone,
      draining: l.draining === true,
      alive: alive(id) ?? null,
      segments: segmentsNaming(chains, id, 'log-server'),
    });
  for (const [id, s] of Object.entries(nodes.sequencers))
    out.push({
      id,
      kind: 'sequencer',
      address: s.address,
      zone: s.zone,
      draining: s.draining === true,
      alive: null,
      segments: segmentsNaming(chains, id, 'sequencer'),
    });
  return out.sort((a, b) => a.id.localeCompare(b.id) || a.kind.localeCompare(b.kind));
}

/**
 * Gauges from what the rebalancer's last round read (empty while this process's controller is standby). The
 * node they are about is a label of its own (`log_server`, `sequencer`, `log_node`): `node` is this process's.
 */
function registerGauges(registry: ReturnType<typeof createRegistry>, r: LogRebalancer, active: () => boolean): void {
  const seen = () => (active() ? r.lastSeen() : { nodes: { logServers: {}, sequencers: {} }, chains: [] });
  readLabeledGauge(
    registry,
    'stead_log_segments_per_log_server',
    'Log segments (open and sealed) whose nodeset names each log server',
    'log_server',
    () => {
      const { nodes, chains } = seen();
      return Object.keys(nodes.logServers).map((id) => [id, segmentsNaming(chains, id, 'log-server')]);
    },
  );
  readLabeledGauge(
    registry,
    'stead_log_open_segments_per_sequencer',
    'Open log segments each sequencer takes the appends of',
    'sequencer',
    () => {
      const { nodes, chains } = seen();
      return Object.keys(nodes.sequencers).map((id) => [id, segmentsNaming(chains, id, 'sequencer')]);
    },
  );
  readLabeledCounter(
    registry,
    'stead_log_rebalance_actions_total',
    'Log rebalancing actions completed by this process, by kind',
    'kind',
    () => Object.entries(r.actions),
  );
  readLabeledGauge(
    registry,
    'stead_log_drain_remaining',
    'Segments still naming each draining log node (open ones for a sequencer)',
    'log_node',
    () => {
      const { nodes, chains } = seen();
      const out: Array<[string, number]> = [];
      for (const [id, l] of Object.entries(nodes.logServers))
        if (l.draining) out.push([id, segmentsNaming(chains, id, 'log-server')]);
      for (const [id, s] of Object.entries(nodes.sequencers))
        if (s.draining) out.push([id, segmentsNaming(chains, id, 'sequencer')]);
      return out;
    },
  );
}
