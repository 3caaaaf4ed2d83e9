/**
 * When a suspended invocation runs again: as soon as what it waits on could let its await point resolve.
 *
 * v5/v6 suspensions list notification ids, and any one of them arriving wakes the invocation. A v7 suspension
 * describes the await point as a tree of promise combinators (service protocol Future); waking on any leaf would
 * resume `Promise.all([a, b])` when `a` arrives, only for the handler to suspend again at once. So the tree is
 * evaluated against the notifications that arrived (and whether each carries a failure), and the invocation
 * wakes when the root could be resolved. "Could": the order in which notifications arrived is not kept, so a race
 * of a success and a failure may have resolved either way; the evaluation then assumes both, which may wake an
 * invocation early (it suspends again) but never leaves one waiting for good.
 */
import type { ArrivedSet, FutureNode, NotificationId, NotificationIds, WaitingSet } from './types.ts';

/** Service protocol CombinatorType values. */
export const Combinator = {
  Unknown: 0,
  FirstCompleted: 1,
  AllCompleted: 2,
  FirstSucceededOrAllFailed: 3,
  AllSucceededOrFirstFailed: 4,
} as const;

/** Possible outcomes of a node, as a bit set: it may still be pending, have succeeded, have failed. */
const PENDING = 1;
const OK = 2;
const FAILED = 4;

/** Whether the await point `w` could resolve with the notifications `arrived` (the journal's). */
export function canResolve(w: WaitingSet, arrived: ArrivedSet): boolean {
  if (!w.future) return anyArrived(w, arrived);
  return (outcomes(w.future, arrived) & (OK | FAILED)) !== 0;
}

function anyArrived(w: NotificationIds, arrived: NotificationIds): boolean {
  return (
    w.completions.some((c) => arrived.completions.includes(c)) ||
    w.signals.some((s) => arrived.signals.includes(s)) ||
    w.names.some((n) => arrived.names.includes(n))
  );
}

/** The possible outcomes of one leaf: pending until it arrives, then a success or a failure. */
function leaf(arrived: ArrivedSet, kind: keyof NotificationIds, id: number | string): number {
  const has = (set: NotificationIds | undefined) => (set?.[kind] as (number | string)[] | undefined)?.includes(id);
  if (!has(arrived)) return PENDING;
  return has(arrived.failed) ? FAILED : OK;
}

function outcomes(node: FutureNode, arrived: ArrivedSet): number {
  const children: number[] = [
    ...node.completions.map((c) => leaf(arrived, 'completions', c)),
    ...node.signals.map((s) => leaf(arrived, 'signals', s)),
    ...node.names.map((n) => leaf(arrived, 'names', n)),
    ...node.nested.map((n) => outcomes(n, arrived)),
  ];
  // A node with nothing to wait on resolves at once (Promise.all([])); waking is the safe side.
  if (children.length === 0) return OK;
  const some = (bits: number) => children.some((c) => (c & bits) !== 0);
  const every = (bits: number) => children.every((c) => (c & bits) !== 0);
  let out = 0;
  switch (node.combinator) {
    case Combinator.AllCompleted: // allSettled: resolves (with success) once every child is done
      if (some(PENDING)) out |= PENDING;
      if (every(OK | FAILED)) out |= OK;
      return out;
    case Combinator.FirstSucceededOrAllFailed: // any
      if (some(OK)) out |= OK;
      if (every(FAILED)) out |= FAILED;
      if (every(PENDING | FAILED) && some(PENDING)) out |= PENDING;
      return out;
    case Combinator.AllSucceededOrFirstFailed: // all
      if (some(FAILED)) out |= FAILED;
      if (every(OK)) out |= OK;
      if (every(PENDING | OK) && some(PENDING)) out |= PENDING;
      return out;
    default: // first completed (race); unknown combinators are treated the same, as the protocol says
      if (some(OK)) out |= OK;
      if (some(FAILED)) out |= FAILED;
      if (every(PENDING)) out |= PENDING;
      return out;
  }
}

/** Records that a notification arrived (and whether it failed); false if it had arrived already. */
export function markArrived(arrived: ArrivedSet, nid: NotificationId, failed: boolean): boolean {
  if ('completionId' in nid) {
    if (arrived.completions.includes(nid.completionId)) return false;
    arrived.completions.push(nid.completionId);
  } else if ('signalId' in nid) {
    if (arrived.signals.includes(nid.signalId)) return false;
    arrived.signals.push(nid.signalId);
  } else arrived.names.push(nid.signalName); // a named signal may arrive again
  if (failed) {
    arrived.failed ??= { completions: [], signals: [], names: [] };
    if ('completionId' in nid) arrived.failed.completions.push(nid.completionId);
    else if ('signalId' in nid) arrived.failed.signals.push(nid.signalId);
    else if (!arrived.failed.names.includes(nid.signalName)) arrived.failed.names.push(nid.signalName);
  }
  return true;
}
