import type { Bifrost, ChainStore } from '../bifrost/bifrost.ts';
import type { LogChain } from '../bifrost/chain.ts';
import type { Timers } from '../replicated/quorum.ts';
import { withTimeout } from '../replicated/sealer.ts';
import type { LogServerDirectory, ReplicationProperty } from '../replicated/types.ts';
import { readChains } from './drain.ts';
import { type LogNodesConfig, loadNodes } from './nodes.ts';
import { reReplicateSegment } from './re-replicate.ts';
import { planRebalance, type RebalanceAction, type RebalanceKind, type RebalancePlan } from './rebalance-plan.ts';

/** Structured logger (the runtime's Logger fits). */
export type RebalanceLogger = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;

export interface LogRebalancerOptions {
  metadata: ChainStore;
  /** Carries out reconfigurations (its `place` is not used: every reconfiguration here has a placement). */
  bifrost: Bifrost;
  logServers: LogServerDirectory;
  /** The logs to manage (read every round). */
  logIds: () => string[] | Promise<string[]>;
  /** Replication of new segments (read every round, so a config change applies). */
  replication: () => ReplicationProperty | Promise<ReplicationProperty>;
  timers: Timers;
  /** A log server that has not answered a probe for this long counts as failed. */
  nodeFailureTimeoutMs: number;
  /**
   * A failed log server's sealed segments are re-replicated only once it has not answered for this much longer
   * than the failure timeout (default 0): a restart does not copy everything it holds.
   */
  replacementDelayMs?: number;
  /**
   * Log servers leaving for good (a Kubernetes scale-down removed their pods): once failed, their sealed segments
   * are re-replicated at once, without the replacement delay (no restart will bring them back). Read every round.
   */
  leaving?: () => ReadonlySet<string>;
  /** At most this many actions per round (default 4; at most one reconfiguration per log). */
  maxActionsPerRound?: number;
  nodesetSize?: number;
  callTimeoutMs?: number;
  /** Per-probe timeout (default 500 ms). */
  probeTimeoutMs?: number;
  log?: RebalanceLogger;
}

export interface RoundResult {
  plan: RebalancePlan;
  /** Actions that completed this round (the others failed and were logged; the next round retries them). */
  done: RebalanceAction[];
}

/** The loglet id probes ask for: a cheap GetDigest of nothing, which any live log server answers. */
const PROBE_LOGLET = 'stead.probe';

/**
 * The I/O shell of the log rebalancer: each round probes every registered log server, reads the nodes config and
 * the chains of the managed logs, asks `planRebalance` what to do and does it (reconfigurations through Bifrost,
 * re-replications through `reReplicateSegment`), logging and counting every action. One round at a time.
 */
export class LogRebalancer {
  private readonly o: LogRebalancerOptions;
  /** Per log server: when it last answered (or was first seen), and whether a connection was refused since. */
  private readonly seen = new Map<string, { lastOkMs: number; refused: boolean }>();
  private failedIds = new Set<string>();
  private lostIds = new Set<string>();
  private lastNodes: LogNodesConfig = { logServers: {}, sequencers: {} };
  private lastChains: LogChain[] = [];
  /** Actions completed since start, by kind. */
  readonly actions: Record<RebalanceKind, number> = { reconfigure: 0, 're-replicate': 0 };
  private running: Promise<RoundResult> | undefined;

  constructor(opts: LogRebalancerOptions) {
    this.o = opts;
  }

  /** Log servers counted as failed at the last round. */
  failed(): ReadonlySet<string> {
    return this.failedIds;
  }

  /** What the last round read: the nodes config and the chains of the managed logs. */
  lastSeen(): { nodes: LogNodesConfig; chains: LogChain[]; alive: (id: string) => boolean | undefined } {
    return {
      nodes: this.lastNodes,
      chains: this.lastChains,
      alive: (id) => (this.seen.has(id) ? !this.failedIds.has(id) : undefined),
    };
  }

  /** One round (a call while one runs joins it). */
  round(): Promise<RoundResult> {
    this.running ??= this.doRound().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Runs a round every `everyMs` while `active()` (the controller's lease: one rebalancer acts at a time); returns
   * the function that stops it.
   */
  run(everyMs: number, active: () => boolean): () => void {
    let stopped = false;
    let cancel = () => {};
    const tick = () => {
      if (stopped) return;
      // A round that changed something is followed at once by the next (a drain of many segments goes at the
      // speed of the work, not of the period); an idle one waits the period.
      const next = (busy = false) => {
        if (!stopped) cancel = this.o.timers.after(busy ? 0 : everyMs, tick);
      };
      if (!active()) {
        this.seen.clear(); // a standby's view of liveness would be stale when it becomes active
        next();
        return;
      }
      this.round().then(
        (r) => next(r.done.length > 0),
        (e: unknown) => {
          this.o.log?.('warn', 'log rebalancing round failed', { error: String(e) });
          next();
        },
      );
    };
    cancel = this.o.timers.after(everyMs, tick);
    return () => {
      stopped = true;
      cancel();
    };
  }

  private async doRound(): Promise<RoundResult> {
    const nodes = await loadNodes(this.o.metadata);
    await this.probe(nodes);
    const chains = await readChains(this.o.metadata, await this.o.logIds());
    this.lastNodes = nodes;
    this.lastChains = chains;
    const plan = planRebalance({
      chains,
      nodes,
      failed: this.failedIds,
      lost: this.lostIds,
      replication: await this.o.replication(),
      ...(this.o.nodesetSize === undefined ? {} : { nodesetSize: this.o.nodesetSize }),
      maxActions: this.o.maxActionsPerRound ?? 4,
    });
    const done: RebalanceAction[] = [];
    await Promise.all(
      plan.actions.map(async (a) => {
        try {
          await this.act(a);
          done.push(a);
        } catch (e) {
          this.o.log?.('warn', 'log rebalancing action failed; retrying next round', {
            ...describe(a),
            error: String(e),
          });
        }
      }),
    );
    return { plan, done };
  }

  private async act(a: RebalanceAction): Promise<void> {
    const started = this.o.timers.now();
    if (a.kind === 'reconfigure') {
      const chain = await this.o.bifrost.reconfigure(a.logId, `rebalance: ${a.reason}`, a.placement, a.segment);
      if (chain.segments.at(-1)!.index <= a.segment) throw new Error('the segment was not reconfigured');
      this.actions.reconfigure++;
      this.o.log?.('info', 'log segment reconfigured', { ...describe(a), ms: this.o.timers.now() - started });
      return;
    }
    const r = await reReplicateSegment(a.logId, a.segment, a.nodeset, {
      metadata: this.o.metadata,
      logServers: this.o.logServers,
      timers: this.o.timers,
      ...(this.o.callTimeoutMs === undefined ? {} : { callTimeoutMs: this.o.callTimeoutMs }),
      ...(a.replication ? { replication: a.replication } : {}),
    });
    this.actions['re-replicate']++;
    this.o.log?.('info', 'sealed log segment re-replicated', {
      ...describe(a),
      copied: r.copied,
      replaced: r.replaced,
      ms: this.o.timers.now() - started,
    });
  }

  /**
   * Probes every registered log server at once; one that has not answered for nodeFailureTimeoutMs (counted from
   * when this rebalancer first saw it), or that refused the connection, counts as failed.
   */
  private async probe(nodes: LogNodesConfig): Promise<void> {
    const now = this.o.timers.now();
    const ids = Object.keys(nodes.logServers);
    for (const id of [...this.seen.keys()]) if (!ids.includes(id)) this.seen.delete(id);
    await Promise.all(
      ids.map(async (id) => {
        const s = this.seen.get(id) ?? { lastOkMs: now, refused: false };
        this.seen.set(id, s);
        try {
          await withTimeout(this.o.timers, this.o.probeTimeoutMs ?? 500, () =>
            this.o.logServers(id).getDigest({ logletId: PROBE_LOGLET, from: 0n, to: 0n }),
          );
          s.lastOkMs = this.o.timers.now();
          s.refused = false;
        } catch (e) {
          // Nothing listens at the address (the process is gone): no need to wait out the timeout.
          if (/ECONNREFUSED/.test(String(e))) s.refused = true;
        }
      }),
    );
    const failed = new Set<string>();
    const at = this.o.timers.now();
    for (const [id, s] of this.seen) if (s.refused || at - s.lastOkMs >= this.o.nodeFailureTimeoutMs) failed.add(id);
    const lostAfterMs = this.o.nodeFailureTimeoutMs + (this.o.replacementDelayMs ?? 0);
    const leaving = this.o.leaving?.() ?? new Set<string>();
    this.lostIds = new Set(
      [...failed].filter((id) => leaving.has(id) || at - this.seen.get(id)!.lastOkMs >= lostAfterMs),
    );
    for (const id of failed)
      if (!this.failedIds.has(id)) this.o.log?.('warn', 'log server counts as failed', { node: id });
    for (const id of this.failedIds)
      if (!failed.has(id) && ids.includes(id)) this.o.log?.('info', 'log server answers again', { node: id });
    this.failedIds = failed;
  }
}

function describe(a: RebalanceAction): Record<string, unknown> {
  return a.kind === 'reconfigure'
    ? {
        kind: a.kind,
        log: a.logId,
        segment: a.segment,
        reason: a.reason,
        sequencer: a.placement.sequencer.id,
        nodeset: a.placement.nodeset.map((m) => m.id),
        replication: a.placement.replication,
      }
    : {
        kind: a.kind,
        log: a.logId,
        segment: a.segment,
        reason: a.reason,
        leaving: a.leaving,
        nodeset: a.nodeset.map((m) => m.id),
      };
}
