/**
 * Invocation ids: how a new invocation's id is chosen (random, derived from an idempotency key or a workflow key,
 * or given by the caller), and the id arithmetic the state machine needs. One module, so that an ingress that
 * picks ids before forwarding a request and the partition that applies it agree.
 */
import { randomBytes } from 'node:crypto';
import {
  derivedInvocationId,
  type IngressRequest,
  InputError,
  type InvocationDefaults,
  idempotentInvocationId,
  invocationPartitionKey,
  invocationRetention,
  newInvocationId,
  parseAwakeableId,
  parseInvocationId,
  partitionKeyOf,
  type SchemaView,
  workflowInvocationId,
} from '@stead/core';
import type { IdFunctions } from './state-machine.ts';
import { normalizeKey, type Target } from './types.ts';

/** Partition key of an invocation target: the key's hash for keyed targets, else random. */
function targetPartitionKey(target: { key?: string }, random: () => Uint8Array): bigint {
  if (target.key !== undefined) return partitionKeyOf(target.key);
  return Buffer.from(random()).readBigUInt64BE(0);
}

/** `id` if it parses as an invocation id; else an InputError naming it. */
export function checkedInvocationId(id: string): string {
  try {
    parseInvocationId(id);
    return id;
  } catch (err) {
    throw new InputError(`invalid invocation id '${id}': ${err instanceof Error ? err.message : err}`);
  }
}

/** The id arithmetic of the state machine (see IdFunctions). */
export const ids: IdFunctions = {
  partitionKeyOfInvocation: invocationPartitionKey,
  childId: (parentId, journalIndex, target) =>
    derivedInvocationId(`child\u0000${parentId}\u0000${journalIndex}`, target),
  awakeable: (awakeableId) => {
    const a = parseAwakeableId(awakeableId);
    return { invocationId: a.invocationId.toString(), signalIndex: a.signalIndex };
  },
  idempotentId: idempotentInvocationId,
  workflowId: workflowInvocationId,
};

/** What a new invocation from ingress is: its id, its partition key, its target and how long it is kept. */
export interface InvocationPlan {
  id: string;
  /** The partition key of `id` (it picks the partition). */
  partitionKey: bigint;
  /** The target with its service and handler types from the schema (unknown ones stay undefined). */
  target: Target;
  retention: { retentionMs: number; journalRetentionMs: number };
  /** The id is derived from the request (idempotency key, workflow run): the same request names it again. */
  dedupable: boolean;
}

/**
 * Plans the invocation of an ingress request: a workflow run or an idempotent request gets the id derived from
 * its identity; a plain one gets `req.invocationId` when given (checked: it must parse, and for a keyed target
 * carry its key's partition key), else a fresh random id. Throws InputError for a given id that does not fit.
 * Pure but for `random` (the random part of a fresh id).
 */
export function planInvocation(
  req: IngressRequest,
  schema: SchemaView,
  defaults: InvocationDefaults,
  random: (bytes: number) => Uint8Array = randomBytes,
): InvocationPlan {
  const svc = schema.service(req.target.service);
  const handler = svc?.handlers.find((h) => h.name === req.target.handler);
  const target: Target = normalizeKey({ ...req.target, serviceType: svc?.ty, handlerType: handler?.ty });
  const r = invocationRetention(svc, handler, defaults, { key: target.key, idempotencyKey: req.idempotencyKey });
  const given = req.invocationId;
  let id: string;
  if (r.workflow || r.idempotent) {
    id = r.workflow
      ? ids.workflowId(target.service, target.key as string)
      : ids.idempotentId(target.service, target.key, target.handler, req.idempotencyKey as string);
    if (given !== undefined && given !== id) {
      throw new InputError(
        `invocation id '${given}' does not match the id '${id}' that this ${r.workflow ? 'workflow run' : 'idempotent request'} has`,
      );
    }
  } else if (given !== undefined) {
    id = checkedInvocationId(given);
    if (target.key !== undefined && ids.partitionKeyOfInvocation(id) !== partitionKeyOf(target.key)) {
      throw new InputError(
        `invocation id '${given}' does not belong to the key '${target.key}' of ${target.service} (another partition key)`,
      );
    }
  } else {
    id = newInvocationId(
      targetPartitionKey(target, () => random(8)),
      () => random(16),
    ).toString();
  }
  return {
    id,
    partitionKey: ids.partitionKeyOfInvocation(id),
    target,
    retention: { retentionMs: r.retentionMs, journalRetentionMs: r.journalRetentionMs },
    dedupable: r.workflow || r.idempotent,
  };
}
