// Kubernetes scale-downs (`--kubernetes-statefulsets`): the admin polls the desired replicas of the workers' and log
// servers' StatefulSets, and the active controller's admin acts on `planScaling` each second: a node scaled away is
// drained (as `stead ctl nodes drain` does), replaced at once when it dies (the controller and the log rebalancer
// skip the replacement delay for it), and forgotten once it is dead and holds nothing (as `nodes remove` does); a
// scale-down undone in time is undrained. The preStop hook of a pod asks through `POST /cluster/nodes/{id}/prestop`.
//
// Limit: which drains were made for a scale-down is kept in this process's memory, so after a controller failover
// a node drained for a scale-down that is then undone stays drained until its pod restarts (which clears it).
import type { ControllerHandle } from '@stead/controller';
import { planScaling, type ScalingNode, statefulSetOrdinal } from '@stead/controller';
import { parseStatefulSets, type StatefulSetRef, StatefulSetWatch } from '@stead/kubernetes';
import { segmentsNaming } from '@stead/log';
import type { GrpcMetadataClient } from '@stead/metadata';
import { errorMessage, type NodeLifecycle } from '@stead/runtime';
import type { AdminLogs } from './logs.ts';
import { forgetNode, setDraining } from './operations.ts';

/** How often the active admin applies the plan (the StatefulSets are polled apart, every POLL_MS). */
const ROUND_MS = 1_000;
const POLL_MS = 3_000;

export interface PrestopAnswer {
  leaving: boolean;
  node: string;
  statefulset?: string;
  ordinal?: number;
  desired_replicas?: number;
  /** Why the node is not leaving, when that is not plain from the numbers. */
  reason?: string;
}

export interface ScaleDownOptions {
  node: NodeLifecycle;
  metadata: GrpcMetadataClient;
  /** `--kubernetes-statefulsets` (checked by the settings). */
  statefulSets: string;
  controller: () => ControllerHandle;
  logs: () => AdminLogs;
}

/** See the module comment. */
export class ScaleDowns {
  private readonly refs: StatefulSetRef[];
  private readonly watch: StatefulSetWatch;
  private scaled = new Set<string>();
  private drained = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private readonly o: ScaleDownOptions;

  constructor(o: ScaleDownOptions) {
    this.o = o;
    this.refs = parseStatefulSets(o.statefulSets);
    this.watch = new StatefulSetWatch({ refs: this.refs, pollMs: POLL_MS, log: o.node.log });
  }

  /** Starts polling and the rounds; nothing at all without StatefulSets. */
  start(): void {
    if (!this.watch.enabled) return;
    this.watch.start();
    this.o.node.onClose('kubernetes scale-downs', () => this.close());
    this.schedule();
  }

  /** Nodes at or above their StatefulSet's desired replicas (as of the last round of the active controller). */
  scaledAway(): ReadonlySet<string> {
    return this.scaled;
  }

  /** For `GET /cluster`: each StatefulSet's desired replicas (null when unknown) and the nodes scaled away. */
  view() {
    if (!this.watch.enabled) return undefined;
    const desired = this.watch.current();
    return {
      statefulsets: this.refs.map((r) => ({
        namespace: r.namespace,
        name: r.name,
        replicas: desired.get(r.name) ?? null,
      })),
      scaled_away: [...this.scaled].sort(),
    };
  }

  /**
   * `POST /cluster/nodes/{id}/prestop`: reads the StatefulSets now; a node scaled away starts draining (again, when
   * it already does: idempotent) and the answer says it is leaving; any other answers at once that it is not.
   */
  async prestop(id: string): Promise<PrestopAnswer> {
    if (!this.watch.enabled) return { leaving: false, node: id, reason: 'no StatefulSets configured' };
    const at = statefulSetOrdinal(id);
    const desired = at && (await this.watch.refresh()).get(at.statefulSet);
    if (at === undefined || desired === undefined)
      return { leaving: false, node: id, reason: `${id} is not a pod of a StatefulSet whose replicas are known` };
    const answer = { node: id, statefulset: at.statefulSet, ordinal: at.ordinal, desired_replicas: desired };
    if (at.ordinal < desired) return { leaving: false, ...answer };
    await setDraining(this.o.metadata, id, true);
    this.drained.add(id);
    this.scaled.add(id);
    this.o.node.log('info', 'preStop of a node scaled away: draining it', answer);
    return { leaving: true, ...answer };
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watch.close();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(async () => {
      try {
        await this.round();
      } catch (e) {
        this.o.node.log('warn', 'scale-down round failed', { error: errorMessage(e) });
      }
      this.schedule();
    }, ROUND_MS);
  }

  /** One round: only the admin of the active controller acts, on what its controller and rebalancer last saw. */
  private async round(): Promise<void> {
    const round = this.o.controller().status().lastRound;
    const seen = this.o.logs().lastSeen();
    if (!this.o.controller().status().active || !round || !seen) return;
    const nodes = scalingNodes(round, seen);
    const plan = planScaling({ desired: this.watch.current(), nodes, drainedForScaleDown: this.drained });
    this.scaled = new Set(plan.scaledAway);
    this.drained = plan.drainedForScaleDown;
    for (const a of plan.actions) {
      if (a.kind === 'remove') await forgetNode(this.o.metadata, a.node);
      else await setDraining(this.o.metadata, a.node, a.kind === 'drain');
      const what = {
        drain: 'draining a node scaled away',
        undrain: 'undraining a node scaled back in',
        remove: 'forgetting a node scaled away (dead, holds nothing)',
      };
      this.o.node.log('info', what[a.kind], { node: a.node });
    }
  }
}

type RoundReport = NonNullable<ReturnType<ControllerHandle['status']>['lastRound']>;

/** Workers (from the controller's round) and log servers (from the rebalancer's), one entry per id. */
function scalingNodes(round: RoundReport, seen: NonNullable<ReturnType<AdminLogs['lastSeen']>>): ScalingNode[] {
  const ids = new Set([
    ...round.nodes.filter((n) => n.roles.includes('worker')).map((n) => n.id),
    ...Object.keys(seen.nodes.logServers),
  ]);
  const placements = round.table.placements;
  return [...ids].map((id) => {
    const worker = round.nodes.find((n) => n.id === id && n.roles.includes('worker'));
    const logServer = seen.nodes.logServers[id];
    // Alive when any of its roles answers, dead when every role it has is known dead, else unknown.
    const views: Array<boolean | undefined> = [];
    if (worker) views.push(worker.alive);
    if (logServer) views.push(seen.alive(id));
    const alive = views.some((v) => v === true) ? true : views.every((v) => v === false) ? false : undefined;
    const holds =
      placements.filter((p) => p.replicas.includes(id) || p.leader === id).length +
      segmentsNaming(seen.chains, id, 'log-server') +
      segmentsNaming(seen.chains, id, 'sequencer');
    // Draining means draining everywhere it is registered (what `nodes drain` sets).
    const draining = (worker ? worker.draining : true) && (logServer ? logServer.draining === true : true);
    return { id, alive, draining, holds };
  });
}
