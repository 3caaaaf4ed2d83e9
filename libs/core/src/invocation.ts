/** What the ingress asks the engine for, and what it gets back. */
import type { ScheduleOperation } from './schedules.ts';
export interface InvocationTarget {
  service: string;
  handler: string;
  /** Object or workflow key; undefined for plain services. */
  key?: string;
}

/**
 * The latest execution time (ms since the epoch) a delayed invocation may have: 9999-12-31T23:59:59.999Z.
 * It is a valid JS Date, prints as a four-digit-year RFC 3339 timestamp (as Restate's), and fits the 48-bit
 * wake-up times of partition timers. `now + delay` beyond it is refused as bad input before anything is appended.
 */
export const MAX_EXECUTION_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export interface IngressRequest {
  target: InvocationTarget;
  body: Uint8Array;
  /** Request headers passed on to the handler (lower-case names), minus hop-by-hop ones. */
  headers: [string, string][];
  idempotencyKey?: string;
  /** One-way sends only: run no earlier than now + delayMs. */
  delayMs?: number;
  /**
   * The id of the new invocation, chosen by the caller (a forwarding ingress picks it before forwarding, so that
   * a retry on another leader names the same invocation and attaches to it instead of starting a second one).
   * Used for plain invocations; it must parse, and a keyed target's id must carry its key's partition key. An
   * idempotent request or a workflow run has an id derived from its identity: a given one must equal it.
   */
  invocationId?: string;
}

export type InvocationOutcome =
  | { ok: true; value: Uint8Array; contentType?: string }
  | { ok: false; code: number; message: string; metadata?: Record<string, string> };

/**
 * The engine's answers (not an invocation's result) for an invocation it does not know or no longer keeps, and
 * for reading the output of one that has not completed. The ingress reports them as its own errors
 * (`x-restate-error-source: ingress`), unlike an invocation that failed with the same code.
 */
export const INVOCATION_NOT_FOUND: InvocationOutcome = { ok: false, code: 404, message: 'invocation not found' };
export const INVOCATION_NOT_READY: InvocationOutcome = {
  ok: false,
  code: 470,
  message: 'invocation not completed yet',
};

/** Whether `o` is INVOCATION_NOT_FOUND or INVOCATION_NOT_READY (compared by value: it may have crossed the wire). */
export function isEngineMiss(o: InvocationOutcome): boolean {
  if (o.ok || (o.metadata !== undefined && Object.keys(o.metadata).length > 0)) return false;
  return [INVOCATION_NOT_FOUND, INVOCATION_NOT_READY].some(
    (m) => !m.ok && m.code === o.code && m.message === o.message,
  );
}

export interface SendReceipt {
  invocationId: string;
  /** Restate answers `Accepted`, or `PreviouslyAccepted` for an idempotent send seen before. */
  status: 'Accepted' | 'PreviouslyAccepted';
  /** When the invocation will run (delayed sends), as ISO-8601. */
  executionTime?: string;
}

/** The engine as the ingress sees it. Implemented by the worker/partition side. */
export interface IngressBackend {
  /** Appends an Invoke to the target's partition log and resolves with the invocation's result. */
  call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }>;
  /** Appends an Invoke without waiting for its result. Resolves once the Invoke is durable in the log. */
  send(req: IngressRequest): Promise<SendReceipt>;
}

/** Which invocation an attach/output request means. */
export type InvocationQuery =
  | { invocationId: string }
  | { workflow: { name: string; key: string } }
  | { idempotent: { service: string; key?: string; handler: string; idempotencyKey: string } };

export type ControlOperation = 'cancel' | 'kill' | 'purge' | 'purge-journal' | 'pause' | 'resume';

/** A new state for one object or workflow key, replacing all of it (the admin API's `POST /services/{name}/state`). */
export interface StateReplacement {
  service: string;
  key: string;
  serviceType: 'VIRTUAL_OBJECT' | 'WORKFLOW';
  /** The whole new state: keys not in it are removed. */
  state: [Uint8Array, Uint8Array][];
  /** When given, the state is replaced only if its current `stateVersion` is this one (else 409). */
  version?: string;
}

/** Operations beyond call/send that the ingress and admin API need from the engine. */
/**
 * How restart-as-new starts the new invocation: from the input only (`from` absent or 0), or with the old
 * journal's prefix up to entry `from` included, on the latest deployment of the service, the one the old
 * invocation was pinned to (`keep`), or the deployment with that id.
 */
export interface RestartOptions {
  from?: number;
  deployment?: 'latest' | 'keep' | { id: string };
}

export interface InvocationBackend extends IngressBackend {
  /**
   * `attach` waits for the result; `output` answers at once: the result, or code 470 when the invocation
   * has not completed; 404 when it is unknown (or its result is no longer retained).
   */
  attach(
    query: InvocationQuery,
    mode: 'attach' | 'output',
    signal?: AbortSignal,
  ): Promise<{ invocationId: string; outcome: InvocationOutcome }>;
  /** Completes an awakeable: a value, or a failure. Throws `InvalidIdError` for a malformed id. */
  completeAwakeable(
    awakeableId: string,
    result: { value: Uint8Array } | { failure: { code: number; message: string } },
  ): Promise<void>;
  /** Lifecycle control; resolves with ok, or a failure with the HTTP status to answer (404, 409). */
  control(invocationId: string, op: ControlOperation): Promise<InvocationOutcome>;
  /**
   * Starts a completed invocation again as a new one with the same target and input; resolves with ok and the
   * new invocation id (UTF-8) as value, or a failure: 404 unknown, 409 still running, 410 input not retained,
   * 400 not restartable. With `opts.from` > 0 the new invocation also gets the old journal's entries 0..from and
   * the completions of the commands among them (409 when one of them never completed, 400 when `from` is past
   * the journal's end), and runs on `opts.deployment` (default latest; 404 unknown id, 409 keep but none pinned).
   */
  restartAsNew(invocationId: string, opts?: RestartOptions): Promise<InvocationOutcome>;
  /**
   * Replaces the state of an object or workflow key; resolves with ok once applied or queued behind the invocation
   * holding the key's lock, or a failure: 409 when the state's version is not the expected one.
   */
  replaceState(req: StateReplacement): Promise<InvocationOutcome>;
  /**
   * Creates, pauses, resumes or deletes a cron schedule in the partition of `partitionKey` (`schedulePartitionKey`
   * for a create; the `partition_key` column of `sys_schedule` for the others); resolves once applied with ok (value:
   * `created` or `unchanged` for a create), or a failure: 404 unknown id, 409 an id taken by another definition.
   */
  schedule(partitionKey: bigint, op: ScheduleOperation): Promise<InvocationOutcome>;
  /**
   * Status and journal of an invocation, as JSON (Stead's `GET /invocations/{id}`; Restate shows the same
   * through SQL `sys_invocation`/`sys_journal`); undefined when unknown or purged (retention ended).
   */
  describe?(invocationId: string): Promise<InvocationDescription | undefined>;
}

/** What `describe` answers: the columns of Restate's `sys_invocation` that we have, and the journal. */
export interface InvocationDescription {
  id: string;
  target: string;
  target_service_name: string;
  target_handler_name: string;
  target_service_key?: string;
  status: string;
  created_at: string;
  modified_at: string;
  completed_at?: string;
  /** When the invocation is purged (end of retention). */
  retention_until?: string;
  /** When its journal is dropped (end of journal retention). */
  journal_retention_until?: string;
  idempotency_key?: string;
  deployment_id?: string;
  completion_result?: 'success' | 'failure';
  completion_failure?: string;
  journal_size: number;
  journal: { index: number; entry_type: string; type_code: number }[];
}

/** Bad input from a client (malformed id, bad parameter): answered with `status` and the message. */
export class InputError extends Error {
  override name = 'InputError';
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

/**
 * A request refused because the server (or one invocation) has too much waiting work: nothing was done for it,
 * the client may retry after `retryAfterSeconds` (answered with `status`, 503 or 429, and a Retry-After header).
 */
export class OverloadedError extends Error {
  override name = 'OverloadedError';
  readonly status: number;
  readonly retryAfterSeconds: number;
  constructor(message: string, opts: { status?: 503 | 429; retryAfterSeconds?: number } = {}) {
    super(message);
    this.status = opts.status ?? 503;
    this.retryAfterSeconds = opts.retryAfterSeconds ?? 1;
  }
}

/**
 * The partition a request needs is not led by this process (any more): nothing of the request's outcome will be
 * answered here. The request may have been appended already; a retry on the partition's current leader with
 * the same invocation id attaches to it. Answered 503 with Retry-After by HTTP surfaces; `code` is stable.
 */
export class NotLeaderError extends Error {
  override name = 'NotLeaderError';
  readonly code = 'NOT_LEADER';
  readonly status = 503;
  readonly retryAfterSeconds = 1;
  readonly partition: number;
  constructor(partition: number, detail?: string) {
    super(`partition ${partition} is not led by this process${detail ? ` (${detail})` : ''}; retry on its leader`);
    this.partition = partition;
  }
}
