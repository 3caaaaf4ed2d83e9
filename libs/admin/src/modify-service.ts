import { parseDuration } from '@stead/core';
import { SchemaError, type ServiceChanges } from './registry.ts';

/**
 * Parses the body of `PATCH /services/{service}` (Restate's ModifyServiceRequest: `public`,
 * `idempotency_retention`, `journal_retention`, `inactivity_timeout`, `abort_timeout`,
 * `workflow_completion_retention`; null or absent = unchanged), plus `retry_policy` in the shape of
 * ServiceRetryPolicyMetadata (a Stead extension: Restate takes the retry policy from the manifest only).
 * Durations are jiff "friendly" (`5 hours`, `10s`) or ISO 8601 (`PT5H`). Bad values throw a 400.
 */
export function parseModifyServiceRequest(body: unknown): ServiceChanges {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw bad('the body must be a JSON object');
  }
  const b = body as Record<string, unknown>;
  const changes: ServiceChanges = {};
  const pub = b.public;
  if (pub !== undefined && pub !== null) {
    if (typeof pub !== 'boolean') throw bad('public: expected a boolean');
    changes.public = pub;
  }
  const durations: [string, keyof ServiceChanges][] = [
    ['idempotency_retention', 'idempotencyRetentionMs'],
    ['journal_retention', 'journalRetentionMs'],
    ['inactivity_timeout', 'inactivityTimeoutMs'],
    ['abort_timeout', 'abortTimeoutMs'],
    ['workflow_completion_retention', 'workflowCompletionRetentionMs'],
  ];
  for (const [field, key] of durations) {
    const ms = duration(b, field);
    if (ms !== undefined) (changes as Record<string, number>)[key] = ms;
  }
  for (const key of ['inactivityTimeoutMs', 'abortTimeoutMs'] as const) {
    if (changes[key] === 0) throw bad(`${key === 'abortTimeoutMs' ? 'abort' : 'inactivity'}_timeout must be > 0`);
  }
  const retry = b.retry_policy;
  if (retry !== undefined && retry !== null) changes.retryPolicy = parseRetryPolicy(retry);
  return changes;
}

function parseRetryPolicy(raw: unknown): NonNullable<ServiceChanges['retryPolicy']> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('retry_policy: expected an object');
  const r = raw as Record<string, unknown>;
  const out: NonNullable<ServiceChanges['retryPolicy']> = {};
  const initial = duration(r, 'initial_interval', 'retry_policy.');
  if (initial !== undefined) out.initialIntervalMs = initial;
  const max = duration(r, 'max_interval', 'retry_policy.');
  if (max !== undefined) out.maxIntervalMs = max;
  const factor = r.exponentiation_factor;
  if (factor !== undefined && factor !== null) {
    if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1)
      throw bad('retry_policy.exponentiation_factor: expected a number >= 1');
    out.factor = factor;
  }
  const attempts = r.max_attempts;
  if (attempts !== undefined && attempts !== null) {
    if (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 1)
      throw bad('retry_policy.max_attempts: expected an integer >= 1');
    out.maxAttempts = attempts;
  }
  const on = r.on_max_attempts;
  if (on !== undefined && on !== null) {
    if (on !== 'Pause' && on !== 'Kill') throw bad("retry_policy.on_max_attempts: expected 'Pause' or 'Kill'");
    out.onMaxAttempts = on === 'Pause' ? 'PAUSE' : 'KILL';
  }
  return out;
}

function duration(o: Record<string, unknown>, field: string, prefix = ''): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${prefix}${field}: expected a duration string such as '1h' or 'PT1H'`);
  const parsed = parseDuration(v);
  if ('error' in parsed) throw bad(`${prefix}${field}: ${parsed.error}`);
  return Math.round(parsed.ms);
}

function bad(why: string): SchemaError {
  return new SchemaError(400, `Invalid service configuration: ${why}`);
}
