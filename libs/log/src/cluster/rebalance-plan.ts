import type { Placement } from '../bifrost/bifrost.ts';
import type { LogChain, Segment, SequencerRef } from '../bifrost/chain.ts';
import { Quorum } from '../replicated/quorum.ts';
import type { NodesetMember, ReplicationProperty } from '../replicated/types.ts';
import type { LogNodesConfig } from './nodes.ts';
import { chooseNodeset, eligibleLogServers, hashOf, sameNodeset, sameReplication } from './placement.ts';

/**
 * What the log rebalancer decides, without I/O: given the chains of the logs it manages, who is registered (and
 * draining), which log servers are known failed and the replication new segments should have, the next few
 * changes that move the logs towards "every segment on eligible nodes, open segments on every eligible log
 * server with the desired replication, dedicated sequencers evenly loaded". The shell (rebalancer.ts) carries
 * them out and calls this again next round with what it then reads, so a plan never has to be complete.
 */

export type RebalanceAction =
  | {
      /** Seal the open segment `segment` of the log and start a new one with `placement`. */
      kind: 'reconfigure';
      logId: string;
      segment: number;
      reason: string;
      placement: Placement;
    }
  | {
      /**
       * Copy the records of the sealed segment `segment` that would lose their write quorum without `leaving`
       * onto the other members of `nodeset`, then make `nodeset` the segment's nodeset.
       */
      kind: 're-replicate';
      logId: string;
      segment: number;
      reason: string;
      leaving: string[];
      nodeset: NodesetMember[];
      /**
       * The segment's new replication, when the log servers left cannot hold its records as often as it has
       * them but can as often as the cluster now asks of new segments (lower): shrinking a cluster.
       */
      replication?: ReplicationProperty;
    };

export type RebalanceKind = RebalanceAction['kind'];

export interface RebalanceInput {
  chains: LogChain[];
  nodes: LogNodesConfig;
  /** Registered log servers that did not answer the rebalancer's probes for the failure timeout. */
  failed: ReadonlySet<string>;
  /**
   * Failed log servers whose sealed segments are re-replicated now (failed for longer than the replacement
   * delay); default: every failed one. A server that is only restarting keeps its sealed segments: copying every
   * record it holds elsewhere would cost more than waiting for it; new and open segments avoid it meanwhile.
   */
  lost?: ReadonlySet<string>;
  /** Replication of new segments. */
  replication: ReplicationProperty;
  nodesetSize?: number;
  /** At most this many actions (default 4); at most one reconfiguration per log (sealed segments may add more). */
  maxActions?: number;
}

export interface RebalancePlan {
  actions: RebalanceAction[];
  /** Segments that should change but cannot (too few eligible log servers or sequencers), with why. */
  blocked: Array<{ logId: string; segment: number; reason: string }>;
}

/**
 * Urgency of a candidate, lowest first: data or appends at risk (a failed or gone node), then leaving nodes,
 * then improvements (a joined server, a new replication); balancing sequencers comes after all of them.
 */
const URGENT_OPEN = 0;
const URGENT_SEALED = 1;
const DRAIN_OPEN = 2;
const DRAIN_SEALED = 3;
const IMPROVE = 4;

interface Candidate {
  urgency: number;
  action: RebalanceAction;
  /** The open segment's sequencer is leaving: the action gets another one once it is taken into the plan. */
  moveSequencer?: boolean;
}

export function planRebalance(input: RebalanceInput): RebalancePlan {
  const maxActions = input.maxActions ?? 4;
  const eligible = eligibleLogServers(input.nodes, input.failed);
  const eligibleIds = new Set(eligible.map((m) => m.id));
  const blocked: RebalancePlan['blocked'] = [];
  const seqs = new SequencerLoad(input.nodes, input.chains);
  const candidates: Candidate[] = [];
  const state = (id: string): 'ok' | 'draining' | 'gone' =>
    eligibleIds.has(id) ? 'ok' : input.nodes.logServers[id]?.draining && !input.failed.has(id) ? 'draining' : 'gone';
  // For sealed segments, a failed server that is registered and not yet lost still counts as holding its records.
  const sealedState = (id: string): 'ok' | 'draining' | 'gone' =>
    input.lost && input.failed.has(id) && !input.lost.has(id) && input.nodes.logServers[id] ? 'ok' : state(id);

  for (const chain of input.chains) {
    const last = chain.segments.at(-1);
    const open = last && last.sealedTail === undefined && !chain.sealed ? last : undefined;
    if (open) {
      const c = openCandidate(chain.logId, open, input, eligible, state, seqs);
      if ('blocked' in c) blocked.push({ logId: chain.logId, segment: open.index, reason: c.blocked });
      else if (c.candidate) candidates.push(c.candidate);
    }
    // Sealed segments of one log may move in the same round (each rewrites only its own chain entry, with a
    // conditional write that is retried): a draining log server holding many segments leaves sooner.
    for (const seg of chain.segments) {
      if (seg === open) continue;
      const c = sealedCandidate(chain.logId, seg, eligible, sealedState, input.replication);
      if (c && 'blocked' in c) blocked.push({ logId: chain.logId, segment: seg.index, reason: c.blocked });
      else if (c) candidates.push(c);
    }
  }
  candidates.sort(
    (a, b) =>
      a.urgency - b.urgency || a.action.logId.localeCompare(b.action.logId) || a.action.segment - b.action.segment,
  );
  const actions: RebalanceAction[] = [];
  for (const c of candidates) {
    if (actions.length >= maxActions) break;
    const a = c.action;
    if (c.moveSequencer && a.kind === 'reconfigure') {
      const from = a.placement.sequencer;
      const to = seqs.pick(from);
      if (!to) {
        blocked.push({ logId: a.logId, segment: a.segment, reason: `${a.reason}: no sequencer to move to` });
        continue;
      }
      seqs.move(a.logId, from, to);
      a.placement = { ...a.placement, sequencer: to };
    }
    actions.push(a);
  }
  const busy = new Set(actions.map((a) => a.logId));
  // Balance last, with what is left of the round's budget: move open segments from the busiest dedicated
  // sequencer to the idlest until no two differ by more than one.
  while (actions.length < maxActions) {
    const move = seqs.imbalance(busy);
    if (!move) break;
    const { chain, to } = move;
    const open = chain.segments.at(-1)!;
    seqs.move(chain.logId, open.sequencer, to);
    busy.add(chain.logId);
    actions.push({
      kind: 'reconfigure',
      logId: chain.logId,
      segment: open.index,
      reason: `sequencers unbalanced: moving from ${open.sequencer.id} to ${to.id}`,
      placement: { sequencer: to, nodeset: open.nodeset, replication: open.replication },
    });
  }
  return { actions, blocked };
}

function openCandidate(
  logId: string,
  open: Segment,
  input: RebalanceInput,
  eligible: NodesetMember[],
  state: (id: string) => 'ok' | 'draining' | 'gone',
  seqs: SequencerLoad,
): { candidate?: Candidate } | { blocked: string } {
  const reasons: string[] = [];
  let urgency = IMPROVE;
  const worse = (u: number, why: string) => {
    reasons.push(why);
    urgency = Math.min(urgency, u);
  };
  for (const m of open.nodeset) {
    const st = state(m.id);
    if (st === 'gone') worse(URGENT_OPEN, `log server ${m.id} failed or left`);
    else if (st === 'draining') worse(DRAIN_OPEN, `log server ${m.id} is draining`);
  }
  let nodeset: NodesetMember[];
  try {
    nodeset = chooseNodeset(eligible, input.replication, logId, input.nodesetSize);
  } catch (e) {
    return reasons.length > 0 || !sameReplication(open.replication, input.replication)
      ? { blocked: `${reasons.join('; ') || 'replication changed'}: ${(e as Error).message}` }
      : {};
  }
  if (reasons.length === 0 && !sameNodeset(open.nodeset, nodeset)) {
    const joined = nodeset.filter((m) => !open.nodeset.some((o) => o.id === m.id)).map((m) => m.id);
    worse(IMPROVE, joined.length > 0 ? `log servers ${joined.join(', ')} joined` : 'nodeset differs from placement');
  }
  if (!sameReplication(open.replication, input.replication))
    worse(
      IMPROVE,
      `replication {${open.replication.scope}: ${open.replication.count}} → {${input.replication.scope}: ${input.replication.count}}`,
    );
  const seqState = seqs.state(open.sequencer);
  if (seqState === 'gone') worse(URGENT_OPEN, `sequencer ${open.sequencer.id} is gone`);
  else if (seqState === 'draining') worse(DRAIN_OPEN, `sequencer ${open.sequencer.id} is draining`);
  if (reasons.length === 0) return {};
  // A sequencer that is fine is kept: a colocated one is the partition leader's own process, and its host takes
  // up the new segment naming it on the first append.
  return {
    candidate: {
      urgency,
      moveSequencer: seqState === 'gone' || seqState === 'draining',
      action: {
        kind: 'reconfigure',
        logId,
        segment: open.index,
        reason: reasons.join('; '),
        placement: { sequencer: open.sequencer, nodeset, replication: input.replication },
      },
    },
  };
}

function sealedCandidate(
  logId: string,
  seg: Segment,
  eligible: NodesetMember[],
  state: (id: string) => 'ok' | 'draining' | 'gone',
  desired: ReplicationProperty,
): Candidate | { blocked: string } | undefined {
  const leaving = seg.nodeset.filter((m) => state(m.id) !== 'ok').map((m) => m.id);
  if (leaving.length === 0) return undefined;
  const urgency = leaving.some((id) => state(id) === 'gone') ? URGENT_SEALED : DRAIN_SEALED;
  const staying = seg.nodeset.filter((m) => !leaving.includes(m.id));
  // One eligible server in for each one leaving, spread by the loglet id; in zone scope, uncovered zones first.
  const spare = eligible.filter((m) => !seg.nodeset.some((o) => o.id === m.id));
  const start = spare.length === 0 ? 0 : hashOf(seg.logletId) % spare.length;
  const rotated = [...spare.slice(start), ...spare.slice(0, start)];
  const zoneOf = (m: NodesetMember) => m.zone ?? `node:${m.id}`;
  const zones = new Set(staying.map(zoneOf));
  // (zone scope: servers of zones the staying members do not cover come first)
  const ordered =
    seg.replication.scope === 'zone'
      ? [...rotated.filter((m) => !zones.has(zoneOf(m))), ...rotated.filter((m) => zones.has(zoneOf(m)))]
      : rotated;
  const nodeset = [...staying];
  for (const m of ordered) {
    if (nodeset.length >= seg.nodeset.length) break;
    nodeset.push(m);
  }
  const problem = Quorum.validate(nodeset, seg.replication);
  let reason = `${leaving.map((id) => `${id} ${state(id) === 'draining' ? 'draining' : 'failed or left'}`).join(', ')}`;
  // Too few servers left for the segment's replication, but the cluster now asks for less (it is shrinking):
  // the segment keeps its records that many times instead.
  const lower =
    problem !== undefined &&
    desired.scope === seg.replication.scope &&
    desired.count < seg.replication.count &&
    Quorum.validate(nodeset, desired) === undefined;
  if (problem && !lower) return { blocked: `${reason}: no log server to copy its records to (${problem})` };
  if (lower)
    reason += `; replication {${seg.replication.scope}: ${seg.replication.count}} → {${desired.scope}: ${desired.count}}`;
  return {
    urgency,
    action: {
      kind: 're-replicate',
      logId,
      segment: seg.index,
      reason,
      leaving,
      nodeset: nodeset.sort((a, b) => a.id.localeCompare(b.id)),
      ...(lower ? { replication: desired } : {}),
    },
  };
}

/**
 * Open segments per dedicated sequencer (as the plan moves them), and the state of the sequencer a segment
 * names: `ok`; `draining`; `gone` (unregistered, or a dedicated one that restarted: its old instance owns
 * nothing); `colocated-stale` (a worker restarted: its partition's next leader moves the log, not the rebalancer).
 */
class SequencerLoad {
  private readonly nodes: LogNodesConfig;
  /** Open segments per eligible dedicated sequencer id. */
  private readonly load = new Map<string, number>();
  private readonly openOn = new Map<string, LogChain[]>();

  constructor(nodes: LogNodesConfig, chains: LogChain[]) {
    this.nodes = nodes;
    for (const [id, s] of Object.entries(nodes.sequencers)) if (!s.colocated && !s.draining) this.load.set(id, 0);
    for (const chain of chains) {
      const last = chain.segments.at(-1);
      if (!last || last.sealedTail !== undefined || chain.sealed) continue;
      if (this.state(last.sequencer) !== 'ok' || !this.load.has(last.sequencer.id)) continue;
      this.load.set(last.sequencer.id, this.load.get(last.sequencer.id)! + 1);
      const list = this.openOn.get(last.sequencer.id) ?? [];
      list.push(chain);
      this.openOn.set(last.sequencer.id, list);
    }
  }

  state(ref: SequencerRef): 'ok' | 'draining' | 'gone' | 'colocated-stale' {
    const s = this.nodes.sequencers[ref.id];
    if (!s) return 'gone';
    if (s.instance !== ref.instance) return s.colocated ? 'colocated-stale' : 'gone';
    return s.draining ? 'draining' : 'ok';
  }

  /** The least loaded eligible dedicated sequencer (a colocated one only when there is none). */
  pick(not: SequencerRef): SequencerRef | undefined {
    let best: string | undefined;
    for (const [id, n] of [...this.load].sort(([a], [b]) => a.localeCompare(b)))
      if (id !== not.id && (best === undefined || n < this.load.get(best)!)) best = id;
    if (best === undefined)
      best = Object.entries(this.nodes.sequencers)
        .filter(([id, s]) => !s.draining && id !== not.id)
        .map(([id]) => id)
        .sort()[0];
    return best === undefined ? undefined : { id: best, instance: this.nodes.sequencers[best]!.instance };
  }

  /** The open segment of `logId` moves from `from` to `to`. */
  move(logId: string, from: SequencerRef, to: SequencerRef): void {
    const list = this.openOn.get(from.id);
    if (list?.some((c) => c.logId === logId)) {
      this.openOn.set(
        from.id,
        list.filter((c) => c.logId !== logId),
      );
      this.load.set(from.id, this.load.get(from.id)! - 1);
    }
    if (this.load.has(to.id)) this.load.set(to.id, this.load.get(to.id)! + 1);
  }

  /** An open segment to move from the busiest to the idlest dedicated sequencer, when they differ by more than 1. */
  imbalance(busy: ReadonlySet<string>): { chain: LogChain; to: SequencerRef } | undefined {
    if (this.load.size < 2) return undefined;
    const sorted = [...this.load].sort(([a, x], [b, y]) => x - y || a.localeCompare(b));
    const [minId, min] = sorted[0]!;
    const [maxId, max] = sorted.at(-1)!;
    if (max - min <= 1) return undefined;
    const chain = (this.openOn.get(maxId) ?? []).find((c) => !busy.has(c.logId));
    return chain && { chain, to: { id: minId, instance: this.nodes.sequencers[minId]!.instance } };
  }
}
