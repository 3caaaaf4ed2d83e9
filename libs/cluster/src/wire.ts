// The worker API's messages <-> the engine's types, and its errors <-> gRPC statuses (the one place for both).
import * as grpc from '@grpc/grpc-js';
import {
  type ControlOperation,
  type IngressRequest,
  InputError,
  type IntrospectionRow,
  type IntrospectionValue,
  type InvocationOutcome,
  type InvocationQuery,
  introspectionTable,
  NotLeaderError,
  OverloadedError,
  type ScheduleOperation,
  type SqlColumnType,
  type SqlTable,
  type StateReplacement,
} from '@stead/core';
import { scheduleDefinitionFrom, scheduleDefinitionTo } from '@stead/partition';
import type { worker as pb } from '@stead/proto';

type AttachRequest = pb.AttachRequest;

export function requestTo(req: IngressRequest): pb.CallRequest {
  return {
    service: req.target.service,
    handler: req.target.handler,
    key: req.target.key,
    body: Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength),
    headers: req.headers.map(([name, value]) => ({ name, value })),
    idempotencyKey: req.idempotencyKey,
    delayMs: req.delayMs === undefined ? undefined : BigInt(Math.max(0, Math.floor(req.delayMs))),
    invocationId: req.invocationId,
  };
}

export function requestFrom(m: pb.CallRequest): IngressRequest {
  const req: IngressRequest = {
    target:
      m.key === undefined
        ? { service: m.service, handler: m.handler }
        : { service: m.service, handler: m.handler, key: m.key },
    body: m.body,
    headers: m.headers.map((h) => [h.name, h.value]),
  };
  if (m.idempotencyKey !== undefined) req.idempotencyKey = m.idempotencyKey;
  if (m.delayMs !== undefined) req.delayMs = Number(m.delayMs);
  if (m.invocationId !== undefined) req.invocationId = m.invocationId;
  return req;
}

export function outcomeTo(o: InvocationOutcome): pb.Outcome {
  if (o.ok) {
    const value = Buffer.from(o.value.buffer, o.value.byteOffset, o.value.byteLength);
    return { result: { $case: 'value', value: { value, contentType: o.contentType } } };
  }
  return { result: { $case: 'failure', value: { code: o.code, message: o.message, metadata: o.metadata ?? {} } } };
}

export function outcomeFrom(o: pb.Outcome | undefined): InvocationOutcome {
  const r = o?.result;
  if (r === undefined) throw new Error('the worker answered without an outcome');
  if (r.$case === 'value') {
    const out: InvocationOutcome = { ok: true, value: r.value.value };
    if (r.value.contentType !== undefined) out.contentType = r.value.contentType;
    return out;
  }
  const out: InvocationOutcome = { ok: false, code: r.value.code, message: r.value.message };
  if (Object.keys(r.value.metadata).length > 0) out.metadata = r.value.metadata;
  return out;
}

export function queryTo(q: InvocationQuery, mode: 'attach' | 'output'): AttachRequest {
  const output = mode === 'output';
  if ('invocationId' in q) return { query: { $case: 'invocationId', value: q.invocationId }, output };
  if ('workflow' in q) return { query: { $case: 'workflow', value: q.workflow }, output };
  return { query: { $case: 'idempotent', value: q.idempotent }, output };
}

export function queryFrom(m: AttachRequest): { query: InvocationQuery; mode: 'attach' | 'output' } {
  const mode = m.output ? 'output' : 'attach';
  const q = m.query;
  if (q === undefined) throw new InputError('attach request without a query');
  if (q.$case === 'invocationId') return { query: { invocationId: q.value }, mode };
  if (q.$case === 'workflow') return { query: { workflow: { name: q.value.name, key: q.value.key } }, mode };
  const i = q.value;
  const idempotent = { service: i.service, handler: i.handler, idempotencyKey: i.idempotencyKey };
  return { query: { idempotent: i.key === undefined ? idempotent : { ...idempotent, key: i.key } }, mode };
}

const bytesOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export function replacementTo(r: StateReplacement): pb.ReplaceStateRequest {
  return {
    service: r.service,
    key: r.key,
    serviceType: r.serviceType,
    state: r.state.map(([key, value]) => ({ key: bytesOf(key), value: bytesOf(value) })),
    version: r.version,
  };
}

export function replacementFrom(m: pb.ReplaceStateRequest): StateReplacement {
  if (m.serviceType !== 'VIRTUAL_OBJECT' && m.serviceType !== 'WORKFLOW')
    throw new InputError(`state belongs to virtual objects and workflows, not to a service of type '${m.serviceType}'`);
  const r: StateReplacement = {
    service: m.service,
    key: m.key,
    serviceType: m.serviceType,
    state: m.state.map((e) => [e.key, e.value]),
  };
  if (m.version !== undefined) r.version = m.version;
  return r;
}

export function scheduleRequestTo(partitionKey: bigint, op: ScheduleOperation): pb.ScheduleRequest {
  if (op.op === 'create')
    return { partitionKey, op: 'create', id: op.definition.id, definition: scheduleDefinitionTo(op.definition) };
  return { partitionKey, op: op.op, id: op.id };
}

export function scheduleRequestFrom(m: pb.ScheduleRequest): { partitionKey: bigint; op: ScheduleOperation } {
  const { partitionKey } = m;
  if (m.op === 'create') {
    if (!m.definition) throw new InputError('a schedule create without a definition');
    return { partitionKey, op: { op: 'create', definition: scheduleDefinitionFrom(m.definition) } };
  }
  if (m.op !== 'pause' && m.op !== 'resume' && m.op !== 'delete')
    throw new InputError(`unknown schedule operation '${m.op}'`);
  return { partitionKey, op: { op: m.op, id: m.id } };
}

const CONTROL_OPERATIONS: readonly ControlOperation[] = ['cancel', 'kill', 'purge', 'purge-journal', 'pause', 'resume'];

export function controlFrom(op: string): ControlOperation {
  const found = CONTROL_OPERATIONS.find((o) => o === op);
  if (!found) throw new InputError(`unknown invocation operation '${op}'`);
  return found;
}

const NOT_LEADER = 'stead-not-leader';
const HTTP_STATUS = 'stead-http-status';
const RETRY_AFTER = 'stead-retry-after';

/** The gRPC status of an error thrown by the engine (the worker side). */
export function toStatus(e: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof NotLeaderError) {
    metadata.set(NOT_LEADER, String(e.partition));
    return { code: grpc.status.FAILED_PRECONDITION, details: message, metadata };
  }
  if (e instanceof OverloadedError) {
    metadata.set(HTTP_STATUS, String(e.status));
    metadata.set(RETRY_AFTER, String(e.retryAfterSeconds));
    return { code: grpc.status.RESOURCE_EXHAUSTED, details: message, metadata };
  }
  if (e instanceof InputError) {
    metadata.set(HTTP_STATUS, String(e.status));
    return { code: grpc.status.INVALID_ARGUMENT, details: message, metadata };
  }
  return { code: grpc.status.UNAVAILABLE, details: message, metadata };
}

/** A failed call that may succeed on the current leader: retried by the forwarding side. */
export class RetryableError extends Error {
  override name = 'RetryableError';
  /** The partition the worker said it does not lead, when that was the reason. */
  readonly notLeaderOf: number | undefined;
  readonly code: grpc.status;
  constructor(message: string, code: grpc.status, notLeaderOf?: number) {
    super(message);
    this.code = code;
    this.notLeaderOf = notLeaderOf;
  }
}

function numberIn(md: grpc.Metadata | undefined, key: string): number | undefined {
  const v = md?.get(key)[0];
  if (v === undefined) return undefined;
  const n = Number(v.toString());
  return Number.isFinite(n) ? n : undefined;
}

/** The engine's error for a failed worker call (the forwarding side); RetryableError when worth a retry. */
export function fromStatus(e: grpc.ServiceError): Error {
  const details = e.details || e.message;
  switch (e.code) {
    case grpc.status.FAILED_PRECONDITION:
      return new RetryableError(details, e.code, numberIn(e.metadata, NOT_LEADER));
    case grpc.status.RESOURCE_EXHAUSTED: {
      const status = numberIn(e.metadata, HTTP_STATUS) === 429 ? 429 : 503;
      return new OverloadedError(details, { status, retryAfterSeconds: numberIn(e.metadata, RETRY_AFTER) ?? 1 });
    }
    case grpc.status.INVALID_ARGUMENT:
      return new InputError(details, numberIn(e.metadata, HTTP_STATUS) ?? 400);
    case grpc.status.CANCELLED:
      return new Error(`the worker call was cancelled: ${details}`);
    default:
      return new RetryableError(details, e.code);
  }
}

// ---------- introspection rows (Scan) ----------

type SqlValueKind = NonNullable<pb.SqlValue['kind']>;

/** A column type's value kind on the wire, and the conversions of its values. */
interface ValueCodec {
  kind: SqlValueKind['$case'];
  /** The wire value of a row value; undefined when the value is not of the column's type. */
  to: (v: NonNullable<IntrospectionValue>) => SqlValueKind['value'] | undefined;
  /** The row value of a wire value (already known to be of the kind). */
  from: (v: SqlValueKind['value']) => IntrospectionValue;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** One codec per column type: the kind carries the type, so that a value reads back exactly as it was. */
const VALUE_CODECS: Record<SqlColumnType, ValueCodec> = {
  utf8: { kind: 'utf8', to: (v) => (typeof v === 'string' ? v : undefined), from: (v) => v as string },
  u64: {
    kind: 'u64',
    to: (v) => (typeof v === 'bigint' && v >= 0n ? v : isCount(v) && v >= 0 ? BigInt(v) : undefined),
    from: (v) => v as bigint,
  },
  u32: { kind: 'u32', to: (v) => (isCount(v) && v >= 0 && v < 2 ** 32 ? v : undefined), from: (v) => v as number },
  bool: { kind: 'boolean', to: (v) => (typeof v === 'boolean' ? v : undefined), from: (v) => v as boolean },
  binary: {
    kind: 'binary',
    to: (v) => (v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : undefined),
    from: (v) => new Uint8Array(v as Buffer),
  },
  timestamp_ms: { kind: 'timestampMs', to: (v) => (isCount(v) ? BigInt(v) : undefined), from: (v) => safeMs(v) },
  duration_ms: { kind: 'durationMs', to: (v) => (isCount(v) ? BigInt(v) : undefined), from: (v) => safeMs(v) },
  list_u32: {
    kind: 'listU32',
    to: (v) => (Array.isArray(v) && v.every((x) => isCount(x) && x >= 0) ? { values: v as number[] } : undefined),
    from: (v) => [...(v as pb.SqlValue_U32List).values],
  },
  list_utf8: {
    kind: 'listUtf8',
    to: (v) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? { values: v as string[] } : undefined),
    from: (v) => [...(v as pb.SqlValue_Utf8List).values],
  },
};

function safeMs(v: SqlValueKind['value']): number {
  const n = Number(v as bigint);
  if (!Number.isSafeInteger(n)) throw new Error(`a time of ${v} ms is out of range`);
  return n;
}

/** The columns of an introspection table; InputError for a name Restate's introspection does not have. */
export function scanColumns(table: string): SqlTable['columns'] {
  const t = introspectionTable(table);
  if (!t) throw new InputError(`'${table}' is not a table of the SQL introspection`);
  return t.columns;
}

/**
 * A batch of rows of `table` as a ScanBatch (the worker side), with the columns in `only` (all when absent); throws
 * when a value is not of its column's type.
 */
export function scanBatchTo(table: string, rows: IntrospectionRow[], only?: ReadonlySet<string>): pb.ScanBatch {
  const all = scanColumns(table);
  const columns = only === undefined ? all : all.filter(([name]) => only.has(name));
  return {
    columns: columns.map(([name]) => name),
    rows: rows.map((row) => ({
      values: columns.map(([name, type]): pb.SqlValue => {
        const v = row[name];
        if (v === undefined || v === null) return {};
        const codec = VALUE_CODECS[type];
        const value = codec.to(v);
        if (value === undefined) throw new Error(`${table}.${name} is ${type}; the row holds ${String(v)}`);
        return { kind: { $case: codec.kind, value } as SqlValueKind };
      }),
    })),
  };
}

/**
 * The rows of a ScanBatch of `table` (the forwarding side), checked: each value's kind must be its column's
 * type and each row must have a value per column. Columns this version does not know are dropped.
 */
export function scanBatchFrom(table: string, batch: pb.ScanBatch): IntrospectionRow[] {
  const types = new Map(scanColumns(table));
  const known = batch.columns.map((name) => [name, types.get(name)] as const);
  return batch.rows.map((r, i) => {
    if (r.values.length !== known.length)
      throw new Error(`${table} row ${i} from the worker has ${r.values.length} values for ${known.length} columns`);
    const row: IntrospectionRow = {};
    r.values.forEach((v, c) => {
      const [name, type] = known[c];
      if (type === undefined || v.kind === undefined) return;
      const codec = VALUE_CODECS[type];
      if (v.kind.$case !== codec.kind)
        throw new Error(`${table}.${name} is ${type}; the worker sent a ${v.kind.$case} value in row ${i}`);
      row[name] = codec.from(v.kind.value);
    });
    return row;
  });
}
