import { maxBig, Quorum, type Timers } from './quorum.ts';
import {
  type LogletParams,
  type LogletState,
  type LogServerDirectory,
  LogUnavailableError,
  type NodeId,
  type StoredRecord,
} from './types.ts';

export interface SealOptions {
  timers: Timers;
  /** Per-call timeout. */
  callTimeoutMs?: number;
  /** Give up (LogUnavailableError) when no f-majority could be reached in this long. */
  deadlineMs?: number;
}

/** Races a call against a timeout built from the injected timers. */
export function withTimeout<T>(timers: Timers, ms: number, call: () => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false;
    const cancel = timers.after(ms, () => {
      if (done) return;
      done = true;
      reject(new LogUnavailableError(`no answer within ${ms} ms`));
    });
    callAsync(call).then(
      (v) => {
        if (done) return;
        done = true;
        cancel();
        resolve(v);
      },
      (e) => {
        if (done) return;
        done = true;
        cancel();
        reject(e);
      },
    );
  });
}

/** Calls `fn`, turning a synchronous throw into a rejected promise. */
export function callAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e);
  }
}

function pause(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.after(ms, resolve));
}

/**
 * Calls `fn` on every node until the nodes that answered form an f-majority (retrying the others), then
 * returns all answers in hand. Rejects with LogUnavailableError after the deadline.
 */
async function fMajority<T>(
  quorum: Quorum,
  nodes: NodeId[],
  fn: (node: NodeId) => Promise<T>,
  opts: Required<SealOptions>,
): Promise<Map<NodeId, T>> {
  const answers = new Map<NodeId, T>();
  const deadline = opts.timers.now() + opts.deadlineMs;
  let lastError: unknown;
  for (;;) {
    const missing = nodes.filter((n) => !answers.has(n));
    await Promise.all(
      missing.map((n) =>
        withTimeout(opts.timers, opts.callTimeoutMs, () => fn(n)).then(
          (v) => {
            answers.set(n, v);
          },
          (e) => {
            lastError = e;
          },
        ),
      ),
    );
    if (quorum.isFMajority(answers.keys())) return answers;
    if (opts.timers.now() >= deadline)
      throw new LogUnavailableError(
        `only ${answers.size} of ${nodes.length} log servers answered (need an f-majority): ${String(lastError)}`,
      );
    await pause(opts.timers, 50);
  }
}

export interface SealResult {
  /** Every offset below this is part of the loglet and has a write quorum of copies; nothing at or above it is. */
  tail: bigint;
  /** Records copied to more nodes because they had fewer than a write quorum of copies. */
  repaired: number;
}

/**
 * Seals a replicated loglet: after this no new record can be acknowledged on it, and the returned tail covers
 * every record that ever was. Steps: seal an f-majority; take digests of [highest known global tail, highest
 * local tail) from sealed nodes forming an f-majority; the tail is the first offset none of them holds (no write
 * quorum can have missed all of them, and acknowledgments are released in order, so nothing at or above a hole
 * was acknowledged); records below the tail with too few copies are re-replicated before returning. Idempotent,
 * and safe to run concurrently with other sealers (they may pick different tails; the caller's conditional
 * metadata write decides which one counts, and both have repaired what is below their own tail).
 */
export async function sealLoglet(
  params: LogletParams,
  directory: LogServerDirectory,
  options: SealOptions,
): Promise<SealResult> {
  const opts: Required<SealOptions> = { callTimeoutMs: 2_000, deadlineMs: 30_000, ...options };
  const quorum = new Quorum(params.nodeset, params.replication);
  const ids = params.nodeset.map((m) => m.id);
  const sealed = await fMajority(quorum, ids, (n) => directory(n).seal({ logletId: params.logletId }), opts);
  let lo = 0n;
  let hi = 0n;
  for (const st of sealed.values()) {
    lo = maxBig(lo, maxBig(st.knownGlobalTail, st.trimPoint));
    hi = maxBig(hi, st.localTail);
  }
  if (hi <= lo) return { tail: maxBig(lo, hi), repaired: 0 };
  // Digests only from sealed nodes: they accept no more (non-repair) stores, so what they hold is final.
  const digests = await fMajority(
    quorum,
    [...sealed.keys()],
    (n) => directory(n).getDigest({ logletId: params.logletId, from: lo, to: hi }),
    opts,
  );
  const copies = new Map<bigint, Set<NodeId>>();
  for (const [node, d] of digests) {
    for (const o of d.offsets) {
      let s = copies.get(o);
      if (!s) {
        s = new Set();
        copies.set(o, s);
      }
      s.add(node);
    }
  }
  let tail = lo;
  while (tail < hi && copies.has(tail)) tail++;
  const repaired = await repair(params, quorum, directory, copies, lo, tail, opts);
  return { tail, repaired };
}

async function repair(
  params: LogletParams,
  quorum: Quorum,
  directory: LogServerDirectory,
  copies: Map<bigint, Set<NodeId>>,
  from: bigint,
  to: bigint,
  opts: Required<SealOptions>,
): Promise<number> {
  const under: bigint[] = [];
  for (let o = from; o < to; o++) if (!quorum.isWriteQuorum(copies.get(o)!)) under.push(o);
  const deadline = opts.timers.now() + opts.deadlineMs;
  for (const offset of under) {
    const have = copies.get(offset)!;
    let record: StoredRecord | undefined;
    for (const holder of have) {
      try {
        const r = await withTimeout(opts.timers, opts.callTimeoutMs, () =>
          directory(holder).getRecords({ logletId: params.logletId, from: offset, to: offset + 1n }),
        );
        record = r.records.find((x) => x.offset === offset);
        if (record) break;
      } catch {
        // try the next holder
      }
    }
    if (!record) throw new LogUnavailableError(`cannot read offset ${offset} of ${params.logletId} for repair`);
    const tried = new Set<NodeId>();
    while (!quorum.isWriteQuorum(have)) {
      const target = quorum.pickExtra(have, tried, () => true);
      if (target === undefined) {
        if (opts.timers.now() >= deadline)
          throw new LogUnavailableError(`cannot re-replicate offset ${offset} of ${params.logletId}`);
        tried.clear();
        await pause(opts.timers, 50);
        continue;
      }
      tried.add(target);
      try {
        const r = await withTimeout(opts.timers, opts.callTimeoutMs, () =>
          directory(target).store({
            logletId: params.logletId,
            firstOffset: offset,
            payloads: [record.payload],
            knownGlobalTail: 0n,
            repair: true,
          }),
        );
        if (r.status === 'ok') have.add(target);
      } catch {
        // another target
      }
    }
  }
  return under.length;
}

/** The state each reachable node reports for a loglet (for tail discovery without the sequencer). */
export async function probeLoglet(
  params: LogletParams,
  directory: LogServerDirectory,
  options: SealOptions,
): Promise<Map<NodeId, LogletState>> {
  const opts: Required<SealOptions> = { callTimeoutMs: 2_000, deadlineMs: 30_000, ...options };
  const out = new Map<NodeId, LogletState>();
  await Promise.all(
    params.nodeset.map((m) =>
      withTimeout(opts.timers, opts.callTimeoutMs, () =>
        directory(m.id).getDigest({ logletId: params.logletId, from: 0n, to: 0n }),
      ).then(
        (d) => {
          out.set(m.id, {
            localTail: d.localTail,
            knownGlobalTail: d.knownGlobalTail,
            trimPoint: d.trimPoint,
            sealed: d.sealed,
          });
        },
        () => {},
      ),
    ),
  );
  return out;
}
