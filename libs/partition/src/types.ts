import type { HandlerType, InvocationOutcome, ScheduleDefinition, ServiceType } from '@stead/core';

/** A journal entry exactly as the service protocol carries it: message type + protobuf payload. */
export interface JournalEntry {
  type: number;
  bytes: Uint8Array;
  /** Of a journaled call command: its target's types as the invoker resolved them (for the target's key). */
  callTarget?: Pick<Target, 'serviceType' | 'handlerType'>;
  /** When the state machine wrote it into the journal (its record's ts); absent in entries written before. */
  appendedAt?: number;
}

export interface Target {
  service: string;
  handler: string;
  /** Object / workflow key. */
  key?: string;
  serviceType?: ServiceType;
  handlerType?: HandlerType;
}

/** Virtual objects and workflows always have a key (possibly ""); services never have one. */
export function isKeyed(serviceType: ServiceType | undefined): boolean {
  return serviceType === 'VIRTUAL_OBJECT' || serviceType === 'WORKFLOW';
}

/**
 * The target with its key as its service type says: present (default "") for virtual objects and workflows,
 * absent for services. Without a known type, the key is kept as given.
 */
export function normalizeKey(t: Target): Target {
  if (t.serviceType === undefined) return t;
  if (isKeyed(t.serviceType)) return t.key === undefined ? { ...t, key: '' } : t;
  if (t.key === undefined) return t;
  const { key: _, ...rest } = t;
  return rest;
}

/** Targets that run one at a time per key (exclusive object handlers, workflow run). */
export function isExclusive(t: Target): boolean {
  if (t.key === undefined) return false;
  if (t.serviceType === 'VIRTUAL_OBJECT') return t.handlerType !== 'SHARED';
  if (t.serviceType === 'WORKFLOW') return t.handlerType === 'WORKFLOW';
  return false;
}

export type ResponseSink =
  /** An ingress request waiting in process `node` (one process: always 'local'). */
  | { kind: 'ingress'; node: string }
  /** A calling invocation waiting on `completionId`; `entryType` is the notification type to send. */
  | { kind: 'invocation'; invocationId: string; completionId: number; entryType?: number };

export function sameSink(a: ResponseSink, b: ResponseSink): boolean {
  if (a.kind === 'ingress') return b.kind === 'ingress' && a.node === b.node;
  return (
    b.kind === 'invocation' &&
    a.invocationId === b.invocationId &&
    a.completionId === b.completionId &&
    a.entryType === b.entryType
  );
}

/** The invocation that started another one (call or one-way call): admin introspection's `invoked_by`. */
export interface Caller {
  invocationId: string;
  target: Target;
}

export interface NewInvocation {
  id: string;
  target: Target;
  input: Uint8Array;
  headers: [string, string][];
  sink?: ResponseSink;
  /** Epoch ms; run no earlier than this. */
  executionTime?: number;
  idempotencyKey?: string;
  /** How long a completed result stays retrievable (ms); 0 = forget at once. */
  retentionMs?: number;
  /** How long the journal of a completed invocation is kept (ms, <= retentionMs); 0 = drop at completion. */
  journalRetentionMs?: number;
  /** Report `submitted` (with whether it existed already) once applied: idempotent sends. */
  reportSubmit?: boolean;
  /**
   * The deployment picked when the record was appended: the invocation's pin if it starts at once (saves the
   * invoker's pin record); an invocation that waits (delay, busy object) is pinned when it starts instead.
   */
  pin?: { deploymentId: string; protocolVersion: number };
  /** The invocation that called or sent it; absent: ingress. */
  invokedBy?: Caller;
}

/**
 * Exactly-once over a log whose appends may be retried: a producer names itself and numbers its records; the
 * state machine drops a record whose `seq` is not above the highest it applied from `producer`. Producers:
 * `outbox/<partition>` (messages from a partition's outbox, numbered by its state machine) and
 * `leader/<partition>/<epoch>/<process>` (what a leader appends to its own log, numbered as it appends).
 */
export interface Dedup {
  producer: string;
  seq: number;
}

/** The producer name of a partition's outbox (records before producer names carried the partition number). */
export function outboxProducer(partitionId: number): string {
  return `outbox/${partitionId}`;
}

export type NotificationId = { completionId: number } | { signalId: number } | { signalName: string };

/** Notification ids, by kind. */
export interface NotificationIds {
  completions: number[];
  signals: number[];
  names: string[];
}

/** What a suspended invocation waits on: any one of the ids, or (v7) as the tree of combinators `future` says. */
export interface WaitingSet extends NotificationIds {
  future?: FutureNode;
}

/** One node of a v7 await point (service protocol Future): leaves and nested nodes combined by `combinator`. */
export interface FutureNode extends NotificationIds {
  /** Service protocol CombinatorType: 0/1 first completed, 2 all completed, 3 any succeeded, 4 all succeeded. */
  combinator: number;
  nested: FutureNode[];
}

/** The notification ids present in a journal, and those of them that carry a failure. */
export interface ArrivedSet extends NotificationIds {
  failed?: NotificationIds;
}

export type Failure = { code: number; message: string };

/** What the invoker reports about an attempt; appended to the log, applied by the state machine. */
export type InvokerEffect =
  | { kind: 'pin'; deploymentId: string; protocolVersion: number }
  /** A command message the SDK sent. */
  | {
      kind: 'command';
      entry: JournalEntry;
      target?: Pick<Target, 'serviceType' | 'handlerType'>;
      /** For a call or send: the callee's retention, from the schema (the state machine has none). */
      retention?: { retentionMs: number; journalRetentionMs: number };
    }
  | { kind: 'runCompletion'; completionId: number; value?: Uint8Array; failure?: Failure }
  | { kind: 'suspend'; waiting: WaitingSet }
  | { kind: 'end' }
  /** Give up: the invocation completes with this failure. */
  | { kind: 'fail'; failure: Failure }
  /** The endpoint asked to pause (or retries ran out with pausing configured). */
  | { kind: 'pause'; reason: string };

export const TIMER_INVOKE = -1;
export const TIMER_PURGE = -2;
/** End of the journal retention of a completed invocation whose status is kept longer. */
export const TIMER_PURGE_JOURNAL = -3;

/** The next tick of a cron schedule (`invocationId` holds the schedule's id). */
export const TIMER_SCHEDULE = -4;

/**
 * A cron schedule in its partition's store. Invariants: `nextTick` is set (and its TIMER_SCHEDULE timer armed)
 * exactly when the schedule is not paused; `lastTick` only grows; `queuedTick` (overlap `queue`) is after `lastTick`.
 */
export interface ScheduleRecord {
  definition: ScheduleDefinition;
  createdAt: number;
  paused: boolean;
  nextTick?: number;
  /** The latest tick started, when, and its invocation. */
  lastTick?: number;
  lastFiredAt?: number;
  lastInvocationId?: string;
  /** A tick waiting for the last tick's invocation to end (overlap `queue`). */
  queuedTick?: number;
  /** Ticks started, ticks that never started (missed, or overlapping with overlap `skip`), ticks started late. */
  fired: number;
  skipped: number;
  late: number;
}

export interface TimerKey {
  wakeAt: number;
  invocationId: string;
  /** Completion id of a sleep; TIMER_INVOKE for a delayed invocation; TIMER_PURGE at the end of retention. */
  completionId: number;
}

/** Records of a partition's log. `ts` is the appender's wall clock (epoch ms): the state machine's only clock. */
/** The commands of a partition's log, without the envelope's producer tag. */
export type CommandBody =
  | { kind: 'Invoke'; ts: number; inv: NewInvocation }
  | {
      kind: 'Effect';
      ts: number;
      epoch: number;
      invocationId: string;
      effect: InvokerEffect;
      /** The invocation's attempt that produced it: effects of an older attempt are dropped. */
      attempt?: number;
    }
  | { kind: 'TimerFired'; ts: number; timer: TimerKey }
  | { kind: 'Notify'; ts: number; invocationId: string; entry: JournalEntry; id: NotificationId }
  | { kind: 'AnnounceLeader'; ts: number; epoch: number }
  | { kind: 'OutboxTruncate'; ts: number; upTo: number }
  /** Lifecycle control (admin API, ctx.cancel arrives as a CANCEL signal through Notify). */
  | {
      kind: 'Control';
      ts: number;
      invocationId: string;
      op: ControlOp;
      sink?: ResponseSink;
      /** For restart-as-new: the id of the new invocation (same partition key), chosen by the appender. */
      newInvocationId?: string;
      /** For restart-as-new: copy the old journal's entries 0..restartFrom (absent or 0: the input only). */
      restartFrom?: number;
      /**
       * For restart-as-new from a prefix: the deployment the new invocation runs on. `keep`: the old one's pin;
       * a pin: that deployment (the appender checked it exists); absent: the service's latest, picked at start.
       */
      restartOn?: 'keep' | { deploymentId: string; protocolVersion: number };
    }
  /**
   * Attach to an invocation's result, read it if it is there (`output`), or take back an earlier attach whose
   * request went away (`detach`: the sink is removed from the invocation's waiters).
   */
  | {
      kind: 'Attach';
      ts: number;
      invocationId: string;
      sink: ResponseSink;
      mode: 'attach' | 'output' | 'detach';
    }
  /**
   * Replace the whole state of an object or workflow key (admin API). Queued while an invocation holds the key's
   * lock (its handler works on the state it read), and, with `version`, refused when the state changed since.
   */
  | {
      kind: 'ReplaceState';
      ts: number;
      service: string;
      key: string;
      serviceType: 'VIRTUAL_OBJECT' | 'WORKFLOW';
      state: [Uint8Array, Uint8Array][];
      version?: string;
      sink?: ResponseSink;
    }
  /** Create, pause, resume or delete a cron schedule of this partition (admin API); answered through `sink`. */
  | {
      kind: 'Schedule';
      ts: number;
      op: 'create' | 'pause' | 'resume' | 'delete';
      id: string;
      /** For create. */
      definition?: ScheduleDefinition;
      sink?: ResponseSink;
    };

/**
 * A record of a partition's log: a command, tagged by its producer when it may land twice (see Dedup). Any
 * command kind may carry the tag; a tagged record already applied from its producer is dropped whole.
 */
export type Command = CommandBody & { dedup?: Dedup };

export type ControlOp = 'cancel' | 'kill' | 'purge' | 'purge-journal' | 'pause' | 'resume' | 'restart-as-new';

export type InvocationPhase = 'scheduled' | 'inboxed' | 'invoked' | 'suspended' | 'paused' | 'completed';

export interface InvocationStatus {
  /** Grows each time the state machine starts the invocation; fences effects of earlier attempts. */
  attempt?: number;
  id: string;
  target: Target;
  phase: InvocationPhase;
  createdAt: number;
  modifiedAt: number;
  executionTime?: number;
  journalLength: number;
  /** How many of the journal's entries are commands (absent in statuses written before it was counted). */
  journalCommands?: number;
  deploymentId?: string;
  protocolVersion?: number;
  sinks: ResponseSink[];
  waiting?: WaitingSet;
  /** Notification ids present in the journal. */
  arrived: ArrivedSet;
  output?: InvocationOutcome;
  idempotencyKey?: string;
  retentionMs?: number;
  /** Journal retention after completion (ms); while it lasts the journal (journalLength entries) is kept. */
  journalRetentionMs?: number;
  completedAt?: number;
  /** The input command of a completed invocation whose result is retained (for restart-as-new). */
  input?: JournalEntry;
  /** Holds its object/workflow key's lock. */
  locked?: boolean;
  /** While inboxed: the sequence number of its entry in its key's inbox (to drop it without a scan). */
  inboxSeq?: number;
  /** Who started it (absent: ingress, or recorded before this field existed). */
  invokedBy?: Caller;
  /** The completed invocation it was restarted from (restart-as-new). */
  restartedFrom?: string;
  /** When it last queued behind its key's lock (epoch ms). */
  inboxedAt?: number;
  /** When it first ran (epoch ms): admitted, with its key's lock when exclusive. */
  runningAt?: number;
}

/** What the leader must do once a batch of commands is applied. */
export type Effect =
  | { kind: 'invoke'; invocationId: string }
  | { kind: 'notify'; invocationId: string; index: number; entry: JournalEntry }
  | { kind: 'timer'; timer: TimerKey }
  | { kind: 'outbox'; seq: number; partitionKey: bigint; command: Command }
  | { kind: 'respond'; invocationId: string; sink: ResponseSink; outcome: InvocationOutcome }
  | { kind: 'submitted'; invocationId: string; previouslyAccepted: boolean }
  /**
   * Stop the invocation's running attempt. `ended` says the invocation itself ended (with a result, or with a
   * failure: a terminal error, a kill, a cancellation); absent when only the attempt stops (a pause).
   */
  | { kind: 'stopAttempt'; invocationId: string; ended?: 'completed' | 'failed' };
