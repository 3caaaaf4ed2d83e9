import type { ControllerConfig, NodeView } from './types.ts';

/** The live workers as seen at one instant; every list is sorted by id so nothing depends on input order. */
export interface ClusterView {
  /** Live workers, draining or not. */
  live: ReadonlySet<string>;
  /** Live, non-draining workers, sorted by id: the only nodes that receive replicas or leaderships. */
  eligible: readonly string[];
  eligibleSet: ReadonlySet<string>;
  draining: ReadonlySet<string>;
  location: ReadonlyMap<string, string | undefined>;
  /** Replicas per partition: min(partitionReplication, eligible workers). */
  replication: number;
  /** Failed workers still within `replicaReplacementDelayMs`: their replicas stay (they lead nothing). */
  recent: ReadonlySet<string>;
  /** {zone: N} replication: distinct locations come before load when replicas are placed or dropped. */
  zoneScope: boolean;
  /** Distinct locations among eligible workers (a worker without a location is a location of its own). */
  zones: number;
}

/** The failure domain of a worker: its location, or the worker itself when it has none. */
export function zoneOf(view: Pick<ClusterView, 'location'>, id: string): string {
  return view.location.get(id) ?? `node:${id}`;
}

/** One view per node id: a duplicated id keeps its latest heartbeat (then its first occurrence). */
function latestById(nodes: readonly NodeView[]): NodeView[] {
  const byId = new Map<string, NodeView>();
  for (const n of nodes) {
    const seen = byId.get(n.id);
    if (!seen || n.lastHeartbeatMs > seen.lastHeartbeatMs) byId.set(n.id, n);
  }
  return [...byId.values()].sort((a, b) => compareIds(a.id, b.id));
}

export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function clusterView(nowMs: number, nodes: readonly NodeView[], config: ControllerConfig): ClusterView {
  const live = new Set<string>();
  const draining = new Set<string>();
  const eligible: string[] = [];
  const location = new Map<string, string | undefined>();
  const recent = new Set<string>();
  const keepMs = config.nodeFailureTimeoutMs + Math.max(0, config.replicaReplacementDelayMs ?? 0);
  for (const n of latestById(nodes)) {
    if (!n.roles.includes('worker')) continue;
    const silentMs = nowMs - n.lastHeartbeatMs;
    if (n.failed || silentMs > config.nodeFailureTimeoutMs) {
      if (silentMs <= keepMs && (config.replicaReplacementDelayMs ?? 0) > 0 && !n.scaledAway) recent.add(n.id);
      continue;
    }
    live.add(n.id);
    location.set(n.id, n.location);
    if (n.draining) draining.add(n.id);
    else eligible.push(n.id);
  }
  const replication = Math.max(0, Math.min(Math.floor(config.partitionReplication), eligible.length));
  const zoneScope = config.partitionReplicationScope === 'zone';
  const zones = new Set(eligible.map((id) => location.get(id) ?? `node:${id}`)).size;
  return { live, eligible, eligibleSet: new Set(eligible), draining, location, replication, recent, zoneScope, zones };
}
