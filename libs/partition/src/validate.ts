/**
 * Validation of every message an endpoint sends, before anything reaches the partition log.
 *
 * Journal entries are stored and replayed as the exact bytes the SDK sent, and the partition state machine
 * decodes them while applying. A message that does not parse, that names a target that cannot exist, or
 * that waits on something that can never arrive must therefore be refused here: it ends the attempt with a
 * terminal failure of the invocation (code 571, PROTOCOL_VIOLATION in the service protocol), naming the
 * problem, instead of reaching the log.
 *
 * Two layers:
 * - `checkMessage` parses one frame strictly against the message definition of its type (field numbers per
 *   the Restate service protocol v5–v7): wire types, uint32 ranges, UTF-8 strings, nested messages, oneofs
 *   with at most one member, and the fields a message cannot do without;
 * - `AttemptChecker` follows the notification ids of one attempt (those of the stored journal, then those of
 *   each command) so that a run completion names a run, a suspension waits on something that was issued, and
 *   no completion id is issued twice.
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { parseAwakeableId, parseInvocationId } from '@stead/core';
import { MessageType } from '@stead/invoker';
import type { JournalEntry } from './types.ts';

/** Error code of a protocol violation (service protocol: PROTOCOL_VIOLATION). */
export const PROTOCOL_VIOLATION = 571;

/** The latest wake-up or invoke time accepted: 9999-12-31T23:59:59.999Z, in ms since the epoch. */
export const MAX_TIME_MS = 253_402_300_799_999;

/** Deepest nesting of v7 suspension futures accepted. */
const MAX_FUTURE_DEPTH = 32;

export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
  readonly code = PROTOCOL_VIOLATION;
}

const fail = (msg: string): never => {
  throw new ProtocolViolation(msg);
};

// ---------- message definitions ----------

type Scalar = 'uint32' | 'uint64' | 'bool' | 'bytes' | 'string';

interface FieldDef {
  name: string;
  type: Scalar | MessageDef;
  repeated?: boolean;
  /** Members of one oneof share its name; at most one of them may be set. */
  oneof?: string;
}

interface MessageDef {
  name: string;
  fields: Record<number, FieldDef>;
}

const msg = (name: string, fields: Record<number, FieldDef>): MessageDef => ({ name, fields });
const NAME: Record<number, FieldDef> = { 12: { name: 'name', type: 'string' } };

const Value = msg('Value', { 1: { name: 'content', type: 'bytes' } });
const Void = msg('Void', {});
const Failure = msg('Failure', {
  1: { name: 'code', type: 'uint32' },
  2: { name: 'message', type: 'string' },
});
const Header = msg('Header', { 1: { name: 'key', type: 'string' }, 2: { name: 'value', type: 'string' } });
const StateKeys = msg('StateKeys', { 1: { name: 'keys', type: 'bytes', repeated: true } });
const IdempotentRequestTarget = msg('IdempotentRequestTarget', {
  1: { name: 'service_name', type: 'string' },
  2: { name: 'service_key', type: 'string' },
  3: { name: 'handler_name', type: 'string' },
  4: { name: 'idempotency_key', type: 'string' },
});
const WorkflowTarget = msg('WorkflowTarget', {
  1: { name: 'workflow_name', type: 'string' },
  2: { name: 'workflow_key', type: 'string' },
});
const Future: MessageDef = msg('Future', {
  1: { name: 'waiting_completions', type: 'uint32', repeated: true },
  2: { name: 'waiting_signals', type: 'uint32', repeated: true },
  3: { name: 'waiting_named_signals', type: 'string', repeated: true },
  5: { name: 'combinator_type', type: 'uint32' },
});
Future.fields[4] = { name: 'nested_futures', type: Future, repeated: true };

const completionId = (): FieldDef => ({ name: 'result_completion_id', type: 'uint32' });
const invocationTarget = (name: string) =>
  msg(name, {
    1: { name: 'invocation_id', type: 'string', oneof: 'target' },
    3: { name: 'idempotent_request_target', type: IdempotentRequestTarget, oneof: 'target' },
    4: { name: 'workflow_target', type: WorkflowTarget, oneof: 'target' },
    11: completionId(),
    ...NAME,
  });

/**
 * CallCommandMessage and OneWayCallCommandMessage: the one-way call has invoke_time as field 4, which moves
 * headers, key and idempotency_key up by one; only the call has a result completion id.
 */
function callCommand(name: string, oneWay: boolean): MessageDef {
  const shift = oneWay ? 1 : 0;
  const fields: Record<number, FieldDef> = {
    1: { name: 'service_name', type: 'string' },
    2: { name: 'handler_name', type: 'string' },
    3: { name: 'parameter', type: 'bytes' },
    [4 + shift]: { name: 'headers', type: Header, repeated: true },
    [5 + shift]: { name: 'key', type: 'string' },
    [6 + shift]: { name: 'idempotency_key', type: 'string' },
    10: { name: 'invocation_id_notification_idx', type: 'uint32' },
    ...NAME,
  };
  if (oneWay) fields[4] = { name: 'invoke_time', type: 'uint64' };
  else fields[11] = completionId();
  return msg(name, fields);
}

/** Commands an endpoint may send, by message type. */
const COMMANDS: Record<number, MessageDef> = {
  1025: msg('OutputCommandMessage', {
    14: { name: 'value', type: Value, oneof: 'result' },
    15: { name: 'failure', type: Failure, oneof: 'result' },
    ...NAME,
  }),
  1026: msg('GetLazyStateCommandMessage', { 1: { name: 'key', type: 'bytes' }, 11: completionId(), ...NAME }),
  1027: msg('SetStateCommandMessage', {
    1: { name: 'key', type: 'bytes' },
    3: { name: 'value', type: Value },
    ...NAME,
  }),
  1028: msg('ClearStateCommandMessage', { 1: { name: 'key', type: 'bytes' }, ...NAME }),
  1029: msg('ClearAllStateCommandMessage', { ...NAME }),
  1030: msg('GetLazyStateKeysCommandMessage', { 11: completionId(), ...NAME }),
  1031: msg('GetEagerStateCommandMessage', {
    1: { name: 'key', type: 'bytes' },
    13: { name: 'void', type: Void, oneof: 'result' },
    14: { name: 'value', type: Value, oneof: 'result' },
    ...NAME,
  }),
  1032: msg('GetEagerStateKeysCommandMessage', { 14: { name: 'value', type: StateKeys }, ...NAME }),
  1033: msg('GetPromiseCommandMessage', { 1: { name: 'key', type: 'string' }, 11: completionId(), ...NAME }),
  1034: msg('PeekPromiseCommandMessage', { 1: { name: 'key', type: 'string' }, 11: completionId(), ...NAME }),
  1035: msg('CompletePromiseCommandMessage', {
    1: { name: 'key', type: 'string' },
    2: { name: 'completion_value', type: Value, oneof: 'completion' },
    3: { name: 'completion_failure', type: Failure, oneof: 'completion' },
    11: completionId(),
    ...NAME,
  }),
  1036: msg('SleepCommandMessage', { 1: { name: 'wake_up_time', type: 'uint64' }, 11: completionId(), ...NAME }),
  1037: callCommand('CallCommandMessage', false),
  1038: callCommand('OneWayCallCommandMessage', true),
  1040: msg('SendSignalCommandMessage', {
    1: { name: 'target_invocation_id', type: 'string' },
    2: { name: 'idx', type: 'uint32', oneof: 'signal_id' },
    3: { name: 'name', type: 'string', oneof: 'signal_id' },
    4: { name: 'void', type: Void, oneof: 'result' },
    5: { name: 'value', type: Value, oneof: 'result' },
    6: { name: 'failure', type: Failure, oneof: 'result' },
    ...NAME,
  }),
  1041: msg('RunCommandMessage', { 11: completionId(), ...NAME }),
  1042: invocationTarget('AttachInvocationCommandMessage'),
  1043: invocationTarget('GetInvocationOutputCommandMessage'),
  1044: msg('CompleteAwakeableCommandMessage', {
    1: { name: 'awakeable_id', type: 'string' },
    2: { name: 'value', type: Value, oneof: 'result' },
    3: { name: 'failure', type: Failure, oneof: 'result' },
    ...NAME,
  }),
};

const ProposeRunCompletion = msg('ProposeRunCompletionMessage', {
  1: { name: 'result_completion_id', type: 'uint32' },
  14: { name: 'value', type: 'bytes', oneof: 'result' },
  15: { name: 'failure', type: Failure, oneof: 'result' },
});
const Suspension = msg('SuspensionMessage', {
  1: { name: 'waiting_completions', type: 'uint32', repeated: true },
  2: { name: 'waiting_signals', type: 'uint32', repeated: true },
  3: { name: 'waiting_named_signals', type: 'string', repeated: true },
  4: { name: 'awaiting_on', type: Future },
});
const ErrorMessage = msg('ErrorMessage', {
  1: { name: 'code', type: 'uint32' },
  2: { name: 'message', type: 'string' },
  3: { name: 'stacktrace', type: 'string' },
  4: { name: 'related_command_index', type: 'uint32' },
  5: { name: 'related_command_name', type: 'string' },
  6: { name: 'related_command_type', type: 'uint32' },
  8: { name: 'next_retry_delay', type: 'uint64' },
  9: { name: 'behavior', type: 'uint32' },
});
/** Messages whose content is not interpreted (End); they must still parse. */
const Opaque = msg('message', {});
/** v7: what the handler awaits now, while it runs (a hint; nothing is done with it but parsing). */
const AwaitingOn = msg('AwaitingOnMessage', {
  1: { name: 'awaiting_on', type: Future },
  2: { name: 'executing_side_effects', type: 'bool' },
});

// ---------- strict parsing ----------

type FieldValue = bigint | string | Uint8Array | Parsed;

/** One parsed message: field number → values in wire order (unknown fields are skipped). */
class Parsed {
  readonly def: MessageDef;
  readonly values = new Map<number, FieldValue[]>();
  constructor(def: MessageDef) {
    this.def = def;
  }
  has(no: number): boolean {
    return this.values.has(no);
  }
  /** The last value of a singular field (protobuf: the last one wins). */
  last(no: number): FieldValue | undefined {
    return this.values.get(no)?.at(-1);
  }
  all(no: number): FieldValue[] {
    return this.values.get(no) ?? [];
  }
  str(no: number): string | undefined {
    const v = this.last(no);
    return typeof v === 'string' ? v : undefined;
  }
  num(no: number): bigint {
    const v = this.last(no);
    return typeof v === 'bigint' ? v : 0n;
  }
  bytes(no: number): Uint8Array | undefined {
    const v = this.last(no);
    return v instanceof Uint8Array ? v : undefined;
  }
  msg(no: number): Parsed | undefined {
    const v = this.last(no);
    return v instanceof Parsed ? v : undefined;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const UINT32_MAX = 0xffff_ffffn;

function parseScalar(r: BinaryReader, type: Scalar, wt: WireType, where: string): bigint | string | Uint8Array {
  switch (type) {
    case 'uint32':
    case 'uint64':
    case 'bool': {
      if (wt !== WireType.Varint) fail(`${where}: expected a varint, got wire type ${wt}`);
      const v = BigInt(r.uint64());
      if (type === 'uint32' && v > UINT32_MAX) fail(`${where}: ${v} does not fit in a uint32`);
      return v;
    }
    case 'bytes':
    case 'string': {
      if (wt !== WireType.LengthDelimited) fail(`${where}: expected length-delimited bytes, got wire type ${wt}`);
      const b = r.bytes();
      if (type === 'bytes') return b;
      try {
        return utf8.decode(b);
      } catch {
        return fail(`${where}: not valid UTF-8`);
      }
    }
  }
}

function parseInto(def: MessageDef, bytes: Uint8Array, path: string, depth: number): Parsed {
  if (depth > MAX_FUTURE_DEPTH) fail(`${path}: nested more than ${MAX_FUTURE_DEPTH} levels deep`);
  const out = new Parsed(def);
  const r = new BinaryReader(bytes);
  const oneofs = new Map<string, number>();
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no <= 0) fail(`${path}: field number ${no}`);
    const fd = def.fields[no];
    if (!fd) {
      // Unknown fields are allowed (newer protocol versions add some); they must still be well formed.
      if (wt === WireType.StartGroup || wt === WireType.EndGroup) fail(`${path}: groups are not used by the protocol`);
      r.skip(wt, no);
      continue;
    }
    const where = `${path}.${fd.name}`;
    if (fd.oneof) {
      const other = oneofs.get(fd.oneof);
      if (other !== undefined && other !== no) {
        fail(`${path}: more than one of '${fd.oneof}' is set (${def.fields[other].name} and ${fd.name})`);
      }
      oneofs.set(fd.oneof, no);
    }
    const list = out.values.get(no) ?? [];
    out.values.set(no, list);
    if (typeof fd.type === 'object') {
      if (wt !== WireType.LengthDelimited) fail(`${where}: expected a message, got wire type ${wt}`);
      list.push(parseInto(fd.type, r.bytes(), where, depth + 1));
    } else if (fd.repeated && wt === WireType.LengthDelimited && (fd.type === 'uint32' || fd.type === 'uint64')) {
      // packed
      const pr = new BinaryReader(r.bytes());
      while (pr.pos < pr.len) list.push(parseScalar(pr, fd.type, WireType.Varint, where));
    } else {
      list.push(parseScalar(r, fd.type, wt, where));
    }
  }
  return out;
}

/** Parses `bytes` as `def`, converting every decoding error into a ProtocolViolation. */
function parse(def: MessageDef, bytes: Uint8Array): Parsed {
  try {
    return parseInto(def, bytes, def.name, 0);
  } catch (err) {
    if (err instanceof ProtocolViolation) throw err;
    return fail(`${def.name} does not parse as protobuf: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// ---------- per-message rules ----------

const hex = (type: number) => `0x${type.toString(16).padStart(4, '0')}`;

function requireCompletionId(p: Parsed, no = 11, field = 'result_completion_id'): number {
  const id = p.num(no);
  if (id === 0n) fail(`${p.def.name}: ${field} is missing (completion ids start at 1)`);
  return Number(id);
}

function requireOneof(p: Parsed, nos: number[], what: string): void {
  if (!nos.some((n) => p.has(n))) fail(`${p.def.name}: ${what} is missing`);
}

function requireNonEmpty(p: Parsed, no: number, what: string): string {
  const s = p.str(no);
  if (!s) fail(`${p.def.name}: ${what} is missing or empty`);
  return s as string;
}

function checkInvocationId(p: Parsed, s: string, what: string): void {
  try {
    parseInvocationId(s);
  } catch {
    fail(`${p.def.name}: ${what} '${clip(s)}' is not a valid invocation id`);
  }
}

function checkTime(p: Parsed, no: number, what: string, required: boolean): void {
  const t = p.num(no);
  if (required && t === 0n) fail(`${p.def.name}: ${what} is missing`);
  if (t > BigInt(MAX_TIME_MS)) fail(`${p.def.name}: ${what} ${t} is not a time before year 10000 (ms since epoch)`);
}

function checkHeaders(p: Parsed, no: number): void {
  for (const h of p.all(no) as Parsed[]) {
    if (!h.str(1)) fail(`${p.def.name}: a header has an empty name`);
  }
}

function checkIdempotencyKey(p: Parsed, no: number): void {
  if (p.has(no) && !p.str(no)) fail(`${p.def.name}: idempotency_key is present but empty`);
}

function checkSignalId(p: Parsed, idx: bigint, where: string): void {
  if (idx === 0n) fail(`${p.def.name}: ${where} signal id 0 (signal ids start at 1)`);
}

/** Notification ids a command issues (the SDK waits on them; the server completes them). */
export interface Issued {
  /** Completion ids this command allocates. */
  completions: number[];
  /** The completion id a RunCommand waits on for its ProposeRunCompletion. */
  run?: number;
}

/** What a command must carry beyond parsing, and the notification ids it issues. */
interface CommandRule {
  /** Checks of its fields, made first. */
  check?: (p: Parsed, type: number) => void;
  /** Field numbers of which at most one (a oneof) and at least one must be set, and what they are. */
  requires?: { fields: number[]; what: string };
  /** Issues one completion id (`result_completion_id`), of a run (whose result the endpoint proposes) or not. */
  issues?: 'completion' | 'run';
}

/** The command rules by message type; a command without a rule issues nothing and needs nothing more. */
const RULES = new Map<number, CommandRule>([
  [0x0401, { requires: { fields: [14, 15], what: 'result (value or failure)' } }],
  [0x0402, { issues: 'completion' }],
  [0x0403, { requires: { fields: [3], what: 'value' } }],
  [0x0406, { issues: 'completion' }],
  [0x0407, { requires: { fields: [13, 14], what: 'result (void or value)' } }],
  [0x0408, { requires: { fields: [14], what: 'value' } }],
  [0x0409, { issues: 'completion' }],
  [0x040a, { issues: 'completion' }],
  [0x040b, { requires: { fields: [2, 3], what: 'completion (value or failure)' }, issues: 'completion' }],
  [0x040c, { check: (p) => checkTime(p, 1, 'wake_up_time', true), issues: 'completion' }],
  [0x0410, { check: checkSendSignal, requires: { fields: [4, 5, 6], what: 'result (void, value or failure)' } }],
  [0x0411, { issues: 'run' }],
  [0x0412, { check: checkInvocationTarget, issues: 'completion' }],
  [0x0413, { check: checkInvocationTarget, issues: 'completion' }],
  [0x0414, { check: checkAwakeableId, requires: { fields: [2, 3], what: 'result (value or failure)' } }],
]);

/** Checks a command's fields; returns the completion ids it issues. */
function checkCommand(type: number, p: Parsed): Issued {
  if (type === 0x040d || type === 0x040e) return checkCall(p, type === 0x040e);
  const rule = RULES.get(type);
  if (!rule) return { completions: [] };
  rule.check?.(p, type);
  if (rule.requires) requireOneof(p, rule.requires.fields, rule.requires.what);
  if (rule.issues === undefined) return { completions: [] };
  const id = requireCompletionId(p);
  return rule.issues === 'run' ? { completions: [id], run: id } : { completions: [id] };
}

/** CallCommandMessage, OneWayCallCommandMessage: a target, and the ids of the callee and (call) its result. */
function checkCall(p: Parsed, oneWay: boolean): Issued {
  requireNonEmpty(p, 1, 'service_name');
  requireNonEmpty(p, 2, 'handler_name');
  checkHeaders(p, oneWay ? 5 : 4);
  checkIdempotencyKey(p, oneWay ? 7 : 6);
  if (oneWay) checkTime(p, 4, 'invoke_time', false);
  const ids = [requireCompletionId(p, 10, 'invocation_id_notification_idx')];
  if (!oneWay) ids.push(requireCompletionId(p));
  if (ids[0] === ids[1]) fail(`${p.def.name}: invocation_id_notification_idx and result_completion_id are equal`);
  return { completions: ids };
}

function checkSendSignal(p: Parsed): void {
  checkInvocationId(p, requireNonEmpty(p, 1, 'target_invocation_id'), 'target_invocation_id');
  requireOneof(p, [2, 3], 'signal_id (idx or name)');
  if (p.has(2)) checkSignalId(p, p.num(2), 'idx:');
  else requireNonEmpty(p, 3, 'signal name');
}

/** AttachInvocationCommandMessage, GetInvocationOutputCommandMessage: exactly one well-formed target. */
function checkInvocationTarget(p: Parsed): void {
  requireOneof(p, [1, 3, 4], 'target (invocation_id, idempotent_request_target or workflow_target)');
  if (p.has(1)) checkInvocationId(p, p.str(1) ?? '', 'invocation_id');
  const idem = p.msg(3);
  if (idem) {
    requireNonEmpty(idem, 1, 'service_name');
    requireNonEmpty(idem, 3, 'handler_name');
    requireNonEmpty(idem, 4, 'idempotency_key');
  }
  const wf = p.msg(4);
  if (wf) requireNonEmpty(wf, 1, 'workflow_name');
}

function checkAwakeableId(p: Parsed): void {
  const id = requireNonEmpty(p, 1, 'awakeable_id');
  try {
    parseAwakeableId(id);
  } catch (err) {
    fail(`${p.def.name}: awakeable_id '${clip(id)}' is not a valid awakeable id: ${(err as Error).message}`);
  }
}

const clip = (s: string) => (s.length > 80 ? `${s.slice(0, 80)}…` : s);

// ---------- frames ----------

export type CheckedMessage =
  | { kind: 'command'; entry: JournalEntry; issued: Issued }
  | { kind: 'proposeRun'; completionId: number }
  | { kind: 'suspension'; completions: number[]; signals: number[]; names: string[] }
  | { kind: 'error' }
  | { kind: 'end' }
  | { kind: 'hint' };

const isCustomCommand = (type: number) => type >= 0xfc00;

/** Parses and checks one frame the endpoint sent; throws ProtocolViolation naming the problem. */
export function checkMessage(type: number, payload: Uint8Array): CheckedMessage {
  const def = COMMANDS[type];
  if (def) {
    const p = parse(def, payload);
    return { kind: 'command', entry: { type, bytes: payload }, issued: checkCommand(type, p) };
  }
  if (isCustomCommand(type)) {
    // Custom entries are journaled opaquely; the journal decoder still reads them, so they must parse.
    parse(msg(`custom entry ${hex(type)}`, {}), payload);
    return { kind: 'command', entry: { type, bytes: payload }, issued: { completions: [] } };
  }
  switch (type) {
    case MessageType.ProposeRunCompletion: {
      const p = parse(ProposeRunCompletion, payload);
      requireOneof(p, [14, 15], 'result (value or failure)');
      return { kind: 'proposeRun', completionId: requireCompletionId(p, 1) };
    }
    case MessageType.Suspension:
      return checkSuspension(parse(Suspension, payload));
    case MessageType.Error:
      parse(ErrorMessage, payload);
      return { kind: 'error' };
    case MessageType.End:
      parse(Opaque, payload);
      return { kind: 'end' };
    case MessageType.AwaitingOn:
      parse(AwaitingOn, payload);
      return { kind: 'hint' };
    case 0x0400:
      return fail('the endpoint sent an InputCommandMessage; only the server writes the input');
  }
  if (type >= 0x8000 && type < 0xfc00) {
    return fail(`the endpoint sent notification ${hex(type)}; notifications are written by the server`);
  }
  return fail(`message type ${hex(type)} is not one an endpoint may send`);
}

function checkSuspension(p: Parsed): CheckedMessage {
  const out = {
    kind: 'suspension' as const,
    completions: [] as number[],
    signals: [] as number[],
    names: [] as string[],
  };
  const visit = (f: Parsed) => {
    for (const c of f.all(1) as bigint[]) {
      if (c === 0n) fail(`${p.def.name}: waits on completion id 0 (completion ids start at 1)`);
      out.completions.push(Number(c));
    }
    for (const s of f.all(2) as bigint[]) {
      checkSignalId(p, s, 'waits on');
      out.signals.push(Number(s));
    }
    for (const n of f.all(3) as string[]) {
      if (n === '') fail(`${p.def.name}: waits on a signal with an empty name`);
      out.names.push(n);
    }
    for (const nested of f.all(4) as Parsed[]) visit(nested);
  };
  visit(p);
  if (out.completions.length + out.signals.length + out.names.length === 0) {
    fail(`${p.def.name}: waits on nothing (it must name at least one completion or signal)`);
  }
  return out;
}

// ---------- one attempt ----------

/** Completion ids of a stored journal entry, read leniently (a stored entry was checked when it was written). */
function storedIssued(e: JournalEntry): { issued?: Issued; completed?: number } {
  try {
    if (COMMANDS[e.type]) return { issued: checkCommand(e.type, parse(COMMANDS[e.type], e.bytes)) };
    if (e.type >= 0x8000 && e.type < 0xfbff) {
      // a completion notification: result_completion_id is field 1
      const r = new BinaryReader(e.bytes);
      while (r.pos < r.len) {
        const [no, wt] = r.tag();
        if (no === 1 && wt === WireType.Varint) return { completed: r.uint32() };
        r.skip(wt, no);
      }
    }
  } catch {
    // entries written before validation existed may not parse; they issue nothing we can follow
  }
  return {};
}

/**
 * Follows the notification ids of one attempt: the stored journal it started with, then each message the
 * endpoint sends. Throws ProtocolViolation for a message that does not fit.
 */
export class AttemptChecker {
  private readonly issued = new Set<number>();
  private readonly runs = new Set<number>();
  private readonly completed = new Set<number>();
  private finished: string | undefined;

  constructor(journal: readonly JournalEntry[] = []) {
    for (const e of journal) {
      const s = storedIssued(e);
      for (const c of s.issued?.completions ?? []) this.issued.add(c);
      if (s.issued?.run !== undefined) this.runs.add(s.issued.run);
      if (s.completed !== undefined) this.completed.add(s.completed);
    }
  }

  check(type: number, payload: Uint8Array): CheckedMessage {
    if (this.finished) fail(`message type ${hex(type)} after ${this.finished}`);
    const m = checkMessage(type, payload);
    switch (m.kind) {
      case 'command':
        for (const c of m.issued.completions) {
          if (this.issued.has(c)) fail(`${commandName(type)}: completion id ${c} was already used by another command`);
        }
        for (const c of m.issued.completions) this.issued.add(c);
        if (m.issued.run !== undefined) this.runs.add(m.issued.run);
        break;
      case 'proposeRun':
        if (!this.runs.has(m.completionId)) {
          fail(`ProposeRunCompletionMessage: completion id ${m.completionId} is not that of a RunCommand`);
        }
        if (this.completed.has(m.completionId)) {
          fail(`ProposeRunCompletionMessage: run ${m.completionId} is already completed`);
        }
        this.completed.add(m.completionId);
        break;
      case 'suspension':
        for (const c of m.completions) {
          if (!this.issued.has(c)) {
            fail(`SuspensionMessage: waits on completion id ${c}, which no command issued (it could never complete)`);
          }
        }
        this.finished = 'Suspension';
        break;
      case 'end':
        this.finished = 'End';
        break;
      case 'error':
        this.finished = 'Error';
        break;
      case 'hint':
        break;
    }
    return m;
  }
}

const commandName = (type: number) => COMMANDS[type]?.name ?? `command ${hex(type)}`;
