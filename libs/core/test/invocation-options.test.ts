import {
  completionRetention,
  RESTATE_INVOCATION_DEFAULTS as D,
  invocationRetention,
  resolveInvocationOptions,
  serviceOptions,
} from '../src/invocation-options.ts';
import type { HandlerSchema, ServiceSchema } from '../src/schema.ts';

const svc = (extra: Partial<ServiceSchema> = {}, handlers: HandlerSchema[] = [{ name: 'h' }]): ServiceSchema => ({
  name: 'S',
  ty: 'SERVICE',
  handlers,
  revision: 1,
  deploymentId: 'dp_1',
  public: true,
  ...extra,
});

describe('effective invocation options', () => {
  it('takes handler over service over server default, field by field', () => {
    const s = svc({ inactivityTimeoutMs: 5_000, retryPolicy: { maxAttempts: 3, maxIntervalMs: 1_000 } }, [
      { name: 'h', abortTimeoutMs: 7, retryPolicy: { maxAttempts: 9, onMaxAttempts: 'KILL' } },
    ]);
    const o = resolveInvocationOptions(s, s.handlers[0], D);
    expect(o).toEqual({
      journalRetentionMs: D.journalRetentionMs,
      idempotencyRetentionMs: D.idempotencyRetentionMs,
      workflowCompletionRetentionMs: D.workflowCompletionRetentionMs,
      inactivityTimeoutMs: 5_000,
      abortTimeoutMs: 7,
      retry: { initialIntervalMs: 500, factor: 2, maxIntervalMs: 1_000, maxAttempts: 9, onMaxAttempts: 'KILL' },
    });
    expect(serviceOptions(s, D).retry).toEqual({ ...D.retry, maxAttempts: 3, maxIntervalMs: 1_000 });
    expect(resolveInvocationOptions(undefined, undefined, D)).toEqual({ ...D });
  });

  it('keeps plain invocations for the journal retention; idempotent and workflow ones for theirs, capping the journal', () => {
    const o = { ...D, journalRetentionMs: 10, idempotencyRetentionMs: 100, workflowCompletionRetentionMs: 5 };
    expect(completionRetention(o, { idempotent: false, workflow: false })).toEqual({ statusMs: 10, journalMs: 10 });
    expect(completionRetention(o, { idempotent: true, workflow: false })).toEqual({ statusMs: 100, journalMs: 10 });
    expect(completionRetention(o, { idempotent: false, workflow: true })).toEqual({ statusMs: 5, journalMs: 5 });
    expect(completionRetention({ ...o, journalRetentionMs: 0 }, { idempotent: false, workflow: false })).toEqual({
      statusMs: 0,
      journalMs: 0,
    });
  });

  it('recognises workflow runs (with a key) and idempotent requests', () => {
    const wf = svc({ ty: 'WORKFLOW' }, [{ name: 'run', ty: 'WORKFLOW', workflowCompletionRetentionMs: 42 }]);
    expect(invocationRetention(wf, wf.handlers[0], D, { key: 'k' })).toMatchObject({
      workflow: true,
      retentionMs: 42,
      journalRetentionMs: 42,
    });
    const s = svc({ idempotencyRetentionMs: 7_200_000 });
    expect(invocationRetention(s, s.handlers[0], D, { idempotencyKey: 'x' })).toMatchObject({
      idempotent: true,
      retentionMs: 7_200_000,
      journalRetentionMs: 7_200_000,
    });
    expect(invocationRetention(s, s.handlers[0], D, {})).toMatchObject({ retentionMs: 86_400_000 });
  });
});
