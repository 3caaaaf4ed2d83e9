// The operator's requests to the controller, kept under one metadata key: what `stead ctl` asked for and the
// active controller (in whichever admin process holds the lease) has not done yet.
import type { MetadataClient } from '@stead/metadata';
import { ControllerError } from './errors.ts';
import { isPreconditionFailed } from './nodes.ts';
import { CLUSTER_KEYS } from './records.ts';
import type { OperatorRequest } from './types.ts';

/** Format number of the record; a reader refuses any other. */
const REQUESTS_FORMAT = 1;

/**
 * A node's record changed (drained, undrained): the controller reads it again at its next round instead of when
 * its cached copy ages out, then drops the notice.
 */
export interface NodeChangedNotice {
  id: string;
  kind: 'node-changed';
  node: string;
}

export type ClusterRequest = OperatorRequest | NodeChangedNotice;

function corrupt(why: string): ControllerError {
  return new ControllerError('corrupt-record', `metadata key '${CLUSTER_KEYS.requests}': ${why}`);
}

function checkRequest(v: unknown): ClusterRequest {
  const r = v as Record<string, unknown> | null;
  const str = (k: string) => typeof r?.[k] === 'string' && r[k] !== '';
  const ok =
    r !== null &&
    typeof r === 'object' &&
    str('id') &&
    ((r.kind === 'node-changed' && str('node')) ||
      (Number.isInteger(r.partition) &&
        ((r.kind === 'move' && str('from') && str('to')) || (r.kind === 'transfer-leader' && str('to')))));
  if (!ok) throw corrupt(`not a request: ${JSON.stringify(v)}`);
  return r as unknown as ClusterRequest;
}

export function encodeRequests(requests: readonly ClusterRequest[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ format: REQUESTS_FORMAT, requests }));
}

export function decodeRequests(bytes: Uint8Array): ClusterRequest[] {
  let v: { format?: unknown; requests?: unknown };
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw corrupt(`not JSON (${(e as Error).message})`);
  }
  if (v.format !== REQUESTS_FORMAT) throw corrupt(`format ${String(v.format)}, expected ${REQUESTS_FORMAT}`);
  if (!Array.isArray(v.requests)) throw corrupt('no request list');
  return v.requests.map(checkRequest);
}

/** The pending requests with the record's version (version 0 and none before the first request). */
export async function readRequests(
  client: Pick<MetadataClient, 'get'>,
): Promise<{ requests: ClusterRequest[]; version: number }> {
  const v = await client.get(CLUSTER_KEYS.requests);
  return v ? { requests: decodeRequests(v.value), version: v.version } : { requests: [], version: 0 };
}

/** Reads the list, changes it and writes it back conditionally until the write wins (no write when unchanged). */
async function updateRequests(
  client: MetadataClient,
  change: (requests: ClusterRequest[]) => ClusterRequest[],
): Promise<void> {
  for (;;) {
    const cur = await client.get(CLUSTER_KEYS.requests);
    const before = cur ? decodeRequests(cur.value) : [];
    const next = change(before);
    if (next.length === before.length && next.every((r, i) => r === before[i])) return;
    try {
      await client.put(
        CLUSTER_KEYS.requests,
        encodeRequests(next),
        cur ? { kind: 'matches-version', version: cur.version } : { kind: 'does-not-exist' },
      );
      return;
    } catch (e) {
      if (!isPreconditionFailed(e)) throw e;
    }
  }
}

/** Whether `a` and `b` ask the same thing of the same partition or node (the newer replaces the older). */
function sameSubject(a: ClusterRequest, b: ClusterRequest): boolean {
  if (a.kind === 'node-changed' || b.kind === 'node-changed')
    return a.kind === b.kind && (a as NodeChangedNotice).node === (b as NodeChangedNotice).node;
  return a.kind === b.kind && a.partition === b.partition;
}

/** Adds `request`, replacing a pending one of the same kind for the same partition (or node). */
export function submitRequest(client: MetadataClient, request: ClusterRequest): Promise<void> {
  checkRequest(request);
  return updateRequests(client, (rs) => [...rs.filter((r) => !sameSubject(r, request)), request]);
}

/** Removes the requests with these ids (done, or dropped as impossible). */
export function removeRequests(client: MetadataClient, ids: ReadonlySet<string>): Promise<void> {
  return updateRequests(client, (rs) => rs.filter((r) => !ids.has(r.id)));
}
