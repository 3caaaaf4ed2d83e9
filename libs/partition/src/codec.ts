/**
 * Conversions between the partition's TypeScript types and their durable protobuf form
 * (proto/stead/partition/v1/partition.proto). Decoders validate: a record or value whose required parts are
 * missing, or whose enumerations hold unknown names, throws a FormatError saying what is wrong.
 */
import {
  type HandlerType,
  type InvocationOutcome,
  OVERLAP_POLICIES,
  type ScheduleDefinition,
  type ServiceType,
} from '@stead/core';
import { partition as P } from '@stead/proto';
import type { Codec } from '@stead/storage';
import type * as J from './journal.ts';
import type {
  ArrivedSet,
  Caller,
  Command,
  ControlOp,
  Dedup,
  Failure,
  FutureNode,
  InvocationPhase,
  InvocationStatus,
  InvokerEffect,
  JournalEntry,
  NewInvocation,
  NotificationId,
  ResponseSink,
  ScheduleRecord,
  Target,
  TimerKey,
  WaitingSet,
} from './types.ts';
import { outboxProducer } from './types.ts';

export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

/** The generated messages type bytes as Buffer: a view of the same memory, no copy. */
const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const optBuf = (b: Uint8Array | undefined) => (b === undefined ? undefined : buf(b));
const optBig = (v: number | undefined) => (v === undefined ? undefined : BigInt(v));
const entryTo = (e: JournalEntry): P.JournalEntry => ({
  type: e.type,
  bytes: buf(e.bytes),
  callServiceType: e.callTarget?.serviceType,
  callHandlerType: e.callTarget?.handlerType,
  appendedAt: optBig(e.appendedAt),
});

function required<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new FormatError(`${what} is missing`);
  return v;
}

function oneOf<T extends string>(v: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(v)) throw new FormatError(`${what} '${v}' is not one of ${allowed}`);
  return v as T;
}

/** Epoch ms and other integers that fit a JS number. */
function int(v: bigint, what: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new FormatError(`${what} ${v} is out of range`);
  return n;
}

const SERVICE_TYPES: readonly ServiceType[] = ['SERVICE', 'VIRTUAL_OBJECT', 'WORKFLOW'];
const HANDLER_TYPES: readonly HandlerType[] = ['EXCLUSIVE', 'SHARED', 'WORKFLOW'];
const PHASES: readonly InvocationPhase[] = ['scheduled', 'inboxed', 'invoked', 'suspended', 'paused', 'completed'];
const CONTROL_OPS: readonly ControlOp[] = [
  'cancel',
  'kill',
  'purge',
  'purge-journal',
  'pause',
  'resume',
  'restart-as-new',
];
const optServiceType = (v: string | undefined) =>
  v === undefined ? undefined : oneOf(v, SERVICE_TYPES, 'service type');
const optHandlerType = (v: string | undefined) =>
  v === undefined ? undefined : oneOf(v, HANDLER_TYPES, 'handler type');

// ---------- shared parts ----------

function targetTo(t: Target): P.Target {
  return { service: t.service, handler: t.handler, key: t.key, serviceType: t.serviceType, handlerType: t.handlerType };
}
function targetFrom(t: P.Target | undefined): Target {
  const v = required(t, 'target');
  const out: Target = { service: v.service, handler: v.handler };
  if (v.key !== undefined) out.key = v.key;
  if (v.serviceType !== undefined) out.serviceType = optServiceType(v.serviceType);
  if (v.handlerType !== undefined) out.handlerType = optHandlerType(v.handlerType);
  return out;
}

function entryFrom(e: P.JournalEntry | undefined, what = 'journal entry'): JournalEntry {
  const v = required(e, what);
  const out: JournalEntry = { type: v.type, bytes: v.bytes };
  if (v.callServiceType !== undefined || v.callHandlerType !== undefined) {
    out.callTarget = {};
    if (v.callServiceType !== undefined) out.callTarget.serviceType = optServiceType(v.callServiceType);
    if (v.callHandlerType !== undefined) out.callTarget.handlerType = optHandlerType(v.callHandlerType);
  }
  if (v.appendedAt !== undefined) out.appendedAt = int(v.appendedAt, 'append time');
  return out;
}

const callerTo = (c: Caller | undefined): P.Caller | undefined =>
  c && { invocationId: c.invocationId, target: targetTo(c.target) };
const callerFrom = (c: P.Caller): Caller => ({ invocationId: c.invocationId, target: targetFrom(c.target) });

function failureFrom(f: P.Failure | undefined): Failure {
  const v = required(f, 'failure');
  return { code: v.code, message: v.message };
}

function outcomeTo(o: InvocationOutcome): P.Outcome {
  return o.ok
    ? { result: { $case: 'success', value: { value: buf(o.value), contentType: o.contentType } } }
    : { result: { $case: 'failure', value: { code: o.code, message: o.message, metadata: o.metadata ?? {} } } };
}
function outcomeFrom(o: P.Outcome | undefined): InvocationOutcome {
  const r = required(o?.result, 'outcome');
  if (r.$case === 'success') {
    const out: InvocationOutcome = { ok: true, value: r.value.value };
    if (r.value.contentType !== undefined) out.contentType = r.value.contentType;
    return out;
  }
  const out: InvocationOutcome = { ok: false, code: r.value.code, message: r.value.message };
  if (Object.keys(r.value.metadata).length > 0) out.metadata = r.value.metadata;
  return out;
}

function sinkTo(s: ResponseSink): P.ResponseSink {
  return s.kind === 'ingress'
    ? { sink: { $case: 'ingress', value: { node: s.node } } }
    : {
        sink: {
          $case: 'invocation',
          value: { invocationId: s.invocationId, completionId: s.completionId, entryType: s.entryType },
        },
      };
}
function sinkFrom(s: P.ResponseSink | undefined): ResponseSink {
  const v = required(s?.sink, 'response sink');
  if (v.$case === 'ingress') return { kind: 'ingress', node: v.value.node };
  const out: ResponseSink = {
    kind: 'invocation',
    invocationId: v.value.invocationId,
    completionId: v.value.completionId,
  };
  if (v.value.entryType !== undefined) out.entryType = v.value.entryType;
  return out;
}

const dedupTo = (d: Dedup | undefined): P.Dedup | undefined =>
  d === undefined ? undefined : { producer: 0, producerName: d.producer, seq: BigInt(d.seq) };
/** A producer tag; one written before producer names had the number of the partition whose outbox sent it. */
function dedupFrom(d: P.Dedup | undefined): Dedup | undefined {
  if (d === undefined) return undefined;
  const producer = d.producerName ?? outboxProducer(d.producer);
  if (producer === '') throw new FormatError('dedup producer name is empty');
  return { producer, seq: int(d.seq, 'dedup seq') };
}

function nidTo(n: NotificationId): P.NotificationId {
  if ('completionId' in n) return { id: { $case: 'completionId', value: n.completionId } };
  if ('signalId' in n) return { id: { $case: 'signalId', value: n.signalId } };
  return { id: { $case: 'signalName', value: n.signalName } };
}
function nidFrom(n: P.NotificationId | undefined): NotificationId {
  const v = required(n?.id, 'notification id');
  if (v.$case === 'completionId') return { completionId: v.value };
  if (v.$case === 'signalId') return { signalId: v.value };
  return { signalName: v.value };
}

const waitingTo = (w: WaitingSet & ArrivedSet): P.WaitingSet => ({
  completions: w.completions,
  signals: w.signals,
  names: w.names,
  future: w.future ? futureTo(w.future) : undefined,
  failedCompletions: w.failed?.completions ?? [],
  failedSignals: w.failed?.signals ?? [],
  failedNames: w.failed?.names ?? [],
});
function waitingFrom(w: P.WaitingSet | undefined): WaitingSet & ArrivedSet {
  const out: WaitingSet & ArrivedSet = {
    completions: w?.completions ?? [],
    signals: w?.signals ?? [],
    names: w?.names ?? [],
  };
  if (w?.future) out.future = futureFrom(w.future);
  if (w && w.failedCompletions.length + w.failedSignals.length + w.failedNames.length > 0)
    out.failed = { completions: w.failedCompletions, signals: w.failedSignals, names: w.failedNames };
  return out;
}
const futureTo = (f: FutureNode): P.WaitingFuture => ({
  combinator: f.combinator,
  completions: f.completions,
  signals: f.signals,
  names: f.names,
  nested: f.nested.map(futureTo),
});
const futureFrom = (f: P.WaitingFuture): FutureNode => ({
  combinator: f.combinator,
  completions: f.completions,
  signals: f.signals,
  names: f.names,
  nested: f.nested.map(futureFrom),
});

const timerTo = (t: TimerKey): P.TimerKey => ({
  wakeAt: BigInt(t.wakeAt),
  invocationId: t.invocationId,
  completionId: t.completionId,
});
function timerFrom(t: P.TimerKey | undefined): TimerKey {
  const v = required(t, 'timer');
  return { wakeAt: int(v.wakeAt, 'timer wake time'), invocationId: v.invocationId, completionId: v.completionId };
}

function newInvocationTo(inv: NewInvocation): P.NewInvocation {
  return {
    id: inv.id,
    target: targetTo(inv.target),
    input: buf(inv.input),
    headers: inv.headers.map(([name, value]) => ({ name, value })),
    sink: inv.sink ? sinkTo(inv.sink) : undefined,
    executionTime: optBig(inv.executionTime),
    idempotencyKey: inv.idempotencyKey,
    retentionMs: optBig(inv.retentionMs),
    reportSubmit: inv.reportSubmit ?? false,
    journalRetentionMs: optBig(inv.journalRetentionMs),
    pin: inv.pin,
    invokedBy: callerTo(inv.invokedBy),
  };
}
function newInvocationFrom(i: P.NewInvocation | undefined): NewInvocation {
  const v = required(i, 'invocation');
  const out: NewInvocation = {
    id: v.id,
    target: targetFrom(v.target),
    input: v.input,
    headers: v.headers.map((h) => [h.name, h.value]),
  };
  if (v.sink) out.sink = sinkFrom(v.sink);
  if (v.executionTime !== undefined) out.executionTime = int(v.executionTime, 'execution time');
  if (v.idempotencyKey !== undefined) out.idempotencyKey = v.idempotencyKey;
  if (v.retentionMs !== undefined) out.retentionMs = int(v.retentionMs, 'retention');
  if (v.reportSubmit) out.reportSubmit = true;
  if (v.journalRetentionMs !== undefined) out.journalRetentionMs = int(v.journalRetentionMs, 'journal retention');
  if (v.pin) out.pin = { deploymentId: v.pin.deploymentId, protocolVersion: v.pin.protocolVersion };
  if (v.invokedBy) out.invokedBy = callerFrom(v.invokedBy);
  return out;
}

// ---------- invoker effects ----------

function effectTo(e: InvokerEffect): P.InvokerEffect {
  switch (e.kind) {
    case 'pin':
      return { effect: { $case: 'pin', value: { deploymentId: e.deploymentId, protocolVersion: e.protocolVersion } } };
    case 'command':
      return {
        effect: {
          $case: 'command',
          value: {
            entry: entryTo(e.entry),
            serviceType: e.target?.serviceType,
            handlerType: e.target?.handlerType,
            retentionMs: optBig(e.retention?.retentionMs),
            journalRetentionMs: optBig(e.retention?.journalRetentionMs),
          },
        },
      };
    case 'runCompletion':
      return {
        effect: {
          $case: 'runCompletion',
          value: { completionId: e.completionId, value: optBuf(e.value), failure: e.failure },
        },
      };
    case 'suspend':
      return { effect: { $case: 'suspend', value: { waiting: waitingTo(e.waiting) } } };
    case 'end':
      return { effect: { $case: 'end', value: {} } };
    case 'fail':
      return { effect: { $case: 'fail', value: { failure: e.failure } } };
    case 'pause':
      return { effect: { $case: 'pause', value: { reason: e.reason } } };
  }
}
function effectFrom(p: P.InvokerEffect | undefined): InvokerEffect {
  const e = required(p?.effect, 'invoker effect');
  switch (e.$case) {
    case 'pin':
      return { kind: 'pin', deploymentId: e.value.deploymentId, protocolVersion: e.value.protocolVersion };
    case 'command': {
      const out: InvokerEffect = { kind: 'command', entry: entryFrom(e.value.entry) };
      if (e.value.serviceType !== undefined || e.value.handlerType !== undefined) {
        out.target = {};
        if (e.value.serviceType !== undefined) out.target.serviceType = optServiceType(e.value.serviceType);
        if (e.value.handlerType !== undefined) out.target.handlerType = optHandlerType(e.value.handlerType);
      }
      if (e.value.retentionMs !== undefined || e.value.journalRetentionMs !== undefined) {
        out.retention = {
          retentionMs: int(e.value.retentionMs ?? 0n, 'retention'),
          journalRetentionMs: int(e.value.journalRetentionMs ?? 0n, 'journal retention'),
        };
      }
      return out;
    }
    case 'runCompletion': {
      const out: InvokerEffect = { kind: 'runCompletion', completionId: e.value.completionId };
      if (e.value.value !== undefined) out.value = e.value.value;
      if (e.value.failure !== undefined) out.failure = failureFrom(e.value.failure);
      return out;
    }
    case 'suspend':
      return { kind: 'suspend', waiting: waitingFrom(e.value.waiting) };
    case 'end':
      return { kind: 'end' };
    case 'fail':
      return { kind: 'fail', failure: failureFrom(e.value.failure) };
    case 'pause':
      return { kind: 'pause', reason: e.value.reason };
  }
}

// ---------- log records ----------

type RecordCommand = NonNullable<P.LogRecord['command']>;

/** The protobuf form of each command kind (the record's `command` oneof). */
const COMMAND_TO: { readonly [K in Command['kind']]: (c: Extract<Command, { kind: K }>) => RecordCommand } = {
  Invoke: (c) => ({ $case: 'invoke', value: { inv: newInvocationTo(c.inv) } }),
  Effect: (c) => ({
    $case: 'effect',
    value: { epoch: BigInt(c.epoch), invocationId: c.invocationId, effect: effectTo(c.effect), attempt: c.attempt },
  }),
  TimerFired: (c) => ({ $case: 'timerFired', value: { timer: timerTo(c.timer) } }),
  Notify: (c) => ({
    $case: 'notify',
    value: { invocationId: c.invocationId, entry: entryTo(c.entry), id: nidTo(c.id) },
  }),
  AnnounceLeader: (c) => ({ $case: 'announceLeader', value: { epoch: BigInt(c.epoch) } }),
  OutboxTruncate: (c) => ({ $case: 'outboxTruncate', value: { upTo: BigInt(c.upTo) } }),
  Control: (c) => ({
    $case: 'control',
    value: {
      invocationId: c.invocationId,
      op: c.op,
      sink: c.sink ? sinkTo(c.sink) : undefined,
      newInvocationId: c.newInvocationId,
      restartFrom: c.restartFrom,
      restartKeepDeployment: c.restartOn === 'keep',
      restartPin: typeof c.restartOn === 'object' ? c.restartOn : undefined,
    },
  }),
  Attach: (c) => ({
    $case: 'attach',
    value: { invocationId: c.invocationId, sink: sinkTo(c.sink), mode: c.mode },
  }),
  ReplaceState: (c) => ({
    $case: 'replaceState',
    value: {
      service: c.service,
      key: c.key,
      serviceType: c.serviceType,
      state: c.state.map(([key, value]) => ({ key: buf(key), value: buf(value) })),
      version: c.version,
      sink: c.sink ? sinkTo(c.sink) : undefined,
    },
  }),
  Schedule: (c) => ({
    $case: 'schedule',
    value: {
      op: c.op,
      id: c.id,
      definition: c.definition ? scheduleDefinitionTo(c.definition) : undefined,
      sink: c.sink ? sinkTo(c.sink) : undefined,
    },
  }),
};

/** The producer tag goes on the envelope, whatever the command (see Dedup). */
function recordTo(cmd: Command): P.LogRecord {
  const commandTo = COMMAND_TO[cmd.kind] as (c: Command) => RecordCommand;
  return { ts: BigInt(cmd.ts), command: commandTo(cmd), dedup: dedupTo(cmd.dedup) };
}

function withDedup<C extends Command>(cmd: C, dedup: Dedup | undefined): C {
  if (dedup !== undefined) (cmd as { dedup?: Dedup }).dedup = dedup;
  return cmd;
}

/** The command of a record, tagged from its envelope or (records written before it had one) from the command. */
function recordFrom(r: P.LogRecord): Command {
  const cmd = commandFrom(r);
  const legacy = r.command && 'dedup' in r.command.value ? r.command.value.dedup : undefined;
  return withDedup(cmd, dedupFrom(r.dedup ?? legacy));
}

function commandFrom(r: P.LogRecord): Command {
  const ts = int(r.ts, 'timestamp');
  const c = required(r.command, 'command');
  switch (c.$case) {
    case 'invoke':
      return { kind: 'Invoke', ts, inv: newInvocationFrom(c.value.inv) };
    case 'effect': {
      const out: Command = {
        kind: 'Effect',
        ts,
        epoch: int(c.value.epoch, 'epoch'),
        invocationId: c.value.invocationId,
        effect: effectFrom(c.value.effect),
      };
      if (c.value.attempt !== undefined) out.attempt = c.value.attempt;
      return out;
    }
    case 'timerFired':
      return { kind: 'TimerFired', ts, timer: timerFrom(c.value.timer) };
    case 'notify':
      return {
        kind: 'Notify',
        ts,
        invocationId: c.value.invocationId,
        entry: entryFrom(c.value.entry),
        id: nidFrom(c.value.id),
      };
    case 'announceLeader':
      return { kind: 'AnnounceLeader', ts, epoch: int(c.value.epoch, 'epoch') };
    case 'outboxTruncate':
      return { kind: 'OutboxTruncate', ts, upTo: int(c.value.upTo, 'outbox sequence number') };
    case 'control': {
      const out: Command = {
        kind: 'Control',
        ts,
        invocationId: c.value.invocationId,
        op: oneOf(c.value.op, CONTROL_OPS, 'control operation'),
      };
      if (c.value.sink) out.sink = sinkFrom(c.value.sink);
      if (c.value.newInvocationId !== undefined) out.newInvocationId = c.value.newInvocationId;
      if (c.value.restartFrom !== undefined) out.restartFrom = c.value.restartFrom;
      if (c.value.restartKeepDeployment) out.restartOn = 'keep';
      else if (c.value.restartPin)
        out.restartOn = {
          deploymentId: c.value.restartPin.deploymentId,
          protocolVersion: c.value.restartPin.protocolVersion,
        };
      return out;
    }
    case 'attach':
      return {
        kind: 'Attach',
        ts,
        invocationId: c.value.invocationId,
        sink: sinkFrom(c.value.sink),
        mode: oneOf(c.value.mode, ['attach', 'output', 'detach'] as const, 'attach mode'),
      };
    case 'replaceState':
      return replaceStateFrom(ts, c.value);
    case 'schedule': {
      const out: Command = {
        kind: 'Schedule',
        ts,
        op: oneOf(c.value.op, SCHEDULE_OPS, 'schedule operation'),
        id: c.value.id,
      };
      if (c.value.definition) out.definition = scheduleDefinitionFrom(c.value.definition);
      if (c.value.sink) out.sink = sinkFrom(c.value.sink);
      return out;
    }
  }
}

const SCHEDULE_OPS = ['create', 'pause', 'resume', 'delete'] as const;

/** A schedule's definition as the log and the store keep it (the worker API carries the same message). */
export function scheduleDefinitionTo(d: ScheduleDefinition): P.ScheduleDefinition {
  return {
    id: d.id,
    cron: d.cron,
    timeZone: d.timeZone,
    target: targetTo(d.target),
    input: buf(d.input),
    contentType: d.contentType,
    overlap: d.overlap,
    retentionMs: BigInt(d.retentionMs),
    journalRetentionMs: BigInt(d.journalRetentionMs),
  };
}

export function scheduleDefinitionFrom(m: P.ScheduleDefinition): ScheduleDefinition {
  const t = targetFrom(m.target);
  const target: ScheduleDefinition['target'] = {
    service: t.service,
    handler: t.handler,
    serviceType: required(t.serviceType, 'service type of a schedule target'),
  };
  if (t.key !== undefined) target.key = t.key;
  if (t.handlerType !== undefined) target.handlerType = t.handlerType;
  const out: ScheduleDefinition = {
    id: m.id,
    cron: m.cron,
    timeZone: m.timeZone,
    target,
    input: m.input,
    overlap: oneOf(m.overlap, OVERLAP_POLICIES, 'overlap policy'),
    retentionMs: int(m.retentionMs, 'retention'),
    journalRetentionMs: int(m.journalRetentionMs, 'journal retention'),
  };
  if (m.contentType !== undefined) out.contentType = m.contentType;
  return out;
}

function scheduleRowTo(r: ScheduleRecord): P.ScheduleRow {
  return {
    definition: scheduleDefinitionTo(r.definition),
    createdAt: BigInt(r.createdAt),
    paused: r.paused,
    nextTick: optBig(r.nextTick),
    lastTick: optBig(r.lastTick),
    lastFiredAt: optBig(r.lastFiredAt),
    lastInvocationId: r.lastInvocationId,
    queuedTick: optBig(r.queuedTick),
    fired: BigInt(r.fired),
    skipped: BigInt(r.skipped),
    late: BigInt(r.late),
  };
}

function scheduleRowFrom(m: P.ScheduleRow): ScheduleRecord {
  const out: ScheduleRecord = {
    definition: scheduleDefinitionFrom(required(m.definition, 'schedule definition')),
    createdAt: int(m.createdAt, 'creation time'),
    paused: m.paused,
    fired: int(m.fired, 'fired ticks'),
    skipped: int(m.skipped, 'skipped ticks'),
    late: int(m.late, 'late ticks'),
  };
  if (m.nextTick !== undefined) out.nextTick = int(m.nextTick, 'next tick');
  if (m.lastTick !== undefined) out.lastTick = int(m.lastTick, 'last tick');
  if (m.lastFiredAt !== undefined) out.lastFiredAt = int(m.lastFiredAt, 'last fire time');
  if (m.lastInvocationId !== undefined) out.lastInvocationId = m.lastInvocationId;
  if (m.queuedTick !== undefined) out.queuedTick = int(m.queuedTick, 'queued tick');
  return out;
}

function replaceStateFrom(ts: number, v: P.ReplaceState): Command {
  const out: Command = {
    kind: 'ReplaceState',
    ts,
    service: v.service,
    key: v.key,
    serviceType: oneOf(v.serviceType, ['VIRTUAL_OBJECT', 'WORKFLOW'] as const, 'service type of a state replacement'),
    state: v.state.map((e) => [e.key, e.value]),
  };
  if (v.version !== undefined) out.version = v.version;
  if (v.sink) out.sink = sinkFrom(v.sink);
  return out;
}

/** A log record's bytes. */
export function encodeCommand(cmd: Command): Uint8Array {
  return P.LogRecord.encode(recordTo(cmd)).finish();
}

/** The command of a log record; throws FormatError (or a protobuf decode error) when it is not one. */
export function decodeCommand(bytes: Uint8Array): Command {
  return recordFrom(P.LogRecord.decode(bytes));
}

// ---------- store values ----------

function statusTo(st: InvocationStatus): P.InvocationStatus {
  return {
    id: st.id,
    target: targetTo(st.target),
    phase: st.phase,
    createdAt: BigInt(st.createdAt),
    modifiedAt: BigInt(st.modifiedAt),
    executionTime: optBig(st.executionTime),
    journalLength: st.journalLength,
    deploymentId: st.deploymentId,
    protocolVersion: st.protocolVersion,
    sinks: st.sinks.map(sinkTo),
    waiting: st.waiting ? waitingTo(st.waiting) : undefined,
    arrived: waitingTo(st.arrived),
    output: st.output ? outcomeTo(st.output) : undefined,
    idempotencyKey: st.idempotencyKey,
    retentionMs: optBig(st.retentionMs),
    completedAt: optBig(st.completedAt),
    input: st.input ? entryTo(st.input) : undefined,
    locked: st.locked ?? false,
    inboxSeq: optBig(st.inboxSeq),
    journalRetentionMs: optBig(st.journalRetentionMs),
    attempt: st.attempt ?? 0,
    invokedBy: callerTo(st.invokedBy),
    restartedFrom: st.restartedFrom,
    inboxedAt: optBig(st.inboxedAt),
    runningAt: optBig(st.runningAt),
    journalCommands: st.journalCommands,
  };
}

function statusFrom(p: P.InvocationStatus): InvocationStatus {
  const st: InvocationStatus = {
    id: p.id,
    target: targetFrom(p.target),
    phase: oneOf(p.phase, PHASES, 'phase'),
    createdAt: int(p.createdAt, 'creation time'),
    modifiedAt: int(p.modifiedAt, 'modification time'),
    journalLength: p.journalLength,
    sinks: p.sinks.map(sinkFrom),
    arrived: waitingFrom(p.arrived),
  };
  if (p.executionTime !== undefined) st.executionTime = int(p.executionTime, 'execution time');
  if (p.deploymentId !== undefined) st.deploymentId = p.deploymentId;
  if (p.protocolVersion !== undefined) st.protocolVersion = p.protocolVersion;
  if (p.waiting) st.waiting = waitingFrom(p.waiting);
  if (p.output) st.output = outcomeFrom(p.output);
  if (p.idempotencyKey !== undefined) st.idempotencyKey = p.idempotencyKey;
  if (p.retentionMs !== undefined) st.retentionMs = int(p.retentionMs, 'retention');
  if (p.completedAt !== undefined) st.completedAt = int(p.completedAt, 'completion time');
  if (p.input) st.input = entryFrom(p.input, 'input');
  if (p.locked) st.locked = true;
  if (p.inboxSeq !== undefined) st.inboxSeq = int(p.inboxSeq, 'inbox seq');
  if (p.journalRetentionMs !== undefined) st.journalRetentionMs = int(p.journalRetentionMs, 'journal retention');
  if (p.attempt > 0) st.attempt = p.attempt;
  if (p.invokedBy) st.invokedBy = callerFrom(p.invokedBy);
  if (p.restartedFrom !== undefined) st.restartedFrom = p.restartedFrom;
  if (p.inboxedAt !== undefined) st.inboxedAt = int(p.inboxedAt, 'inbox time');
  if (p.runningAt !== undefined) st.runningAt = int(p.runningAt, 'running time');
  if (p.journalCommands !== undefined) st.journalCommands = p.journalCommands;
  return st;
}

// ---------- invocation statuses, some fields only ----------

/** A field of an invocation status that `decodeStatusFields` can decode alone. */
export type StatusField = keyof InvocationStatus;

/** The field number of each status field in the InvocationStatus message (partition.proto). */
const STATUS_FIELD_NUMBERS: Readonly<Record<StatusField, number>> = {
  id: 1,
  target: 2,
  phase: 3,
  createdAt: 4,
  modifiedAt: 5,
  executionTime: 6,
  journalLength: 7,
  deploymentId: 8,
  protocolVersion: 9,
  sinks: 10,
  waiting: 11,
  arrived: 12,
  output: 13,
  idempotencyKey: 14,
  retentionMs: 15,
  completedAt: 16,
  input: 17,
  locked: 18,
  inboxSeq: 19,
  journalRetentionMs: 20,
  attempt: 21,
  invokedBy: 22,
  restartedFrom: 23,
  inboxedAt: 24,
  runningAt: 25,
  journalCommands: 26,
};

/** Which status fields to decode, as a bit per field number (what `decodeStatusFields` takes). */
export function statusFieldMask(fields: Iterable<StatusField>): number {
  let mask = 0;
  for (const f of fields) mask |= 1 << STATUS_FIELD_NUMBERS[f];
  return mask;
}

/** A cursor over protobuf wire bytes: just what reading a flat message's fields needs, nothing allocated. */
class Wire {
  pos = 0;
  b: Buffer = Buffer.alloc(0);

  reset(b: Buffer): this {
    this.b = b;
    this.pos = 0;
    return this;
  }

  /** A varint as a number, exact up to 2^53 (longer ones: see varint64). */
  varint(): number {
    const b = this.b;
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= b.length) throw new FormatError('a varint runs past the end of the status');
      const x = b[this.pos++];
      v += (x & 0x7f) * scale;
      if (x < 0x80) return v;
      scale *= 128;
    }
    throw new FormatError('a varint of the status is longer than 10 bytes');
  }

  /** A varint as a signed 64-bit integer (int64: negatives take 10 bytes). */
  varint64(): bigint {
    const start = this.pos;
    const small = this.varint();
    if (this.pos - start <= 7) return BigInt(small);
    let v = 0n;
    for (let i = this.pos - 1; i >= start; i--) v = (v << 7n) | BigInt(this.b[i] & 0x7f);
    return BigInt.asIntN(64, v);
  }

  /** The end of a length-delimited field starting here (its length read). */
  lengthEnd(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.b.length) throw new FormatError('a field runs past the end of the status');
    return end;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.pos = this.lengthEnd();
    else if (wireType === 5) this.pos += 4;
    else throw new FormatError(`wire type ${wireType} in a status`);
    if (this.pos > this.b.length) throw new FormatError('a field runs past the end of the status');
  }
}

/**
 * Decodes only the fields in `mask` (statusFieldMask) of a stored invocation status, skipping the others on the
 * wire: what a scan that reads a few columns of every status needs, at a fraction of the cost of a whole decode
 * (the nested messages it skips are never read, the strings never made). The fields asked for come out as
 * `invocationStatus.decode` makes them; the others are absent, whatever the type says: read only those asked for.
 */
export function decodeStatusFields(bytes: Uint8Array, mask: number): InvocationStatus {
  const w = WIRE.reset(Buffer.isBuffer(bytes) ? bytes : buf(bytes));
  const st: Partial<InvocationStatus> = {};
  while (w.pos < w.b.length) {
    const tag = w.varint();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field > 26 || (mask & (1 << field)) === 0 || wireType !== FIELD_WIRE_TYPES[field]) w.skip(wireType);
    else if (wireType === 0) readScalar(st, field, w);
    else readLengthDelimited(st, field, w);
  }
  // Fields asked for and absent: their proto3 defaults, checked as statusFrom checks them.
  const want = (field: number) => (mask & (1 << field)) !== 0;
  if (want(1)) st.id ??= '';
  if (want(2) && st.target === undefined) targetFrom(undefined);
  if (want(3)) st.phase = oneOf(st.phase ?? '', PHASES, 'phase');
  if (want(4)) st.createdAt ??= 0;
  if (want(5)) st.modifiedAt ??= 0;
  if (want(7)) st.journalLength ??= 0;
  if (want(10)) st.sinks ??= [];
  if (want(12)) st.arrived ??= waitingFrom(undefined);
  return st as InvocationStatus;
}

/** The one cursor decodeStatusFields reads with (decoding is synchronous: no two use it at once). */
const WIRE = new Wire();

/** Reads varint field `field` of a status into `st`, as statusFrom converts it. */
function readScalar(st: Partial<InvocationStatus>, field: number, w: Wire): void {
  switch (field) {
    case 4:
      st.createdAt = int(w.varint64(), 'creation time');
      return;
    case 5:
      st.modifiedAt = int(w.varint64(), 'modification time');
      return;
    case 6:
      st.executionTime = int(w.varint64(), 'execution time');
      return;
    case 7:
      st.journalLength = w.varint() >>> 0;
      return;
    case 9:
      st.protocolVersion = w.varint() >>> 0;
      return;
    case 15:
      st.retentionMs = int(w.varint64(), 'retention');
      return;
    case 16:
      st.completedAt = int(w.varint64(), 'completion time');
      return;
    case 18:
      if (w.varint() !== 0) st.locked = true;
      else delete st.locked;
      return;
    case 19:
      st.inboxSeq = int(BigInt.asUintN(64, w.varint64()), 'inbox seq');
      return;
    case 20:
      st.journalRetentionMs = int(w.varint64(), 'journal retention');
      return;
    case 21: {
      const attempt = w.varint() >>> 0;
      if (attempt > 0) st.attempt = attempt;
      else delete st.attempt;
      return;
    }
    case 24:
      st.inboxedAt = int(w.varint64(), 'inbox time');
      return;
    case 25:
      st.runningAt = int(w.varint64(), 'running time');
      return;
    case 26:
      st.journalCommands = w.varint() >>> 0;
      return;
  }
}

/** Reads length-delimited field `field` of a status (a string or a message) into `st`, as statusFrom converts it. */
function readLengthDelimited(st: Partial<InvocationStatus>, field: number, w: Wire): void {
  const b = w.b;
  const end = w.lengthEnd();
  const start = w.pos;
  w.pos = end;
  switch (field) {
    case 1:
      st.id = b.toString('utf8', start, end);
      return;
    case 2:
      st.target = targetFrom(P.Target.decode(b.subarray(start, end)));
      return;
    case 3:
      st.phase = b.toString('utf8', start, end) as InvocationPhase;
      return;
    case 8:
      st.deploymentId = b.toString('utf8', start, end);
      return;
    case 10:
      st.sinks ??= [];
      st.sinks.push(sinkFrom(P.ResponseSink.decode(b.subarray(start, end))));
      return;
    case 11:
      st.waiting = waitingFrom(P.WaitingSet.decode(b.subarray(start, end)));
      return;
    case 12:
      st.arrived = waitingFrom(P.WaitingSet.decode(b.subarray(start, end)));
      return;
    case 13:
      st.output = outcomeFrom(P.Outcome.decode(b.subarray(start, end)));
      return;
    case 14:
      st.idempotencyKey = b.toString('utf8', start, end);
      return;
    case 17:
      st.input = entryFrom(P.JournalEntry.decode(b.subarray(start, end)), 'input');
      return;
    case 22:
      st.invokedBy = callerFrom(P.Caller.decode(b.subarray(start, end)));
      return;
    case 23:
      st.restartedFrom = b.toString('utf8', start, end);
      return;
  }
}

/** The wire type of each field number (a field met with another is skipped, as the generated decoder does). */
const FIELD_WIRE_TYPES: readonly number[] = Array.from({ length: 27 }, (_, n) =>
  [1, 2, 3, 8, 10, 11, 12, 13, 14, 17, 22, 23].includes(n) ? 2 : 0,
);

export type PromiseRow =
  | { done: J.Result }
  | { waiters: { invocationId: string; completionId: number; peek: boolean }[] };

function resultTo(r: J.Result): P.PromiseRow_Done {
  if ('value' in r) return { result: { $case: 'value', value: buf(r.value) } };
  if ('failure' in r) return { result: { $case: 'failure', value: r.failure } };
  return { result: { $case: 'void', value: true } };
}
function resultFrom(d: P.PromiseRow_Done): J.Result {
  const r = required(d.result, 'promise result');
  if (r.$case === 'value') return { value: r.value };
  if (r.$case === 'failure') return { failure: failureFrom(r.value) };
  return { void: true };
}

/** Decodes with `decode`, then converts; `what` names the message in errors. */
function codec<T, M>(
  m: { encode(v: M): { finish(): Uint8Array }; decode(b: Uint8Array): M },
  to: (v: T) => M,
  from: (m: M) => T,
): Codec<T> {
  return { encode: (v) => m.encode(to(v)).finish(), decode: (b) => from(m.decode(b)) };
}

export const invocationStatus: Codec<InvocationStatus> = codec(P.InvocationStatus, statusTo, statusFrom);
export const journalEntry: Codec<JournalEntry> = codec(P.JournalEntry, entryTo, (e) => entryFrom(e));
export const timerKey: Codec<TimerKey> = codec(P.TimerKey, timerTo, timerFrom);
export const invocationRef: Codec<{ invocationId: string }> = codec(
  P.InvocationRef,
  (r) => r,
  (r) => {
    if (r.invocationId === '') throw new FormatError('invocation id is empty');
    return { invocationId: r.invocationId };
  },
);
/** A state replacement waiting behind its key's lock: the new state, and the version it expects to replace. */
export interface QueuedReplacement {
  state: [Uint8Array, Uint8Array][];
  version?: string;
}
export const queuedReplacement: Codec<QueuedReplacement> = codec(
  P.QueuedStateReplacement,
  (r) => ({ state: r.state.map(([key, value]) => ({ key: buf(key), value: buf(value) })), version: r.version }),
  (r) => {
    const out: QueuedReplacement = { state: r.state.map((e) => [e.key, e.value]) };
    if (r.version !== undefined) out.version = r.version;
    return out;
  },
);
export const scheduleRow: Codec<ScheduleRecord> = codec(P.ScheduleRow, scheduleRowTo, scheduleRowFrom);
export const counter: Codec<bigint> = codec(
  P.Counter,
  (value) => ({ value }),
  (c) => c.value,
);
export const promiseRow: Codec<PromiseRow> = codec(
  P.PromiseRow,
  (row) => ('done' in row ? { done: resultTo(row.done), waiters: [] } : { waiters: row.waiters }),
  (p) => (p.done ? { done: resultFrom(p.done) } : { waiters: p.waiters.map((w) => ({ ...w })) }),
);
export const outboxEntry: Codec<{ partitionKey: bigint; command: Command }> = codec(
  P.OutboxEntry,
  (e) => ({ partitionKey: e.partitionKey, command: recordTo(e.command) }),
  (e) => ({ partitionKey: e.partitionKey, command: recordFrom(required(e.command, 'outbox command')) }),
);
