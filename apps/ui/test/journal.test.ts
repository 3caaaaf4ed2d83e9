import { toMs } from '../src/format.ts';
import { awaited, buildTimeline, entryKind, failureOf } from '../src/journal.ts';

describe('the journal timeline', () => {
  it('classifies entry types of both journal versions', () => {
    const kinds = Object.fromEntries(
      [
        'Input',
        'Command: Input',
        'Output',
        'Run',
        'Command: Run',
        'Notification: Run',
        'Call',
        'Command: Call',
        'OneWayCall',
        'Command: OneWayCall',
        'Sleep',
        'Command: Sleep',
        'Awakeable',
        'CompleteAwakeable',
        'GetPromise',
        'Command: CompletePromise',
        'SetState',
        'GetEagerState',
        'ClearAllState',
        'AttachInvocation',
        'GetInvocationOutput',
        'CancelInvocation',
        'Notification: Signal',
        'Whatever',
      ].map((t) => [t, entryKind(t)]),
    );
    expect(kinds).toEqual({
      Input: 'input',
      'Command: Input': 'input',
      Output: 'output',
      Run: 'run',
      'Command: Run': 'run',
      'Notification: Run': 'run',
      Call: 'call',
      'Command: Call': 'call',
      OneWayCall: 'send',
      'Command: OneWayCall': 'send',
      Sleep: 'sleep',
      'Command: Sleep': 'sleep',
      Awakeable: 'awakeable',
      CompleteAwakeable: 'awakeable',
      GetPromise: 'promise',
      'Command: CompletePromise': 'promise',
      SetState: 'state',
      GetEagerState: 'state',
      ClearAllState: 'state',
      AttachInvocation: 'attach',
      GetInvocationOutput: 'attach',
      CancelInvocation: 'cancel',
      'Notification: Signal': 'signal',
      Whatever: 'other',
    });
  });

  it('reads timestamps as milliseconds or ISO strings, without an offset as UTC', () => {
    expect(toMs(1700000000000)).toBe(1700000000000);
    expect(toMs('2025-01-02T03:04:05.678Z')).toBe(Date.UTC(2025, 0, 2, 3, 4, 5, 678));
    expect(toMs('2025-01-02 03:04:05.678')).toBe(Date.UTC(2025, 0, 2, 3, 4, 5, 678));
    expect(toMs('2025-01-02T03:04:05+01:00')).toBe(Date.UTC(2025, 0, 2, 2, 4, 5));
    expect(toMs(null)).toBeUndefined();
    expect(toMs('nope')).toBeUndefined();
  });

  const journal = [
    { index: 0, entry_type: 'Command: Input', completed: true },
    { index: 1, entry_type: 'Command: Call', invoked_id: 'inv_1callee', invoked_target: 'S/h', completed: false },
    { index: 2, entry_type: 'Command: Sleep', sleep_wakeup_at: '2030-01-01T00:00:00Z', completed: false },
    { index: 3, entry_type: 'Command: SetState', name: 'v' },
  ];

  it('marks the entry the last failure names, and attaches retries after their entry', () => {
    const failure = failureOf({
      last_failure: 'boom',
      last_failure_related_entry_index: 2,
      last_failure_related_entry_type: 'Sleep',
      retry_count: '3',
      next_retry_at: 1900000000000,
    });
    expect(failure).toEqual({
      message: 'boom',
      code: undefined,
      index: 2,
      name: undefined,
      type: 'Sleep',
      retryCount: 3,
      nextRetryAtMs: 1900000000000,
    });
    const items = buildTimeline(
      journal,
      [
        { after_journal_entry_index: 1, event_type: 'TransientError', event_json: '{"error_message":"first"}' },
        { after_journal_entry_index: 3, event_type: 'TransientError', event_json: '{"x":{"message":"second"}}' },
      ],
      failure,
    );
    expect(items.map((i) => [i.index, i.kind, i.failing, i.journaled])).toEqual([
      [0, 'input', false, true],
      [1, 'call', false, true],
      [2, 'sleep', true, true],
      [3, 'state', false, true],
    ]);
    expect(items[1].events.map((e) => e.message)).toEqual(['first']);
    expect(items[3].events.map((e) => e.message)).toEqual(['second']);
    expect(items[2].wakeupAtMs).toBe(Date.UTC(2030, 0, 1));
  });

  it('adds a failing step the journal does not hold at its index', () => {
    const failure = failureOf({
      last_failure: '[500] attempt fails',
      last_failure_related_command_index: 4,
      last_failure_related_command_name: 'flaky',
      last_failure_related_command_type: 'Run',
      retry_count: 5,
    });
    const items = buildTimeline(journal, [], failure);
    expect(items.at(-1)).toMatchObject({ index: 4, kind: 'run', name: 'flaky', failing: true, journaled: false });
  });

  it('has no failure for an invocation that never failed', () => {
    expect(failureOf({ retry_count: 0, last_failure: null })).toBeUndefined();
  });

  it('lists the commands the invocation awaits', () => {
    expect(awaited(buildTimeline(journal, [])).map((i) => i.index)).toEqual([1, 2]);
  });
});
