import type { ChainStore } from '../bifrost/bifrost.ts';

/**
 * Who is in the log cluster, as kept in the metadata store under one key: log servers (id → address, zone) and
 * sequencer processes (id → address, current instance). Processes register themselves when they start; the
 * placement of new segments draws from here.
 */
export interface LogNodesConfig {
  logServers: Record<string, LogServerNode>;
  sequencers: Record<string, SequencerNode>;
}

export interface LogServerNode {
  address: string;
  /** Failure domain (the process's location) for {zone: N} replication. */
  zone?: string;
  /**
   * Leaving (SIGTERM or `stead ctl nodes drain`): no new segment uses it, open segments using it are moved off
   * and the records it holds are copied elsewhere; it exits once no segment names it.
   */
  draining?: boolean;
}

export interface SequencerNode {
  address: string;
  instance: string;
  /**
   * A worker that sequences the logs of the partitions it leads (in the leader's process, no hop between the
   * leader and its sequencer). Placement picks such a node for other logs only when no dedicated sequencer is
   * available.
   */
  colocated?: boolean;
  /** Leaving: no new segment is placed on it, and the logs it sequences are moved to other sequencers. */
  draining?: boolean;
  /** Failure domain (the process's location). */
  zone?: string;
}

export const NODES_KEY = 'cluster/log-nodes';

export function decodeNodes(bytes: Uint8Array | undefined): LogNodesConfig {
  if (!bytes) return { logServers: {}, sequencers: {} };
  const v = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LogNodesConfig>;
  return { logServers: v.logServers ?? {}, sequencers: v.sequencers ?? {} };
}

export function encodeNodes(c: LogNodesConfig): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c));
}

/** Reads, changes and conditionally writes the nodes config until the write wins. */
export async function updateNodes(
  metadata: ChainStore,
  change: (c: LogNodesConfig) => LogNodesConfig,
): Promise<LogNodesConfig> {
  for (;;) {
    const cur = await metadata.get(NODES_KEY);
    const next = change(decodeNodes(cur?.value));
    try {
      await metadata.put(
        NODES_KEY,
        encodeNodes(next),
        cur ? { kind: 'matches-version', version: cur.version } : { kind: 'does-not-exist' },
      );
      return next;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'precondition-failed') throw e;
    }
  }
}

export async function loadNodes(metadata: ChainStore): Promise<LogNodesConfig> {
  return decodeNodes((await metadata.get(NODES_KEY))?.value);
}

/**
 * Marks log server or sequencer `id` as draining (or not). Returns false when it is neither.
 */
export async function setLogNodeDraining(metadata: ChainStore, id: string, draining: boolean): Promise<boolean> {
  const known = await loadNodes(metadata);
  if (!known.logServers[id] && !known.sequencers[id]) return false;
  let found = false;
  await updateNodes(metadata, (c) => {
    const server = c.logServers[id];
    const sequencer = c.sequencers[id];
    found = server !== undefined || sequencer !== undefined;
    return {
      logServers: server ? { ...c.logServers, [id]: { ...server, draining } } : c.logServers,
      sequencers: sequencer ? { ...c.sequencers, [id]: { ...sequencer, draining } } : c.sequencers,
    };
  });
  return found;
}
