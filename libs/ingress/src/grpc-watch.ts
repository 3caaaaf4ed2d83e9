/**
 * Watch: an invocation's status changes as a stream. Two things run side by side over the engine backend:
 * - an attach, which resolves with the result when the invocation completes (it ends the stream), and
 * - a poll of the invocation's status (`describe`), quick after a change and backing off to `maxPollMs` while
 *   nothing changes; a state equal to the last one sent is not sent again.
 * Both go through the backend, which in a cluster retries on the partition's new leader after a failover, so
 * the stream goes on across one; a status read that fails meanwhile is skipped.
 */
import {
  InputError,
  type InvocationBackend,
  type InvocationOutcome,
  type InvocationQuery,
  isEngineMiss,
  queriedInvocationId,
} from '@stead/core';
import { ingress as pb } from '@stead/proto';

const MIN_POLL_MS = 25;
export const DEFAULT_WATCH_MAX_POLL_MS = 1_000;

const STATES: Readonly<Record<string, pb.InvocationState>> = {
  pending: pb.InvocationState.INVOCATION_STATE_PENDING,
  scheduled: pb.InvocationState.INVOCATION_STATE_SCHEDULED,
  ready: pb.InvocationState.INVOCATION_STATE_READY,
  running: pb.InvocationState.INVOCATION_STATE_RUNNING,
  suspended: pb.InvocationState.INVOCATION_STATE_SUSPENDED,
  'backing-off': pb.InvocationState.INVOCATION_STATE_BACKING_OFF,
  paused: pb.InvocationState.INVOCATION_STATE_PAUSED,
  completed: pb.InvocationState.INVOCATION_STATE_COMPLETED,
};

/** The Watch state of a status name of `describe` (Restate's sys_invocation names); undefined for an unknown one. */
export function watchStateOf(status: string): pb.InvocationState | undefined {
  return STATES[status];
}

export interface WatchOptions {
  backend: InvocationBackend;
  query: InvocationQuery;
  /** Aborted when the client leaves: the watch stops (the invocation goes on). */
  signal: AbortSignal;
  maxPollMs?: number;
  emit: (e: pb.WatchEvent) => void;
  /** The Output of a successful result (content type of the handler). */
  toOutput: (res: { invocationId: string; outcome: InvocationOutcome }) => pb.Output;
}

type Final = { res: { invocationId: string; outcome: InvocationOutcome } } | { err: unknown };

/**
 * Streams the invocation's states until it completes (the last event carries its result). Throws when the
 * invocation is unknown (InputError 404) or the query is bad (400); returns early when `signal` aborts.
 */
export async function watchInvocation(o: WatchOptions): Promise<void> {
  const id = queriedInvocationId(o.query);
  const maxPollMs = o.maxPollMs ?? DEFAULT_WATCH_MAX_POLL_MS;
  let final: Final | undefined;
  let wake: () => void = () => {};
  o.backend.attach(o.query, 'attach', o.signal).then(
    (res) => {
      final = { res };
      wake();
    },
    (err) => {
      final = { err };
      wake();
    },
  );
  o.signal.addEventListener('abort', () => wake(), { once: true });
  let last: pb.InvocationState | undefined;
  let pauseMs = MIN_POLL_MS;
  while (final === undefined && !o.signal.aborted) {
    const state = await currentState(o.backend, id);
    if (final !== undefined || o.signal.aborted) break;
    if (state !== undefined && state !== pb.InvocationState.INVOCATION_STATE_COMPLETED && state !== last) {
      o.emit({ invocationId: id, state });
      last = state;
      pauseMs = MIN_POLL_MS;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, pauseMs);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    pauseMs = Math.min(maxPollMs, pauseMs * 2);
  }
  if (o.signal.aborted || final === undefined) return;
  if ('err' in final) throw final.err;
  o.emit(completedEvent(final.res, o.toOutput));
}

/** The state `describe` reports now; undefined when unknown (not started yet), not offered, or not readable now. */
async function currentState(backend: InvocationBackend, id: string): Promise<pb.InvocationState | undefined> {
  if (backend.describe === undefined) return undefined;
  try {
    const d = await backend.describe(id);
    return d === undefined ? undefined : watchStateOf(d.status);
  } catch {
    // A leader failover or a restart: the attach (retried by the backend) decides when the watch ends.
    return undefined;
  }
}

function completedEvent(
  res: { invocationId: string; outcome: InvocationOutcome },
  toOutput: WatchOptions['toOutput'],
): pb.WatchEvent {
  const o = res.outcome;
  const base = { invocationId: res.invocationId, state: pb.InvocationState.INVOCATION_STATE_COMPLETED };
  if (o.ok) return { ...base, result: { $case: 'output', value: toOutput(res) } };
  // The engine does not know the invocation (never started, or no longer retained): the watch's own error.
  if (isEngineMiss(o)) throw new InputError(o.message, o.code);
  return {
    ...base,
    result: { $case: 'failure', value: { code: o.code, message: o.message, metadata: o.metadata ?? {} } },
  };
}
