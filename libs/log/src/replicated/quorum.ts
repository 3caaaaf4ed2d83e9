import type { NodeId, NodesetMember, ReplicationProperty } from './types.ts';

/** Clock and timers as inputs, so the same code runs in real time and in the simulation. */
export interface Timers {
  now(): number;
  /** Runs `fn` after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** A source of randomness in [0, 1) (Math.random in production, a seeded generator in simulation). */
export type Random = () => number;

function zoneOf(m: NodesetMember): string {
  return m.zone ?? `node:${m.id}`;
}

/** Quorum arithmetic for a nodeset and a replication property (see types.ts). */
export class Quorum {
  readonly nodeset: NodesetMember[];
  readonly replication: ReplicationProperty;
  private readonly zones = new Map<NodeId, string>();
  private readonly zoneCount: number;

  constructor(nodeset: NodesetMember[], replication: ReplicationProperty) {
    this.nodeset = nodeset;
    this.replication = replication;
    for (const m of nodeset) this.zones.set(m.id, zoneOf(m));
    this.zoneCount = new Set(this.zones.values()).size;
    const problem = Quorum.validate(nodeset, replication);
    if (problem) throw new Error(problem);
  }

  /** Why this combination can never reach a write quorum, or undefined when it can. */
  static validate(nodeset: NodesetMember[], replication: ReplicationProperty): string | undefined {
    if (!Number.isInteger(replication.count) || replication.count < 1)
      return `replication count must be a positive integer, got ${replication.count}`;
    const ids = new Set(nodeset.map((m) => m.id));
    if (ids.size !== nodeset.length) return 'nodeset lists a node twice';
    const units = replication.scope === 'zone' ? new Set(nodeset.map(zoneOf)).size : nodeset.length;
    if (units < replication.count)
      return `replication {${replication.scope}: ${replication.count}} needs ${replication.count} ${replication.scope}s, the nodeset has ${units}`;
    return undefined;
  }

  zoneOf(id: NodeId): string {
    return this.zones.get(id) ?? `node:${id}`;
  }

  /** Do these nodes together hold enough copies for an acknowledgment? */
  isWriteQuorum(nodes: Iterable<NodeId>): boolean {
    const { scope, count } = this.replication;
    if (scope === 'node') {
      let n = 0;
      for (const id of nodes) if (this.zones.has(id)) n++;
      return n >= count;
    }
    const zs = new Set<string>();
    for (const id of nodes) if (this.zones.has(id)) zs.add(this.zoneOf(id));
    return zs.size >= count;
  }

  /**
   * Do these nodes form an f-majority: a set that intersects every possible write quorum? Equivalently, the nodes
   * outside it cannot form a write quorum on their own.
   */
  isFMajority(nodes: Iterable<NodeId>): boolean {
    const inside = new Set(nodes);
    const outside = this.nodeset.filter((m) => !inside.has(m.id)).map((m) => m.id);
    if (this.replication.scope === 'node') return outside.length < this.replication.count;
    // A write quorum in zone scope is any set of nodes spanning `count` zones.
    return new Set(outside.map((id) => this.zoneOf(id))).size < this.replication.count;
  }

  /**
   * Picks nodes to store a new wave on: enough for a write quorum, preferring `healthy` ones, starting the
   * rotation at `start` so that load spreads over the nodeset.
   */
  pickCopyset(start: number, healthy: (id: NodeId) => boolean, exclude: ReadonlySet<NodeId> = new Set()): NodeId[] {
    const n = this.nodeset.length;
    const order: NodesetMember[] = [];
    for (let i = 0; i < n; i++) order.push(this.nodeset[(start + i) % n]!);
    const candidates = [...order.filter((m) => healthy(m.id)), ...order.filter((m) => !healthy(m.id))].filter(
      (m) => !exclude.has(m.id),
    );
    const picked: NodeId[] = [];
    if (this.replication.scope === 'node') {
      for (const m of candidates) {
        if (picked.length >= this.replication.count) break;
        picked.push(m.id);
      }
      return picked;
    }
    const used = new Set<string>();
    for (const m of candidates) {
      if (used.size >= this.replication.count) break;
      const z = zoneOf(m);
      if (used.has(z)) continue;
      used.add(z);
      picked.push(m.id);
    }
    return picked;
  }

  /** A node that would add to a wave's copies (a new node; in zone scope, of a zone not yet covered). */
  pickExtra(
    have: ReadonlySet<NodeId>,
    tried: ReadonlySet<NodeId>,
    healthy: (id: NodeId) => boolean,
  ): NodeId | undefined {
    const zonesHave = new Set([...have].map((id) => this.zoneOf(id)));
    const useful = this.nodeset.filter(
      (m) => !have.has(m.id) && !tried.has(m.id) && (this.replication.scope === 'node' || !zonesHave.has(zoneOf(m))),
    );
    return (useful.find((m) => healthy(m.id)) ?? useful[0])?.id;
  }

  get zonesInNodeset(): number {
    return this.zoneCount;
  }
}

export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
