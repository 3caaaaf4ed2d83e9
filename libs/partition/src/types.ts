import type { InvocationOutcome, ServiceType } from '@stead/core';

/** A journal entry exactly as the service protocol carries it: message type + protobuf payload. */
export interface JournalEntry {
  type: number;
  bytes: Uint8Array;
}

export interface Target {
  service: string;
  handler: string;
  /** Object / workflow key. */
  key?: string;
  serviceType?: ServiceType;
}

export type ResponseSink =
  /** An ingress request waiting in process `node` (one process: always 'local'). */
  | { kind: 'ingress'; node: string }
  /** A calling invocation waiting on `completionId`. */
  | { kind: 'invocation'; invocationId: string; completionId: number };

export interface NewInvocation {
  id: string;
  target: Target;
  input: Uint8Array;
  headers: [string, string][];
  sink?: ResponseSink;
  /** Epoch ms; run no earlier than this. */
  executionTime?: number;
  idempotencyKey?: string;
}

/** Exactly-once delivery between partitions: a producer's outbox sequence number. */
export interface Dedup {
  producer: number;
  seq: number;
}

export type NotificationId = { completionId: number } | { signalId: number } | { signalName: string };

export interface WaitingSet {
  completions: number[];
  signals: number[];
  names: string[];
}

export type Failure = { code: number; message: string };

/** What the invoker reports about an attempt; appended to the log, applied by the state machine. */
export type InvokerEffect =
  | { kind: 'pin'; deploymentId: string; protocolVersion: number }
  /** A command message the SDK sent. */
  | { kind: 'command'; entry: JournalEntry }
  | { kind: 'runCompletion'; completionId: number; value?: Uint8Array; failure?: Failure }
  | { kind: 'suspend'; waiting: WaitingSet }
  | { kind: 'end' }
  /** Give up: the invocation completes with this failure. */
  | { kind: 'fail'; failure: Failure };

export interface TimerKey {
  wakeAt: number;
  invocationId: string;
  /** Completion id of a sleep, or -1 for a delayed invocation. */
  completionId: number;
}

/** Records of a partition's log. `ts` is the appender's wall clock (epoch ms): the state machine's only clock. */
export type Command =
  | { kind: 'Invoke'; ts: number; inv: NewInvocation; dedup?: Dedup }
  | { kind: 'Effect'; ts: number; epoch: number; invocationId: string; effect: InvokerEffect }
  | { kind: 'TimerFired'; ts: number; timer: TimerKey }
  | { kind: 'Notify'; ts: number; invocationId: string; entry: JournalEntry; id: NotificationId; dedup?: Dedup }
  | { kind: 'AnnounceLeader'; ts: number; epoch: number }
  | { kind: 'OutboxTruncate'; ts: number; upTo: number };

export type InvocationPhase = 'scheduled' | 'invoked' | 'suspended' | 'completed';

export interface InvocationStatus {
  id: string;
  target: Target;
  phase: InvocationPhase;
  createdAt: number;
  modifiedAt: number;
  executionTime?: number;
  journalLength: number;
  deploymentId?: string;
  protocolVersion?: number;
  sinks: ResponseSink[];
  waiting?: WaitingSet;
  /** Notification ids present in the journal. */
  arrived: { completions: number[]; signals: number[]; names: string[] };
  output?: InvocationOutcome;
  idempotencyKey?: string;
}

/** What the leader must do once a batch of commands is applied. */
export type Effect =
  | { kind: 'invoke'; invocationId: string }
  | { kind: 'notify'; invocationId: string; index: number; entry: JournalEntry }
  | { kind: 'timer'; timer: TimerKey }
  | { kind: 'outbox'; seq: number; partitionKey: bigint; command: Command }
  | { kind: 'respond'; invocationId: string; sink: ResponseSink; outcome: InvocationOutcome }
  | { kind: 'stopAttempt'; invocationId: string };
