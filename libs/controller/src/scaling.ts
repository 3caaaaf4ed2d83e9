// Telling a scale-down from a crash on Kubernetes: pods of a StatefulSet are named `<statefulset>-<ordinal>`, and
// a scale-down to N replicas removes the pods with ordinals N and above. A node whose ordinal is at or above its
// StatefulSet's desired replicas is leaving for good, so it is drained (not waited for), replaced at once when it
// dies, and forgotten once it holds nothing. Pure: the desired replicas and the nodes come in, actions go out.

/** The StatefulSet and ordinal a node id names (`stead-worker-2` → `stead-worker`, 2), or undefined. */
export function statefulSetOrdinal(id: string): { statefulSet: string; ordinal: number } | undefined {
  const m = /^(.+)-(0|[1-9]\d{0,8})$/.exec(id);
  return m ? { statefulSet: m[1], ordinal: Number(m[2]) } : undefined;
}

/** One node (a worker, a log server, or one process that is both) as the active controller sees it. */
export interface ScalingNode {
  id: string;
  /** Known alive (true), known dead (false), or not known (undefined: never judged dead). */
  alive: boolean | undefined;
  /** Marked draining (node record or log-nodes entry). */
  draining: boolean;
  /** Replicas, leaderships and log segments that still name it. */
  holds: number;
}

export interface ScalingInput {
  /** Desired replicas (`spec.replicas`) by StatefulSet name. A node of a StatefulSet not in the map is not judged. */
  desired: ReadonlyMap<string, number>;
  nodes: readonly ScalingNode[];
  /** Nodes drained earlier because they were scaled away: only those are undrained when their StatefulSet grows. */
  drainedForScaleDown: ReadonlySet<string>;
}

export type ScalingAction =
  /** Scaled away and not draining yet: drain it (as `stead ctl nodes drain` does). */
  | { kind: 'drain'; node: string }
  /** Drained for a scale-down that was undone: let it take replicas again. */
  | { kind: 'undrain'; node: string }
  /** Scaled away, dead and holding nothing: forget it (as `stead ctl nodes remove` does). */
  | { kind: 'remove'; node: string };

export interface ScalingPlan {
  /** Nodes at or above their StatefulSet's desired replicas, sorted: replaced without the replacement delay. */
  scaledAway: string[];
  actions: ScalingAction[];
  /** `drainedForScaleDown` after the actions (drains added, undrains and removals dropped, unknown ids dropped). */
  drainedForScaleDown: Set<string>;
}

/**
 * What to do about scale-downs and scale-ups this round. A node of a StatefulSet whose desired replicas are
 * unknown (a failed read) is left as it is: nothing is decided on a missing answer. A node below the desired
 * replicas that dies is an ordinary failure (the caller's replacement delay applies).
 */
export function planScaling(input: ScalingInput): ScalingPlan {
  const scaledAway: string[] = [];
  const actions: ScalingAction[] = [];
  const drained = new Set<string>();
  const known = new Set(input.nodes.map((n) => n.id));
  for (const id of input.drainedForScaleDown) if (known.has(id)) drained.add(id);
  for (const n of [...input.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const at = statefulSetOrdinal(n.id);
    const desired = at && input.desired.get(at.statefulSet);
    if (at === undefined || desired === undefined) continue;
    if (at.ordinal >= desired) {
      scaledAway.push(n.id);
      if (n.alive === false && n.holds === 0) {
        actions.push({ kind: 'remove', node: n.id });
        drained.delete(n.id);
      } else if (!n.draining) {
        actions.push({ kind: 'drain', node: n.id });
        drained.add(n.id);
      }
    } else if (drained.has(n.id)) {
      if (n.draining) actions.push({ kind: 'undrain', node: n.id });
      drained.delete(n.id);
    }
  }
  return { scaledAway, actions, drainedForScaleDown: drained };
}
