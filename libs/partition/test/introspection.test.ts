/**
 * The rows of the SQL introspection tables that live in a partition store: real commands applied by the state
 * machine to a real (LevelDB) store, then every table read back as rows and checked column by column, with
 * every row checked against the table's column names and types (INTROSPECTION_TABLES).
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  INTROSPECTION_TABLES,
  type IntrospectionRow,
  type IntrospectionValue,
  newInvocationId,
  partitionKeyOf,
  type SqlColumnType,
} from '@stead/core';
import { scanPartitionRows } from '../src/introspection/scan.ts';
import { ids } from '../src/invocation-ids.ts';
import type { AttemptReport } from '../src/invoker-driver.ts';
import * as J from '../src/journal.ts';
import { PartitionTables } from '../src/tables.ts';
import type { Command, Effect, InvokerEffect, NewInvocation, Target } from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';
import { callCmd, outputCmd, promiseCmd, runCmd, setStateCmd, sleepCmd } from './sdk-commands.ts';

const FITS: Record<SqlColumnType, (v: IntrospectionValue) => boolean> = {
  utf8: (v) => typeof v === 'string',
  u64: (v) => typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0),
  u32: (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32,
  bool: (v) => typeof v === 'boolean',
  binary: (v) => v instanceof Uint8Array,
  timestamp_ms: (v) => typeof v === 'number' && Number.isInteger(v),
  duration_ms: (v) => typeof v === 'number' && Number.isInteger(v),
  list_u32: (v) => Array.isArray(v) && v.every((x) => typeof x === 'number'),
  list_utf8: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
};

/** Every column a row sets is one of its table's, with a value of the column's type (or NULL). */
function expectWellTyped(table: string, rows: IntrospectionRow[]): void {
  const columns = new Map(INTROSPECTION_TABLES.find((t) => t.name === table)?.columns);
  expect(columns.size).toBeGreaterThan(0);
  for (const row of rows) {
    for (const [name, value] of Object.entries(row)) {
      const type = columns.get(name);
      if (type === undefined) throw new Error(`${table} has no column ${name}`);
      if (value !== undefined && value !== null && !FITS[type](value))
        throw new Error(`${table}.${name} is ${type}; the row has ${String(value)}`);
    }
  }
}

const counter = (key: string): Target => ({
  service: 'Counter',
  handler: 'add',
  key,
  serviceType: 'VIRTUAL_OBJECT',
  handlerType: 'EXCLUSIVE',
});
const greeter: Target = { service: 'Greeter', handler: 'greet', serviceType: 'SERVICE' };
const workflow = (key: string): Target => ({
  service: 'Wf',
  handler: 'run',
  key,
  serviceType: 'WORKFLOW',
  handlerType: 'WORKFLOW',
});
const idFor = (key?: string) => newInvocationId(key === undefined ? 99n : partitionKeyOf(key)).toString();
const RETAIN = { retentionMs: 60_000, journalRetentionMs: 60_000 };

describe('introspection rows of a partition store', () => {
  let p: TestPartition;
  let reports: AttemptReport[];
  beforeEach(async () => {
    p = await openTestPartition('stead-sql-rows-', ids);
    reports = [];
  });
  afterEach(() => p.close());

  const source = () => ({
    tables: new PartitionTables(p.store),
    attempts: () => reports,
    partitionKeyOfInvocation: ids.partitionKeyOfInvocation,
    serviceType: () => undefined,
  });

  /** Every row of `table` (well typed), read with `limit` and pages of `pageRows` keys; also the batch sizes. */
  async function scan(table: string, limit = 10_000, pageRows?: number) {
    const batches: number[] = [];
    const rows: IntrospectionRow[] = [];
    for await (const batch of scanPartitionRows(source(), table, { limit }, pageRows)) {
      batches.push(batch.length);
      rows.push(...batch);
    }
    expectWellTyped(table, rows);
    return { rows, batches };
  }
  const rowsOf = async (table: string) => (await scan(table)).rows;
  const byId = async (table: string, id: string) => (await rowsOf(table)).find((r) => r.id === id);

  const invoke = (ts: number, inv: Partial<NewInvocation> & Pick<NewInvocation, 'id' | 'target'>): Command => ({
    kind: 'Invoke',
    ts,
    inv: { input: Buffer.from('"in"'), headers: [], sink: { kind: 'ingress', node: 'n' }, ...inv },
  });
  const effect = (ts: number, invocationId: string, e: InvokerEffect): Command => ({
    kind: 'Effect',
    ts,
    epoch: 0,
    invocationId,
    effect: e,
  });
  const command = (entry: ReturnType<typeof runCmd>, target?: Pick<Target, 'serviceType' | 'handlerType'>) =>
    ({ kind: 'command', entry, ...(target && { target }) }) as InvokerEffect;

  /** An object invocation that ran a few steps and called Greeter, and a second one queued behind it. */
  async function objectScenario() {
    const a = idFor('k1');
    const b = idFor('k1');
    await p.sm.apply(invoke(1000, { id: a, target: counter('k1'), idempotencyKey: 'ik', ...RETAIN }));
    await p.sm.apply(invoke(2000, { id: b, target: counter('k1') }));
    await p.sm.apply(effect(2500, a, { kind: 'pin', deploymentId: 'dp_1', protocolVersion: 6 }));
    await p.sm.apply(effect(3000, a, command(setStateCmd('count', '7'))));
    await p.sm.apply(effect(3100, a, command(runCmd(1, 'step'))));
    await p.sm.apply(effect(3200, a, { kind: 'runCompletion', completionId: 1, value: Buffer.from('42') }));
    const called = await p.sm.apply(
      effect(4000, a, command(callCmd('Greeter', 'greet', '"x"', 2, 3), { serviceType: 'SERVICE' })),
    );
    await p.sm.apply(effect(5000, a, command(sleepCmd(99_000, 4))));
    const out = called.find((e): e is Extract<Effect, { kind: 'outbox' }> => e.kind === 'outbox');
    if (!out || out.command.kind !== 'Invoke') throw new Error('the call sent no Invoke');
    // The callee's partition is this one for the test: its Invoke is applied here.
    await p.sm.apply({ ...out.command, ts: 4100, dedup: { producer: 'outbox/0', seq: 1 } });
    return { a, b, child: out.command.inv.id };
  }

  it('shows an invocation status with its target, caller, deployment, journal size and times', async () => {
    const { a, b, child } = await objectScenario();
    expect(await byId('sys_invocation_status', a)).toEqual({
      id: a,
      partition_key: partitionKeyOf('k1'),
      status: 'invoked',
      target: 'Counter/k1/add',
      target_service_name: 'Counter',
      target_service_key: 'k1',
      target_handler_name: 'add',
      target_service_ty: 'virtual_object',
      idempotency_key: 'ik',
      invoked_by: 'ingress',
      pinned_deployment_id: 'dp_1',
      pinned_service_protocol_version: 6,
      // Input, SetState, Run, RunN, Call, CallInvocationIdN, Sleep; five of them commands.
      journal_size: 7,
      journal_commands_size: 5,
      created_at: 1000,
      modified_at: 5000,
      inboxed_at: undefined,
      scheduled_at: undefined,
      scheduled_start_at: undefined,
      running_at: 1000,
      completed_at: undefined,
      completion_retention: 60_000,
      journal_retention: 60_000,
      suspended_waiting_for_completions: undefined,
      suspended_waiting_for_signals: undefined,
    });
    expect(await byId('sys_invocation_status', b)).toMatchObject({
      status: 'inboxed',
      inboxed_at: 2000,
      running_at: undefined,
    });
    expect(await byId('sys_invocation_status', child)).toMatchObject({
      status: 'invoked',
      target: 'Greeter/greet',
      target_service_key: undefined,
      target_service_ty: 'service',
      invoked_by: 'service',
      invoked_by_id: a,
      invoked_by_service_name: 'Counter',
      invoked_by_target: 'Counter/k1/add',
      partition_key: ids.partitionKeyOfInvocation(child),
      running_at: 4100,
    });
  });

  /** A delayed invocation, one that succeeded, one that failed and one suspended on a sleep and signal 5. */
  async function endingsScenario() {
    const delayed = idFor();
    const done = idFor();
    const failed = idFor();
    const waiting = idFor();
    await p.sm.apply(invoke(6000, { id: delayed, target: greeter, executionTime: 50_000, sink: undefined }));
    await p.sm.apply(invoke(7000, { id: done, target: greeter, ...RETAIN }));
    await p.sm.apply(effect(7100, done, command(outputCmd('"hi"'))));
    await p.sm.apply(effect(7200, done, { kind: 'end' }));
    await p.sm.apply(invoke(8000, { id: failed, target: greeter, ...RETAIN }));
    await p.sm.apply(effect(8100, failed, { kind: 'fail', failure: { code: 500, message: 'bad input' } }));
    await p.sm.apply(invoke(9000, { id: waiting, target: greeter }));
    await p.sm.apply(effect(9100, waiting, command(sleepCmd(90_000, 1))));
    await p.sm.apply(
      effect(9200, waiting, { kind: 'suspend', waiting: { completions: [1], signals: [5], names: [] } }),
    );
    return { delayed, done, failed, waiting };
  }

  it('names delayed, suspended, completed and failed invocations as Restate does', async () => {
    const { delayed, done, failed, waiting } = await endingsScenario();

    expect(await byId('sys_invocation_status', delayed)).toMatchObject({
      status: 'scheduled',
      scheduled_at: 6000,
      scheduled_start_at: 50_000,
      running_at: undefined,
    });
    const succeeded = await byId('sys_invocation_status', done);
    expect(succeeded).toMatchObject({ status: 'completed', completion_result: 'success', completed_at: 7200 });
    expect(succeeded?.completion_failure).toBeUndefined();
    expect(await byId('sys_invocation_status', failed)).toMatchObject({
      status: 'completed',
      completion_result: 'failure',
      completion_failure: '[500] bad input',
    });
    expect(await byId('sys_invocation_status', waiting)).toMatchObject({
      status: 'suspended',
      suspended_waiting_for_completions: [1],
      suspended_waiting_for_signals: [5],
    });
    const shown = await rowsOf('sys_invocation');
    expect(Object.fromEntries(shown.map((r) => [r.id, r.status]))).toEqual({
      [delayed]: 'scheduled',
      [done]: 'completed',
      [failed]: 'completed',
      [waiting]: 'suspended',
    });
  });

  it('joins the leader’s attempts: retries, the failing step and the next retry', async () => {
    const { a, b, child } = await objectScenario();
    reports = [
      {
        invocationId: a,
        inFlight: false,
        retryCount: 2,
        lastStartAt: 5100,
        nextRetryAt: 9100,
        lastDeploymentId: 'dp_1',
        // Command 2 is the Run (Input is command 0): journal entry 2.
        lastFailure: { message: 'boom', code: 500, relatedCommand: { index: 2, name: 'step', type: 0x0411 } },
      },
      { invocationId: child, inFlight: true, retryCount: 0, lastStartAt: 4200, lastDeploymentId: 'dp_1' },
    ];
    const state = {
      id: a,
      partition_key: partitionKeyOf('k1'),
      in_flight: false,
      retry_count: 2,
      last_start_at: 5100,
      next_retry_at: 9100,
      last_attempt_deployment_id: 'dp_1',
      last_failure: '[500] boom',
      last_failure_error_code: '500',
      last_failure_related_command_index: 2,
      last_failure_related_command_name: 'step',
      last_failure_related_command_type: 'Run',
      last_failure_related_entry_index: 2,
      last_failure_related_entry_name: 'step',
      last_failure_related_entry_type: 'Command: Run',
    };
    const rows = await rowsOf('sys_invocation_state');
    // In id order.
    expect(rows.map((r) => r.id)).toEqual([a, child].sort());
    expect(rows.find((r) => r.id === a)).toEqual(state);
    expect(rows.find((r) => r.id === child)).toMatchObject({ in_flight: true, retry_count: 0, last_start_at: 4200 });
    // sys_invocation has the state's columns but in_flight and partition_key (as Restate's view).
    const { in_flight: _, partition_key: __, ...joinedState } = state;
    const joined = await byId('sys_invocation', a);
    expect(joined).toMatchObject({ ...joinedState, status: 'backing-off', target: 'Counter/k1/add', journal_size: 7 });
    expect(await byId('sys_invocation', child)).toMatchObject({ status: 'running', retry_count: 0 });
    const queued = await byId('sys_invocation', b);
    expect(queued).toMatchObject({ status: 'pending', inboxed_at: 2000 });
    expect(queued?.retry_count).toBeUndefined();
    // Without a report, an invoked invocation waits for its first attempt.
    reports = [];
    expect(await byId('sys_invocation', child)).toMatchObject({ status: 'ready' });
  });

  it('reads only the columns asked for, each with the value it has in a whole row', async () => {
    const { a, child } = await objectScenario();
    await endingsScenario();
    reports = [
      { invocationId: a, inFlight: false, retryCount: 2, lastStartAt: 5100, lastFailure: { message: 'boom' } },
      { invocationId: child, inFlight: true, retryCount: 0, lastStartAt: 4200 },
    ];
    // The invoker's columns of sys_invocation come with every row of a running invocation (they cost no read).
    const ATTEMPT = ['retry_count', 'last_start_at', 'next_retry_at', 'last_attempt_deployment_id'];
    const attempt = (k: string) => ATTEMPT.includes(k) || k.startsWith('last_failure');
    for (const table of ['sys_invocation_status', 'sys_invocation']) {
      const whole = await rowsOf(table);
      expect(whole).toHaveLength(7);
      const columns = INTROSPECTION_TABLES.find((t) => t.name === table)?.columns ?? [];
      for (const [column] of columns) {
        const rows: IntrospectionRow[] = [];
        for await (const batch of scanPartitionRows(source(), table, { limit: 100, columns: new Set([column]) }))
          rows.push(...batch);
        expect({ column, values: rows.map((r) => r[column]) }).toEqual({ column, values: whole.map((r) => r[column]) });
        const extra = rows.flatMap((r) =>
          Object.keys(r).filter((k) => k !== column && !(table === 'sys_invocation' && (attempt(k) || k === 'status'))),
        );
        expect({ column, extra }).toEqual({ column, extra: [] });
      }
    }
  });

  it('shows the journal: types, names, completion, callee, wake-up time, append time and bytes', async () => {
    const { a, child } = await objectScenario();
    const journal = (await rowsOf('sys_journal')).filter((r) => r.id === a);
    expect(journal.map((r) => [r.index, r.entry_type, r.name, r.completed, r.appended_at])).toEqual([
      [0, 'Command: Input', undefined, undefined, 1000],
      [1, 'Command: SetState', undefined, undefined, 3000],
      [2, 'Command: Run', 'step', true, 3100],
      [3, 'Notification: Run', undefined, true, 3200],
      [4, 'Command: Call', undefined, false, 4000],
      [5, 'Notification: CallInvocationId', undefined, true, 4000],
      [6, 'Command: Sleep', undefined, false, 5000],
    ]);
    expect(journal[4]).toMatchObject({ invoked_id: child, invoked_target: 'Greeter/greet' });
    expect(journal[6]).toMatchObject({ sleep_wakeup_at: 99_000 });
    const raw = journal[1].raw as Uint8Array;
    expect(Buffer.from(raw)).toEqual(Buffer.from(setStateCmd('count', '7').bytes));
    expect(journal[1]).toMatchObject({ raw_length: raw.length, version: 2, partition_key: partitionKeyOf('k1') });
    // A row limit cuts the journal short.
    expect((await scan('sys_journal', 3)).rows).toHaveLength(3);
  });

  it('shows state (UTF-8 or not), the lock holder, the inbox and workflow promises', async () => {
    const { a, b } = await objectScenario();
    await p.sm.apply(effect(5100, a, command(setStateCmd('bin', new Uint8Array([0xff, 0x00])))));
    expect(await rowsOf('state')).toEqual([
      {
        partition_key: partitionKeyOf('k1'),
        service_name: 'Counter',
        service_key: 'k1',
        key: 'bin',
        key_length: 3,
        value: new Uint8Array([0xff, 0x00]),
        value_length: 2,
        value_utf8: undefined,
      },
      {
        partition_key: partitionKeyOf('k1'),
        service_name: 'Counter',
        service_key: 'k1',
        key: 'count',
        key_length: 5,
        value: new Uint8Array(Buffer.from('7')),
        value_length: 1,
        value_utf8: '7',
      },
    ]);
    const holder = { partition_key: partitionKeyOf('k1'), service_name: 'Counter', service_key: 'k1' };
    expect(await rowsOf('sys_keyed_service_status')).toEqual([{ ...holder, invocation_id: a }]);
    expect(await rowsOf('sys_locks')).toEqual([
      { partition_key: partitionKeyOf('k1'), lock_name: 'Counter/k1', acquired_by: a, acquired_at: 1000 },
    ]);
    expect(await rowsOf('sys_inbox')).toEqual([{ ...holder, id: b, sequence_number: 1, created_at: 2000 }]);

    const w = ids.workflowId('Wf', 'w1');
    await p.sm.apply(invoke(6000, { id: w, target: workflow('w1') }));
    await p.sm.apply(effect(6100, w, command(promiseCmd(J.T2.CompletePromise, 'approved', 1, 'yes'))));
    await p.sm.apply(effect(6200, w, command(promiseCmd(J.T2.GetPromise, 'later', 2))));
    const wf = { partition_key: partitionKeyOf('w1'), service_name: 'Wf', service_key: 'w1' };
    expect(await rowsOf('sys_promise')).toEqual([
      {
        ...wf,
        key: 'approved',
        completed: true,
        completion_success_value: new Uint8Array(Buffer.from('yes')),
        completion_success_value_utf8: 'yes',
      },
      { ...wf, key: 'later', completed: false },
    ]);
    expect((await rowsOf('sys_journal')).find((r) => r.id === w && r.index === 1)).toMatchObject({
      entry_type: 'Command: CompletePromise',
      promise_name: 'approved',
    });
  });

  it('pages through a table, honours the limit across pages, and stops when aborted', async () => {
    const a = idFor('k1');
    await p.sm.apply(invoke(1000, { id: a, target: counter('k1') }));
    for (let i = 0; i < 5; i++) await p.sm.apply(effect(2000 + i, a, command(setStateCmd(`key${i}`, `v${i}`))));
    const all = await scan('state', 100, 2);
    expect(all.batches).toEqual([2, 2, 1]);
    expect(all.rows.map((r) => r.key)).toEqual(['key0', 'key1', 'key2', 'key3', 'key4']);
    expect((await scan('state', 3, 2)).batches).toEqual([2, 1]);
    // Tables a partition holds no rows of (the schema's) yield nothing.
    expect((await scan('sys_deployment')).rows).toEqual([]);

    const abort = new AbortController();
    const it = scanPartitionRows(source(), 'state', { limit: 100, signal: abort.signal }, 2);
    expect((await it.next()).value).toHaveLength(2);
    abort.abort(new Error('the client went away'));
    await expect(it.next()).rejects.toThrow('the client went away');
  });
});
