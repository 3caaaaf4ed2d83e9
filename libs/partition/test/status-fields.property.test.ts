/**
 * Property test of the partial decoder of invocation statuses (introspection scans decode only the fields of the
 * columns a query reads): for any status and any set of fields, each field asked for decodes exactly as the
 * whole decoder makes it, and no other field is decoded. Broken bytes fail, as they fail the whole decoder.
 */
import { expect, it } from '@jest/globals';
import { partition as P } from '@stead/proto';
import fc from 'fast-check';
import { decodeStatusFields, invocationStatus, type StatusField, statusFieldMask } from '../src/codec.ts';
import type { InvocationStatus, Target } from '../src/types.ts';

const text = fc.string({ maxLength: 12 });
const time = fc.nat({ max: 2 ** 48 });
const u32 = fc.nat({ max: 2 ** 32 - 1 });
const ids = fc.array(u32, { maxLength: 3 });

const targetArb: fc.Arbitrary<Target> = fc.record(
  {
    service: text,
    handler: text,
    key: text,
    serviceType: fc.constantFrom('SERVICE', 'VIRTUAL_OBJECT', 'WORKFLOW'),
    handlerType: fc.constantFrom('EXCLUSIVE', 'SHARED', 'WORKFLOW'),
  },
  { requiredKeys: ['service', 'handler'] },
);
const waitingArb = fc.record({ completions: ids, signals: ids, names: fc.array(text, { maxLength: 2 }) });
const bytesArb = fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b));

const statusArb: fc.Arbitrary<InvocationStatus> = fc.record(
  {
    id: text,
    target: targetArb,
    phase: fc.constantFrom('scheduled', 'inboxed', 'invoked', 'suspended', 'paused', 'completed'),
    createdAt: time,
    modifiedAt: time,
    executionTime: time,
    journalLength: u32,
    journalCommands: u32,
    deploymentId: text,
    protocolVersion: u32,
    sinks: fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('ingress' as const), node: text }),
        fc.record({ kind: fc.constant('invocation' as const), invocationId: text, completionId: u32 }),
      ),
      { maxLength: 2 },
    ),
    waiting: waitingArb,
    arrived: waitingArb,
    output: fc.oneof(
      fc.record({ ok: fc.constant(true as const), value: bytesArb }),
      fc.record({ ok: fc.constant(false as const), code: u32, message: text }),
    ),
    idempotencyKey: text,
    retentionMs: time,
    journalRetentionMs: time,
    completedAt: time,
    input: fc.record({ type: u32, bytes: bytesArb }),
    locked: fc.constant(true),
    inboxSeq: time,
    invokedBy: fc.record({ invocationId: text, target: targetArb }),
    restartedFrom: text,
    inboxedAt: time,
    runningAt: time,
    attempt: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
  },
  { requiredKeys: ['id', 'target', 'phase', 'createdAt', 'modifiedAt', 'journalLength', 'sinks', 'arrived'] },
);

const FIELDS: StatusField[] = [
  'id',
  'target',
  'phase',
  'createdAt',
  'modifiedAt',
  'executionTime',
  'journalLength',
  'deploymentId',
  'protocolVersion',
  'sinks',
  'waiting',
  'arrived',
  'output',
  'idempotencyKey',
  'retentionMs',
  'completedAt',
  'input',
  'locked',
  'inboxSeq',
  'journalRetentionMs',
  'attempt',
  'invokedBy',
  'restartedFrom',
  'inboxedAt',
  'runningAt',
  'journalCommands',
];

/** Buffers as plain byte arrays, to compare values wherever their bytes live. */
const plain = (v: unknown) =>
  JSON.parse(JSON.stringify(v ?? null, (_, x) => (x?.type === 'Buffer' ? `bytes:${x.data}` : x)));

it('decodes the fields asked for as the whole decoder does, and no others', () => {
  fc.assert(
    fc.property(statusArb, fc.subarray(FIELDS), (st, fields) => {
      const bytes = invocationStatus.encode(st);
      const whole = invocationStatus.decode(bytes);
      const some = decodeStatusFields(bytes, statusFieldMask(fields));
      for (const f of FIELDS) {
        if (fields.includes(f)) expect({ f, v: plain(some[f]) }).toEqual({ f, v: plain(whole[f]) });
        else expect({ f, present: f in some }).toEqual({ f, present: false });
      }
    }),
    { numRuns: 300 },
  );
  // All of them: the same status.
  fc.assert(
    fc.property(statusArb, (st) => {
      const bytes = invocationStatus.encode(st);
      expect(plain(decodeStatusFields(bytes, statusFieldMask(FIELDS)))).toEqual(plain(invocationStatus.decode(bytes)));
    }),
    { numRuns: 100 },
  );
});

it('fails on a status cut short or with an unknown phase, as the whole decoder does', () => {
  const st: InvocationStatus = {
    id: 'inv_1',
    target: { service: 'S', handler: 'h' },
    phase: 'invoked',
    createdAt: 1,
    modifiedAt: 2,
    journalLength: 3,
    sinks: [],
    arrived: { completions: [], signals: [], names: [] },
  };
  const bytes = invocationStatus.encode(st);
  const mask = statusFieldMask(['id', 'phase', 'target']);
  expect(decodeStatusFields(bytes, mask)).toEqual({ id: 'inv_1', phase: 'invoked', target: st.target });
  for (const cut of [1, 5, bytes.length - 1]) {
    expect(() => invocationStatus.decode(bytes.subarray(0, cut))).toThrow();
    expect(() => decodeStatusFields(bytes.subarray(0, cut), mask)).toThrow();
  }
  const odd = invocationStatus.encode({ ...st, phase: 'sleeping' as InvocationStatus['phase'] });
  expect(() => decodeStatusFields(odd, statusFieldMask(['phase']))).toThrow(/phase 'sleeping'/);
  // A status without its target fails when the target is asked for, as the whole decoder fails on it.
  const noTarget = P.InvocationStatus.encode(
    P.InvocationStatus.fromPartial({ id: 'inv_1', phase: 'invoked' }),
  ).finish();
  expect(() => decodeStatusFields(noTarget, statusFieldMask(['target']))).toThrow(/target is missing/);
  expect(decodeStatusFields(noTarget, statusFieldMask(['phase']))).toEqual({ phase: 'invoked' });
});
