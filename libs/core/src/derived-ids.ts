/**
 * Invocation ids that are a pure function of what names the invocation: an idempotent request (service, key,
 * handler, idempotency key) and a workflow run (name, key). Here in core so that the partition that assigns them
 * and an ingress that only computes them (`POST /restate/lookup`) agree without asking anyone.
 */
import { createHash } from 'node:crypto';
import { partitionKeyOf } from './hash.ts';
import { newInvocationId, parseInvocationId } from './ids.ts';
import type { InvocationQuery } from './invocation.ts';

/**
 * The id derived from `seed`: same seed, same id (replay-safe). A keyed target lives in its key's partition; an
 * unkeyed one in a partition picked by the seed's hash.
 */
export function derivedInvocationId(seed: string, target: { key?: string }): string {
  const h = createHash('sha256').update(seed).digest();
  const pk = target.key !== undefined ? partitionKeyOf(target.key) : h.subarray(16, 24).readBigUInt64BE(0);
  return newInvocationId(pk, () => new Uint8Array(h.subarray(0, 16))).toString();
}

/** The id of the invocation an idempotency key names (the same one every time the request is repeated). */
export function idempotentInvocationId(
  service: string,
  key: string | undefined,
  handler: string,
  idempotencyKey: string,
): string {
  return derivedInvocationId(`idem\u0000${service}\u0000${key ?? ''}\u0000${handler}\u0000${idempotencyKey}`, {
    key: key ?? idempotencyKey,
  });
}

/** The id of the run of workflow `name` with key `key`. */
export function workflowInvocationId(name: string, key: string): string {
  return derivedInvocationId(`wf\u0000${name}\u0000${key}`, { key });
}

/**
 * The id of the invocation a query names, whether or not it exists; an explicit id is checked (InputError, 400,
 * when it does not parse).
 */
export function queriedInvocationId(query: InvocationQuery): string {
  if ('invocationId' in query) {
    parseInvocationId(query.invocationId);
    return query.invocationId;
  }
  if ('workflow' in query) return workflowInvocationId(query.workflow.name, query.workflow.key);
  const r = query.idempotent;
  return idempotentInvocationId(r.service, r.key, r.handler, r.idempotencyKey);
}
