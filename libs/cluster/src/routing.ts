import {
  type IngressRequest,
  InputError,
  type InvocationDefaults,
  type InvocationQuery,
  parseAwakeableId,
  parseInvocationId,
  RESTATE_INVOCATION_DEFAULTS,
  type SchemaView,
} from '@stead/core';
import { ids, planInvocation } from '@stead/partition';
import type { RemoteBackendOptions } from './remote-backend.ts';

function checked<T>(what: string, id: string, parse: (id: string) => T): T {
  try {
    return parse(id);
  } catch (err) {
    throw new InputError(`invalid ${what} id '${id}': ${err instanceof Error ? err.message : err}`);
  }
}

/**
 * How a forwarding process maps requests to partitions: the same id arithmetic as the engine's (a plain
 * invocation gets a fresh id here, before the first attempt, so that every retry names it).
 */
export function routing(
  schema: SchemaView,
  defaults: InvocationDefaults = RESTATE_INVOCATION_DEFAULTS,
): Pick<RemoteBackendOptions, 'plan' | 'partitionKeyOfQuery' | 'partitionKeyOfInvocation' | 'partitionKeyOfAwakeable'> {
  const ofInvocation = (id: string) => checked('invocation', id, parseInvocationId).partitionKey;
  return {
    plan: (req: IngressRequest) => {
      const p = planInvocation(req, schema, defaults);
      return { invocationId: p.id, partitionKey: p.partitionKey };
    },
    partitionKeyOfQuery: (q: InvocationQuery) => {
      if ('invocationId' in q) return ofInvocation(q.invocationId);
      if ('workflow' in q) return ids.partitionKeyOfInvocation(ids.workflowId(q.workflow.name, q.workflow.key));
      const r = q.idempotent;
      return ids.partitionKeyOfInvocation(ids.idempotentId(r.service, r.key, r.handler, r.idempotencyKey));
    },
    partitionKeyOfInvocation: ofInvocation,
    partitionKeyOfAwakeable: (id: string) => checked('awakeable', id, parseAwakeableId).invocationId.partitionKey,
  };
}
