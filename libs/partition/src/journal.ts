/**
 * The parts of service-protocol messages the partition state machine and the invoker interpret.
 * Journal entries are stored and replayed as the exact bytes the SDK sent; only the fields below are
 * read or written here (field numbers per the Restate service protocol, v5–v7).
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { InvocationOutcome } from '@stead/core';
import type { Failure, FutureNode, JournalEntry, Target, WaitingSet } from './types.ts';

export const T = {
  Input: 0x0400,
  Output: 0x0401,
  GetLazyState: 0x0402,
  SetState: 0x0403,
  ClearState: 0x0404,
  ClearAllState: 0x0405,
  GetLazyStateKeys: 0x0406,
  Sleep: 0x040c,
  Call: 0x040d,
  OneWayCall: 0x040e,
  GetLazyStateN: 0x8002,
  GetLazyStateKeysN: 0x8006,
  SleepN: 0x800c,
  CallN: 0x800d,
  CallInvocationIdN: 0x800e,
  RunN: 0x8011,
  SignalN: 0xfbff,
} as const;

/** Journal entries are commands (0x0400-0x7FFF, custom ones from 0xFC00) or notifications (0x8000-0xFBFF). */
export function isCommandType(type: number): boolean {
  return type >= 0x0400 && !(type >= 0x8000 && type < 0xfc00);
}

type Field = bigint | Uint8Array;
type Fields = Map<number, Field[]>;

/** Decodes one message level into field number → values (varints as bigint, length-delimited as bytes). */
export function fields(bytes: Uint8Array): Map<number, Field[]> {
  const r = new BinaryReader(bytes);
  const out = new Map<number, Field[]>();
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    let v: Field;
    switch (wt) {
      case WireType.Varint:
        v = BigInt(r.uint64());
        break;
      case WireType.LengthDelimited:
        v = r.bytes();
        break;
      case WireType.Bit64:
        v = BigInt(r.fixed64());
        break;
      case WireType.Bit32:
        v = BigInt(r.fixed32());
        break;
      default:
        r.skip(wt);
        continue;
    }
    const list = out.get(no);
    if (list) list.push(v);
    else out.set(no, [v]);
  }
  return out;
}

const dec = new TextDecoder();
const str = (f: Fields, no: number): string | undefined => {
  const v = f.get(no)?.at(-1);
  return v instanceof Uint8Array ? dec.decode(v) : undefined;
};
const bytesOf = (f: Fields, no: number): Uint8Array | undefined => {
  const v = f.get(no)?.at(-1);
  return v instanceof Uint8Array ? v : undefined;
};
const num = (f: Fields, no: number): number => {
  const v = f.get(no)?.at(-1);
  return typeof v === 'bigint' ? Number(v) : 0;
};
/** Repeated uint32, packed or not. */
const nums = (f: Fields, no: number): number[] => {
  const out: number[] = [];
  for (const v of f.get(no) ?? []) {
    if (typeof v === 'bigint') out.push(Number(v));
    else {
      const r = new BinaryReader(v);
      while (r.pos < r.len) out.push(r.uint32());
    }
  }
  return out;
};

function headersOf(f: Fields, no: number): [string, string][] {
  return (f.get(no) ?? []).map((h) => {
    const hf = fields(h as Uint8Array);
    return [str(hf, 1) ?? '', str(hf, 2) ?? ''];
  });
}

function failureOf(b: Uint8Array): Failure {
  const f = fields(b);
  return { code: num(f, 1), message: str(f, 2) ?? '' };
}

/** Value { bytes content = 1 } */
function valueContent(b: Uint8Array): Uint8Array {
  return bytesOf(fields(b), 1) ?? new Uint8Array(0);
}

// ---------- messages the server writes ----------

function writeValue(w: BinaryWriter, no: number, content: Uint8Array): void {
  w.uint32((no << 3) | WireType.LengthDelimited).fork();
  w.uint32((1 << 3) | WireType.LengthDelimited).bytes(content);
  w.join();
}

function writeFailure(w: BinaryWriter, no: number, f: Failure): void {
  w.uint32((no << 3) | WireType.LengthDelimited).fork();
  w.uint32((1 << 3) | WireType.Varint).uint32(f.code);
  w.uint32((2 << 3) | WireType.LengthDelimited).string(f.message);
  w.join();
}

function writeVoid(w: BinaryWriter, no: number): void {
  w.uint32((no << 3) | WireType.LengthDelimited).bytes(new Uint8Array(0));
}

function completion(id: number): BinaryWriter {
  return new BinaryWriter().uint32((1 << 3) | WireType.Varint).uint32(id);
}

export function inputCommand(headers: [string, string][], body: Uint8Array): JournalEntry {
  const w = new BinaryWriter();
  for (const [k, v] of headers) {
    w.uint32((1 << 3) | WireType.LengthDelimited).fork();
    w.uint32((1 << 3) | WireType.LengthDelimited).string(k);
    w.uint32((2 << 3) | WireType.LengthDelimited).string(v);
    w.join();
  }
  writeValue(w, 14, body);
  return { type: T.Input, bytes: w.finish() };
}

export function runCompletion(id: number, value?: Uint8Array, failure?: Failure): JournalEntry {
  const w = completion(id);
  if (failure) writeFailure(w, 6, failure);
  else writeValue(w, 5, value ?? new Uint8Array(0));
  return { type: T.RunN, bytes: w.finish() };
}

export function sleepCompletion(id: number): JournalEntry {
  const w = completion(id);
  writeVoid(w, 4);
  return { type: T.SleepN, bytes: w.finish() };
}

export function getLazyStateCompletion(id: number, value: Uint8Array | undefined): JournalEntry {
  const w = completion(id);
  if (value === undefined) writeVoid(w, 4);
  else writeValue(w, 5, value);
  return { type: T.GetLazyStateN, bytes: w.finish() };
}

export function getLazyStateKeysCompletion(id: number, keys: Uint8Array[]): JournalEntry {
  const w = completion(id);
  w.uint32((17 << 3) | WireType.LengthDelimited).fork();
  for (const k of keys) w.uint32((1 << 3) | WireType.LengthDelimited).bytes(k);
  w.join();
  return { type: T.GetLazyStateKeysN, bytes: w.finish() };
}

export function callInvocationIdCompletion(id: number, invocationId: string): JournalEntry {
  const w = completion(id);
  w.uint32((16 << 3) | WireType.LengthDelimited).string(invocationId);
  return { type: T.CallInvocationIdN, bytes: w.finish() };
}

export function callCompletion(id: number, outcome: InvocationOutcome): JournalEntry {
  const w = completion(id);
  if (outcome.ok) writeValue(w, 5, outcome.value);
  else writeFailure(w, 6, { code: outcome.code, message: outcome.message });
  return { type: T.CallN, bytes: w.finish() };
}

export interface StartFields {
  idBytes: Uint8Array;
  debugId: string;
  key?: string;
  knownEntries: number;
  state: [Uint8Array, Uint8Array][];
  partialState: boolean;
  retryCount: number;
  durationSinceLastStoredEntryMs: number;
  randomSeed: bigint;
  /** v7 only: the invocation's idempotency key (field 12), which the handler can read. */
  idempotencyKey?: string;
}

export function startMessage(s: StartFields): Uint8Array {
  const w = new BinaryWriter();
  w.uint32((1 << 3) | WireType.LengthDelimited).bytes(s.idBytes);
  w.uint32((2 << 3) | WireType.LengthDelimited).string(s.debugId);
  w.uint32((3 << 3) | WireType.Varint).uint32(s.knownEntries);
  for (const [k, v] of s.state) {
    w.uint32((4 << 3) | WireType.LengthDelimited).fork();
    w.uint32((1 << 3) | WireType.LengthDelimited).bytes(k);
    w.uint32((2 << 3) | WireType.LengthDelimited).bytes(v);
    w.join();
  }
  if (s.partialState) w.uint32((5 << 3) | WireType.Varint).bool(true);
  if (s.key !== undefined) w.uint32((6 << 3) | WireType.LengthDelimited).string(s.key);
  w.uint32((7 << 3) | WireType.Varint).uint32(s.retryCount);
  w.uint32((8 << 3) | WireType.Varint).uint64(BigInt(Math.round(s.durationSinceLastStoredEntryMs)));
  w.uint32((9 << 3) | WireType.Varint).uint64(s.randomSeed);
  if (s.idempotencyKey !== undefined) w.uint32((12 << 3) | WireType.LengthDelimited).string(s.idempotencyKey);
  return w.finish();
}

// ---------- control messages the SDK sends ----------

export function decodeProposeRun(b: Uint8Array): { completionId: number; value?: Uint8Array; failure?: Failure } {
  const f = fields(b);
  const failure = bytesOf(f, 15);
  return {
    completionId: num(f, 1),
    ...(failure ? { failure: failureOf(failure) } : { value: bytesOf(f, 14) ?? new Uint8Array(0) }),
  };
}

/**
 * What a suspension waits on: v5/v6 flat lists (any one wakes it), or v7 the future tree (its leaves, flattened,
 * and the tree itself, which says when it can resolve).
 */
export function decodeSuspension(b: Uint8Array): WaitingSet {
  const f = fields(b);
  const w: WaitingSet = { completions: nums(f, 1), signals: nums(f, 2), names: strs(f, 3) };
  const future = bytesOf(f, 4);
  if (!future) return w;
  w.future = decodeFuture(future);
  const visit = (n: FutureNode) => {
    w.completions.push(...n.completions);
    w.signals.push(...n.signals);
    w.names.push(...n.names);
    for (const nested of n.nested) visit(nested);
  };
  visit(w.future);
  return w;
}

/** A v7 Future: leaves (completions 1, signals 2, named signals 3), nested futures (4), combinator type (5). */
function decodeFuture(b: Uint8Array): FutureNode {
  const f = fields(b);
  const nested: FutureNode[] = [];
  for (const n of f.get(4) ?? []) if (n instanceof Uint8Array) nested.push(decodeFuture(n));
  return { combinator: num(f, 5), completions: nums(f, 1), signals: nums(f, 2), names: strs(f, 3), nested };
}

const strs = (f: Fields, no: number): string[] => {
  const out: string[] = [];
  for (const v of f.get(no) ?? []) if (v instanceof Uint8Array) out.push(dec.decode(v));
  return out;
};

/** ProposeRunCompletionAckMessage (v7): the run completion `id` the endpoint proposed is durable. */
export function proposeRunCompletionAck(id: number): Uint8Array {
  return new BinaryWriter()
    .uint32((1 << 3) | WireType.Varint)
    .uint32(id)
    .finish();
}

/**
 * The v7 scope or limit key a command names (calls and sends: scope and limit_key; attach and get-output: the
 * scope of a workflow or idempotent target), if any: empty strings mean none.
 */
export function scopeOf(e: JournalEntry): { scope?: string; limitKey?: string } | undefined {
  const at = SCOPE_FIELDS[e.type];
  if (!at) return undefined;
  const f = fields(e.bytes);
  if ('target' in at) {
    for (const [no, scopeNo] of at.target) {
      const t = bytesOf(f, no);
      const scope = t && str(fields(t), scopeNo);
      if (scope) return { scope };
    }
    return undefined;
  }
  const scope = str(f, at.scope);
  const limitKey = str(f, at.limitKey);
  return scope || limitKey ? { ...(scope ? { scope } : {}), ...(limitKey ? { limitKey } : {}) } : undefined;
}

/** Where the v7 scope fields are, by command type (field numbers of the service protocol). */
const SCOPE_FIELDS: Record<number, { scope: number; limitKey: number } | { target: [number, number][] }> = {
  [T.Call]: { scope: 7, limitKey: 8 },
  [T.OneWayCall]: { scope: 8, limitKey: 9 },
  // idempotent_request_target (3) has its scope at 5, workflow_target (4) at 3
  1042: {
    target: [
      [3, 5],
      [4, 3],
    ],
  },
  1043: {
    target: [
      [3, 5],
      [4, 3],
    ],
  },
};

/** Whether a notification carries a failure (its result is field 6 in every notification type). */
export function isFailureNotification(e: JournalEntry): boolean {
  return fields(e.bytes).has(6);
}

export interface DecodedError {
  code: number;
  message: string;
  nextRetryDelayMs?: number;
  behavior: 'retry' | 'pause' | 'fail';
  /** The command the SDK names as the cause: its index among the invocation's commands, its name and type. */
  relatedCommand?: { index?: number; name?: string; type?: number };
}

export function decodeError(b: Uint8Array): DecodedError {
  const f = fields(b);
  const behavior = num(f, 9);
  return {
    code: num(f, 1),
    message: str(f, 2) ?? '',
    nextRetryDelayMs: f.has(8) ? num(f, 8) : undefined,
    behavior: behavior === 1 ? 'pause' : behavior === 2 ? 'fail' : 'retry',
    relatedCommand: relatedCommandOf(f),
  };
}

/** ErrorMessage's related_command_index (4), related_command_name (5) and related_command_type (6), if any. */
function relatedCommandOf(f: Fields): DecodedError['relatedCommand'] {
  if (!f.has(4) && !f.has(5) && !f.has(6)) return undefined;
  const related: NonNullable<DecodedError['relatedCommand']> = {};
  if (f.has(4)) related.index = num(f, 4);
  const name = str(f, 5);
  if (name) related.name = name;
  if (f.has(6)) related.type = num(f, 6);
  return related;
}

// ---------- promises, signals, attach (virtual objects, workflows, awakeables) ----------

export const T2 = {
  GetPromise: 0x0409,
  PeekPromise: 0x040a,
  CompletePromise: 0x040b,
  SendSignal: 0x0410,
  AttachInvocation: 0x0412,
  GetInvocationOutput: 0x0413,
  CompleteAwakeable: 0x0414,
  GetPromiseN: 0x8009,
  PeekPromiseN: 0x800a,
  CompletePromiseN: 0x800b,
  AttachInvocationN: 0x8012,
  GetInvocationOutputN: 0x8013,
} as const;

/** Result of a promise, signal or invocation: a value, a failure, or nothing (void). */
export type Result = { value: Uint8Array } | { failure: Failure } | { void: true };

export function resultOf(outcome: InvocationOutcome): Result {
  return outcome.ok ? { value: outcome.value } : { failure: { code: outcome.code, message: outcome.message } };
}

function writeResult(w: BinaryWriter, r: Result, nos: { void: number; value: number; failure: number }): void {
  if ('value' in r) writeValue(w, nos.value, r.value);
  else if ('failure' in r) writeFailure(w, nos.failure, r.failure);
  else writeVoid(w, nos.void);
}

/** Any completion notification whose result uses the template's fields (void 4, value 5, failure 6). */
export function completionNotification(type: number, id: number, r: Result): JournalEntry {
  const w = completion(id);
  writeResult(w, r, { void: 4, value: 5, failure: 6 });
  return { type, bytes: w.finish() };
}

export function signalNotification(signal: { idx: number } | { name: string }, r: Result): JournalEntry {
  const w = new BinaryWriter();
  if ('idx' in signal) w.uint32((2 << 3) | WireType.Varint).uint32(signal.idx);
  else w.uint32((3 << 3) | WireType.LengthDelimited).string(signal.name);
  writeResult(w, r, { void: 4, value: 5, failure: 6 });
  return { type: T.SignalN, bytes: w.finish() };
}

export type InvocationRef =
  | { invocationId: string }
  | { idempotent: { service: string; key?: string; handler: string; idempotencyKey: string } }
  | { workflow: { name: string; key: string } };

function resultFields(f: Fields, nos: { value: number; failure: number }): Result {
  const failure = bytesOf(f, nos.failure);
  if (failure) return { failure: failureOf(failure) };
  const value = bytesOf(f, nos.value);
  if (value) return { value: valueContent(value) };
  return { void: true };
}

// ---------- the one decoder of the commands the state machine interprets ----------

/** A journaled command as the state machine reads it: one discriminated union, decoded once per entry. */
export type DecodedCommand =
  | { kind: 'output'; outcome: InvocationOutcome }
  | { kind: 'setState'; key: Uint8Array; value: Uint8Array }
  | { kind: 'clearState'; key: Uint8Array }
  | { kind: 'clearAllState' }
  | { kind: 'getLazyState'; key: Uint8Array; completionId: number }
  | { kind: 'getLazyStateKeys'; completionId: number }
  | { kind: 'sleep'; wakeUpTime: number; completionId: number }
  | {
      kind: 'call' | 'oneWayCall';
      target: Target;
      parameter: Uint8Array;
      headers: [string, string][];
      idempotencyKey?: string;
      invocationIdCompletionId: number;
      resultCompletionId: number;
      invokeTime: number;
    }
  | { kind: 'getPromise' | 'peekPromise'; key: string; completionId: number }
  | { kind: 'completePromise'; key: string; result: Result; completionId: number }
  | { kind: 'sendSignal'; targetInvocationId: string; signal: { idx: number } | { name: string }; result: Result }
  | { kind: 'completeAwakeable'; awakeableId: string; result: Result }
  | { kind: 'attach' | 'getOutput'; ref: InvocationRef | undefined; completionId: number }
  /** Journaled as is (run, eager state reads, custom entries): nothing for the state machine to do. */
  | { kind: 'other' };

const OTHER: DecodedCommand = Object.freeze({ kind: 'other' });
const EMPTY = new Uint8Array(0);

/**
 * Decodes a journaled command. Every entry is parsed (a malformed one throws, whatever its type); the
 * fields are read only for the types the state machine acts on.
 */
export function decodeCommand(e: JournalEntry): DecodedCommand {
  const f = fields(e.bytes);
  switch (e.type) {
    case T.Output:
      return { kind: 'output', outcome: outcomeOf(f) };
    case T.SetState:
      return { kind: 'setState', key: bytesOf(f, 1) ?? EMPTY, value: valueContent(bytesOf(f, 3) ?? EMPTY) };
    case T.ClearState:
      return { kind: 'clearState', key: bytesOf(f, 1) ?? EMPTY };
    case T.ClearAllState:
      return { kind: 'clearAllState' };
    case T.GetLazyState:
      return { kind: 'getLazyState', key: bytesOf(f, 1) ?? EMPTY, completionId: num(f, 11) };
    case T.GetLazyStateKeys:
      return { kind: 'getLazyStateKeys', completionId: num(f, 11) };
    case T.Sleep:
      return { kind: 'sleep', wakeUpTime: num(f, 1), completionId: num(f, 11) };
    case T.Call:
    case T.OneWayCall:
      return callOf(f, e.type === T.OneWayCall);
    case T2.GetPromise:
    case T2.PeekPromise:
      return {
        kind: e.type === T2.GetPromise ? 'getPromise' : 'peekPromise',
        key: str(f, 1) ?? '',
        completionId: num(f, 11),
      };
    case T2.CompletePromise:
      return { kind: 'completePromise', key: str(f, 1) ?? '', result: resultFields(f, R23), completionId: num(f, 11) };
    case T2.SendSignal:
      return signalOf(f);
    case T2.CompleteAwakeable:
      return { kind: 'completeAwakeable', awakeableId: str(f, 1) ?? '', result: resultFields(f, R23) };
    case T2.AttachInvocation:
    case T2.GetInvocationOutput:
      return { kind: e.type === T2.AttachInvocation ? 'attach' : 'getOutput', ref: refOf(f), completionId: num(f, 11) };
    default:
      return OTHER;
  }
}

/** Result fields of CompletePromise and CompleteAwakeable: value = 2, failure = 3. */
const R23 = { value: 2, failure: 3 } as const;

function outcomeOf(f: Fields): InvocationOutcome {
  const failure = bytesOf(f, 15);
  if (failure) {
    const fl = failureOf(failure);
    return { ok: false, code: fl.code, message: fl.message };
  }
  const value = bytesOf(f, 14);
  return { ok: true, value: value ? valueContent(value) : new Uint8Array(0) };
}

/** CallCommandMessage and OneWayCallCommandMessage differ in the numbers of their later fields. */
function callOf(f: Fields, oneWay: boolean): DecodedCommand {
  return {
    kind: oneWay ? 'oneWayCall' : 'call',
    target: targetOf(f, oneWay),
    parameter: bytesOf(f, 3) ?? new Uint8Array(0),
    headers: headersOf(f, oneWay ? 5 : 4),
    idempotencyKey: str(f, oneWay ? 7 : 6),
    invocationIdCompletionId: num(f, 10),
    resultCompletionId: oneWay ? 0 : num(f, 11),
    invokeTime: oneWay ? num(f, 4) : 0,
  };
}

function targetOf(f: Fields, oneWay: boolean): { service: string; handler: string; key?: string } {
  const key = str(f, oneWay ? 6 : 5);
  return { service: str(f, 1) ?? '', handler: str(f, 2) ?? '', key: key === '' ? undefined : key };
}

function signalOf(f: Fields): DecodedCommand {
  return {
    kind: 'sendSignal',
    targetInvocationId: str(f, 1) ?? '',
    signal: f.has(2) ? { idx: num(f, 2) } : { name: str(f, 3) ?? '' },
    result: resultFields(f, { value: 5, failure: 6 }),
  };
}

function refOf(f: Fields): InvocationRef | undefined {
  const id = str(f, 1);
  if (id !== undefined) return { invocationId: id };
  const idem = bytesOf(f, 3);
  if (idem) {
    const g = fields(idem);
    return {
      idempotent: {
        service: str(g, 1) ?? '',
        key: str(g, 2),
        handler: str(g, 3) ?? '',
        idempotencyKey: str(g, 4) ?? '',
      },
    };
  }
  const wf = bytesOf(f, 4);
  if (wf) {
    const g = fields(wf);
    return { workflow: { name: str(g, 1) ?? '', key: str(g, 2) ?? '' } };
  }
  return undefined;
}

/** The invocation (call) and one-way call commands' target fields, for enrichment by the invoker. */
export function callTarget(e: JournalEntry): { service: string; handler: string; key?: string } | undefined {
  if (e.type !== T.Call && e.type !== T.OneWayCall) return undefined;
  return targetOf(fields(e.bytes), e.type === T.OneWayCall);
}

/** One member of the decoded-command union, by kind. */
export type DecodedOf<K extends DecodedCommand['kind']> = Extract<DecodedCommand, { kind: K }>;

/**
 * The completion ids a journaled command awaits: its invocation-id (10) and result (11) completion ids, the same
 * field numbers in every command of protocol v4+ that expects one. Custom commands await nothing here.
 */
export function awaitedCompletions(e: JournalEntry): number[] {
  if (!isCommandType(e.type) || e.type >= 0xfc00) return [];
  const f = fields(e.bytes);
  const out: number[] = [];
  for (const no of [10, 11]) if (f.has(no)) out.push(num(f, no));
  return out;
}

/** What a journaled notification completes (completion id, field 1) or signals (index 2, or name 3). */
export function notificationId(
  e: JournalEntry,
): { completionId: number } | { signalId: number } | { signalName: string } {
  const f = fields(e.bytes);
  if (e.type !== T.SignalN) return { completionId: num(f, 1) };
  return f.has(2) ? { signalId: num(f, 2) } : { signalName: str(f, 3) ?? '' };
}
