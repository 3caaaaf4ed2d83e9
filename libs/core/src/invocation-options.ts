import type { HandlerSchema, RetryPolicyOverrides, ServiceSchema } from './schema.ts';

/**
 * The per-invocation options Restate lets a service and a handler set (endpoint manifest, `PATCH
 * /services/{service}`), resolved handler > service > server default. The engine, the invoker and the
 * admin API all read them through `resolveInvocationOptions`, so that what the admin API shows is what runs.
 */
export interface EffectiveRetryPolicy {
  initialIntervalMs: number;
  factor: number;
  /** undefined = no cap on the delay between attempts. */
  maxIntervalMs: number | undefined;
  /** Attempts including the first; undefined = retry forever. */
  maxAttempts: number | undefined;
  /** What happens when the attempts run out: pause (resumable through the admin API) or kill. */
  onMaxAttempts: 'PAUSE' | 'KILL';
}

export const RESTATE_INVOCATION_DEFAULTS: InvocationDefaults = {
  journalRetentionMs: 86_400_000,
  idempotencyRetentionMs: 86_400_000,
  workflowCompletionRetentionMs: 86_400_000,
  inactivityTimeoutMs: 60_000,
  abortTimeoutMs: 600_000,
  retry: { initialIntervalMs: 500, factor: 2, maxIntervalMs: 60_000, maxAttempts: 70, onMaxAttempts: 'PAUSE' },
};

/** Server-wide defaults (Restate 1.7: 1d retentions, 1m inactivity, 10m abort, 70 attempts then pause). */
export type InvocationDefaults = InvocationOptions;

export interface InvocationOptions {
  journalRetentionMs: number;
  idempotencyRetentionMs: number;
  workflowCompletionRetentionMs: number;
  inactivityTimeoutMs: number;
  abortTimeoutMs: number;
  retry: EffectiveRetryPolicy;
}

/** What a service or a handler may set; unset fields fall back to the level below. */
type Overrides = Partial<Omit<InvocationOptions, 'retry'>> & { retryPolicy?: RetryPolicyOverrides };

/** `layer` over `base`, field by field. */
function overlay(base: InvocationOptions, layer: Overrides | undefined): InvocationOptions {
  const r = layer?.retryPolicy;
  return {
    journalRetentionMs: layer?.journalRetentionMs ?? base.journalRetentionMs,
    idempotencyRetentionMs: layer?.idempotencyRetentionMs ?? base.idempotencyRetentionMs,
    workflowCompletionRetentionMs: layer?.workflowCompletionRetentionMs ?? base.workflowCompletionRetentionMs,
    inactivityTimeoutMs: layer?.inactivityTimeoutMs ?? base.inactivityTimeoutMs,
    abortTimeoutMs: layer?.abortTimeoutMs ?? base.abortTimeoutMs,
    retry: {
      initialIntervalMs: r?.initialIntervalMs ?? base.retry.initialIntervalMs,
      factor: r?.factor ?? base.retry.factor,
      maxIntervalMs: r?.maxIntervalMs ?? base.retry.maxIntervalMs,
      maxAttempts: r?.maxAttempts ?? base.retry.maxAttempts,
      onMaxAttempts: r?.onMaxAttempts ?? base.retry.onMaxAttempts,
    },
  };
}

/** The service-level values (service > default): what `GET /services/{service}` shows. */
export function serviceOptions(svc: ServiceSchema | undefined, d: InvocationDefaults): InvocationOptions {
  if (!svc) return overlay(d, undefined);
  // A workflow's completion retention is set on its run handler.
  const wf = svc.handlers.find((h) => h.ty === 'WORKFLOW')?.workflowCompletionRetentionMs;
  return overlay(d, { ...svc, workflowCompletionRetentionMs: wf });
}

/** The values an invocation of `handler` uses: handler > service > server default. */
export function resolveInvocationOptions(
  svc: ServiceSchema | undefined,
  handler: HandlerSchema | undefined,
  d: InvocationDefaults,
): InvocationOptions {
  return overlay(serviceOptions(svc, d), handler);
}

/**
 * How long a completed invocation is kept (Restate): an idempotent one for its idempotency retention, a
 * workflow run for its completion retention, and every one for its journal retention, which those two cap.
 * `statusMs` = how long status and result stay (attach/output); `journalMs` = how long its journal stays.
 */
export function completionRetention(
  o: InvocationOptions,
  kind: { idempotent: boolean; workflow: boolean },
): { statusMs: number; journalMs: number } {
  const completionMs = kind.workflow ? o.workflowCompletionRetentionMs : kind.idempotent ? o.idempotencyRetentionMs : 0;
  const journalMs =
    kind.workflow || kind.idempotent ? Math.min(o.journalRetentionMs, completionMs) : o.journalRetentionMs;
  return { statusMs: Math.max(completionMs, journalMs), journalMs };
}

/**
 * Retention of a new invocation of `handler` of `svc` (registered schema, server defaults): a workflow run
 * (workflow handler, with a key) and an invocation with an idempotency key keep their result longer.
 * `retentionMs` = status and result; `journalRetentionMs` = journal.
 */
export function invocationRetention(
  svc: ServiceSchema | undefined,
  handler: HandlerSchema | undefined,
  d: InvocationDefaults,
  req: { key?: string; idempotencyKey?: string },
): { retentionMs: number; journalRetentionMs: number; workflow: boolean; idempotent: boolean } {
  const workflow = svc?.ty === 'WORKFLOW' && handler?.ty === 'WORKFLOW' && req.key !== undefined;
  const idempotent = !workflow && req.idempotencyKey !== undefined;
  const r = completionRetention(resolveInvocationOptions(svc, handler, d), { idempotent, workflow });
  return { retentionMs: r.statusMs, journalRetentionMs: r.journalMs, workflow, idempotent };
}
