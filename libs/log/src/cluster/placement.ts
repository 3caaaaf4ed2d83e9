import { Quorum } from '../replicated/quorum.ts';
import { LogUnavailableError, type NodesetMember, type ReplicationProperty } from '../replicated/types.ts';
import type { LogNodesConfig } from './nodes.ts';

/**
 * Which log servers new segments may use, and which of them one log's segment uses. Pure: the directory (placing
 * segments as logs are created and reconfigured) and the rebalancer (deciding which segments to move) both call
 * it, so they agree on what a well-placed segment looks like and do not undo each other's choices.
 */

/** Registered log servers that are neither draining nor known failed, sorted by id, with their zones. */
export function eligibleLogServers(nodes: LogNodesConfig, failed: ReadonlySet<string> = new Set()): NodesetMember[] {
  return Object.entries(nodes.logServers)
    .filter(([id, l]) => !l.draining && !failed.has(id))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, l]) => (l.zone ? { id, zone: l.zone } : { id }));
}

/** A stable 32-bit hash of a string (FNV-1a), to spread logs over the log servers. */
export function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The nodeset of a new segment of `logId`: every eligible log server, or, with `nodesetSize`, that many of them
 * starting at a position given by the log's hash (so logs spread evenly and a log keeps its servers while they
 * stay), taking first one server of each zone until the replication's zones are covered. Returned sorted by id
 * (a set: comparing nodesets is comparing these lists). Throws when the eligible servers cannot satisfy the
 * replication.
 */
export function chooseNodeset(
  eligible: NodesetMember[],
  replication: ReplicationProperty,
  logId: string | undefined,
  nodesetSize?: number,
): NodesetMember[] {
  let picked = eligible;
  if (nodesetSize !== undefined && nodesetSize < eligible.length) {
    const start = logId === undefined ? 0 : hashOf(logId) % eligible.length;
    const rotated = [...eligible.slice(start), ...eligible.slice(0, start)];
    const out: NodesetMember[] = [];
    if (replication.scope === 'zone') {
      const zones = new Set<string>();
      for (const m of rotated) {
        if (out.length >= nodesetSize || zones.size >= replication.count) break;
        const z = m.zone ?? `node:${m.id}`;
        if (zones.has(z)) continue;
        zones.add(z);
        out.push(m);
      }
    }
    for (const m of rotated) {
      if (out.length >= Math.max(nodesetSize, replication.count)) break;
      if (!out.includes(m)) out.push(m);
    }
    picked = out.sort((a, b) => a.id.localeCompare(b.id));
  }
  const problem = Quorum.validate(picked, replication);
  if (problem) throw new PlacementError(`cannot place a segment: ${problem}`);
  return picked;
}

/** Not enough eligible log servers (or sequencers) for a new segment. */
export class PlacementError extends LogUnavailableError {
  override name = 'PlacementError';
}

export function sameNodeset(a: NodesetMember[], b: NodesetMember[]): boolean {
  if (a.length !== b.length) return false;
  const ids = new Set(a.map((m) => m.id));
  return b.every((m) => ids.has(m.id));
}

export function sameReplication(a: ReplicationProperty, b: ReplicationProperty): boolean {
  return a.scope === b.scope && a.count === b.count;
}

/**
 * Why a new segment with `replication` could not be placed on the eligible log servers of `nodes` plus `extra`
 * (servers about to register), or undefined when it could.
 */
export function placementProblem(
  nodes: LogNodesConfig,
  replication: ReplicationProperty,
  extra: NodesetMember[] = [],
): string | undefined {
  const eligible = [...eligibleLogServers(nodes).filter((m) => !extra.some((x) => x.id === m.id)), ...extra];
  return Quorum.validate(eligible, replication);
}
