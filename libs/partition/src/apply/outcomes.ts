/** The state machine's options and the outcomes its handlers answer with (as Restate reports them). */
import { INVOCATION_NOT_FOUND, INVOCATION_NOT_READY, type InvocationOutcome } from '@stead/core';
import type { Target } from '../types.ts';

/** Id arithmetic the state machine needs; all pure functions (replay must give the same ids). */
export interface IdFunctions {
  /** Partition key of an invocation id (to route messages to the partition that owns it). */
  partitionKeyOfInvocation: (invocationId: string) => bigint;
  /** Id of an invocation started by a handler: a function of the parent and the journal index. */
  childId: (parentId: string, journalIndex: number, target: Target) => string;
  /** Target invocation and signal index of an awakeable id; throws on a malformed id. */
  awakeable: (awakeableId: string) => { invocationId: string; signalIndex: number };
  /** Id of the invocation an idempotent request or a workflow run gets (same inputs, same id). */
  idempotentId: (service: string, key: string | undefined, handler: string, idempotencyKey: string) => string;
  workflowId: (name: string, key: string) => string;
}

export interface StateMachineOptions extends IdFunctions {
  partitionId: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** Failure codes and messages as Restate reports them. */
export const CANCELLED: InvocationOutcome = { ok: false, code: 409, message: 'cancelled' };
export const KILLED: InvocationOutcome = { ok: false, code: 409, message: 'killed' };
export const NOT_FOUND: InvocationOutcome = INVOCATION_NOT_FOUND;
export const NOT_READY: InvocationOutcome = INVOCATION_NOT_READY;
export const ALREADY_COMPLETED: InvocationOutcome = {
  ok: false,
  code: 409,
  message: 'the invocation is already completed; it can be purged',
};
export const CANCEL_SIGNAL = 1;

/**
 * Most waiters (attached requests, calling invocations) one invocation keeps in its status; a further attach is
 * answered with TOO_MANY_WAITERS. A constant, not a setting: every replay of the log must decide the same.
 */
export const MAX_SINKS_PER_INVOCATION = 1000;
export const TOO_MANY_WAITERS: InvocationOutcome = {
  ok: false,
  code: 429,
  message: `too many requests are attached to this invocation (the limit is ${MAX_SINKS_PER_INVOCATION}); retry later`,
};

/** A control operation or an attach refused (409 unless said otherwise). */
export const refused = (message: string, code = 409): InvocationOutcome => ({ ok: false, code, message });
