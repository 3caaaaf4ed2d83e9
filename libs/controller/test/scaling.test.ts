import { describe, expect, it } from '@jest/globals';
import { planScaling, type ScalingNode, statefulSetOrdinal } from '@stead/controller';

const node = (id: string, over: Partial<ScalingNode> = {}): ScalingNode => ({
  id,
  alive: true,
  draining: false,
  holds: 3,
  ...over,
});
const desired = (entries: Record<string, number>) => new Map(Object.entries(entries));

describe('statefulSetOrdinal', () => {
  it('splits a pod name at its last dash', () => {
    expect(statefulSetOrdinal('stead-worker-2')).toEqual({ statefulSet: 'stead-worker', ordinal: 2 });
    expect(statefulSetOrdinal('stead-worker-10')).toEqual({ statefulSet: 'stead-worker', ordinal: 10 });
    expect(statefulSetOrdinal('w1')).toBeUndefined();
    expect(statefulSetOrdinal('stead-worker-01')).toBeUndefined();
    expect(statefulSetOrdinal('-3')).toBeUndefined();
  });
});

describe('planScaling', () => {
  it('drains the nodes at or above the desired replicas, and only those', () => {
    const plan = planScaling({
      desired: desired({ 'stead-worker': 2 }),
      nodes: ['stead-worker-0', 'stead-worker-1', 'stead-worker-2', 'stead-worker-3'].map((id) => node(id)),
      drainedForScaleDown: new Set(),
    });
    expect(plan.scaledAway).toEqual(['stead-worker-2', 'stead-worker-3']);
    expect(plan.actions).toEqual([
      { kind: 'drain', node: 'stead-worker-2' },
      { kind: 'drain', node: 'stead-worker-3' },
    ]);
    expect([...plan.drainedForScaleDown]).toEqual(['stead-worker-2', 'stead-worker-3']);
  });

  it('does nothing more for a scaled-away node that drains or is dead and still holds something', () => {
    const plan = planScaling({
      desired: desired({ ls: 1 }),
      nodes: [node('ls-1', { draining: true }), node('ls-2', { draining: true, alive: false, holds: 2 })],
      drainedForScaleDown: new Set(['ls-1', 'ls-2']),
    });
    expect(plan.scaledAway).toEqual(['ls-1', 'ls-2']);
    expect(plan.actions).toEqual([]);
  });

  it('removes a scaled-away node that is dead and holds nothing, drained or not', () => {
    const plan = planScaling({
      desired: desired({ w: 1 }),
      nodes: [node('w-1', { alive: false, holds: 0, draining: true }), node('w-2', { alive: false, holds: 0 })],
      drainedForScaleDown: new Set(['w-1']),
    });
    expect(plan.actions).toEqual([
      { kind: 'remove', node: 'w-1' },
      { kind: 'remove', node: 'w-2' },
    ]);
    expect(plan.drainedForScaleDown.size).toBe(0);
  });

  it('never removes a node whose liveness is unknown, or one that is alive and empty', () => {
    const plan = planScaling({
      desired: desired({ w: 0 }),
      nodes: [node('w-0', { alive: undefined, holds: 0, draining: true }), node('w-1', { holds: 0, draining: true })],
      drainedForScaleDown: new Set(),
    });
    expect(plan.actions).toEqual([]);
  });

  it('undrains a node drained for a scale-down once its StatefulSet grows past it, not one an operator drained', () => {
    const plan = planScaling({
      desired: desired({ w: 3 }),
      nodes: [node('w-1', { draining: true }), node('w-2', { draining: true })],
      drainedForScaleDown: new Set(['w-2']),
    });
    expect(plan.scaledAway).toEqual([]);
    expect(plan.actions).toEqual([{ kind: 'undrain', node: 'w-2' }]);
    expect(plan.drainedForScaleDown.size).toBe(0);
  });

  it('treats a dead node below the desired replicas as an ordinary failure (no action)', () => {
    const plan = planScaling({
      desired: desired({ w: 3 }),
      nodes: [node('w-1', { alive: false, holds: 0 })],
      drainedForScaleDown: new Set(),
    });
    expect(plan).toEqual({ scaledAway: [], actions: [], drainedForScaleDown: new Set() });
  });

  it('judges nothing for a StatefulSet whose replicas are unknown, and keeps what it drained', () => {
    const plan = planScaling({
      desired: desired({}),
      nodes: [node('w-5', { draining: true }), node('other', { alive: false, holds: 0 })],
      drainedForScaleDown: new Set(['w-5', 'gone-1']),
    });
    expect(plan.scaledAway).toEqual([]);
    expect(plan.actions).toEqual([]);
    expect([...plan.drainedForScaleDown]).toEqual(['w-5']);
  });
});
