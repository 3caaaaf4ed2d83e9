import { LogTrimmedError } from '../types.ts';
import { Quorum, type Random, type Timers } from './quorum.ts';
import { withTimeout } from './sealer.ts';
import {
  type LogletParams,
  type LogServerDirectory,
  LogUnavailableError,
  type NodeId,
  type StoredRecord,
} from './types.ts';

export interface ReadOptions {
  timers: Timers;
  random: Random;
  callTimeoutMs?: number;
  maxBytes?: number;
}

/** Thrown when an f-majority of nodes answered and none holds an offset below the tail: data was lost. */
export class LogDataLossError extends Error {
  override name = 'LogDataLossError';
}

/**
 * Reads records [from, to) of a replicated loglet, where `to` is at most a known tail (released or sealed), from
 * whichever replicas answer: starts at a random node and asks others for what it lacks. Returns the records from
 * `from` on without holes (possibly fewer than asked when a byte limit cut the answer short; at least one when
 * from < to).
 */
export async function readLoglet(
  params: LogletParams,
  directory: LogServerDirectory,
  from: bigint,
  to: bigint,
  opts: ReadOptions,
): Promise<StoredRecord[]> {
  if (from >= to) return [];
  const quorum = new Quorum(params.nodeset, params.replication);
  const n = params.nodeset.length;
  const start = Math.floor(opts.random() * n);
  const got = new Map<bigint, Uint8Array>();
  let end = to;
  const answered: NodeId[] = [];
  let trimmedTo = 0n;
  let lastError: unknown;
  for (let i = 0; i < n; i++) {
    const node = params.nodeset[(start + i) % n]!.id;
    let first = from;
    while (got.has(first) && first < end) first++;
    if (first >= end) break;
    try {
      const r = await withTimeout(opts.timers, opts.callTimeoutMs ?? 2_000, () =>
        directory(node).getRecords({
          logletId: params.logletId,
          from: first,
          to: end,
          maxBytes: opts.maxBytes ?? 4 << 20,
        }),
      );
      answered.push(node);
      if (r.trimPoint > trimmedTo) trimmedTo = r.trimPoint;
      for (const rec of r.records) if (rec.offset >= from && rec.offset < end) got.set(rec.offset, rec.payload);
      // A byte-limited answer covers [first, next) only; shrink the window so later nodes are asked for it only.
      if (r.next < end && r.next > first) end = r.next;
    } catch (e) {
      lastError = e;
    }
  }
  const out: StoredRecord[] = [];
  for (let o = from; o < end; o++) {
    const payload = got.get(o);
    if (!payload) break;
    out.push({ offset: o, payload });
  }
  if (out.length > 0) return out;
  if (from < trimmedTo)
    throw new LogTrimmedError(`offset ${from} of ${params.logletId} is trimmed (trim point ${trimmedTo})`);
  if (quorum.isFMajority(answered))
    throw new LogDataLossError(
      `offset ${from} of ${params.logletId} is below the tail but none of ${answered.join(', ')} holds it`,
    );
  throw new LogUnavailableError(
    `cannot read offset ${from} of ${params.logletId}: ${answered.length} of ${n} log servers answered (${String(lastError)})`,
  );
}
