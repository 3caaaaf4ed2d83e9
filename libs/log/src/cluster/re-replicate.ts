import type { ChainStore } from '../bifrost/bifrost.ts';
import { chainKey, encodeChain, readChain, type Segment } from '../bifrost/chain.ts';
import { maxBig, minBig, Quorum, type Timers } from '../replicated/quorum.ts';
import { withTimeout } from '../replicated/sealer.ts';
import {
  type LogServerDirectory,
  LogUnavailableError,
  type NodeId,
  type NodesetMember,
  type ReplicationProperty,
  type StoredRecord,
} from '../replicated/types.ts';

export interface ReReplicateOptions {
  metadata: ChainStore;
  logServers: LogServerDirectory;
  timers: Timers;
  callTimeoutMs?: number;
  /** Offsets looked at per page (what is held in memory at once is one page of records). */
  pageOffsets?: number;
  /**
   * The segment's replication from now on (default: the one it has): lower when the cluster shrank below it.
   * Every record is copied until the new nodeset holds it that many times, then the chain names both.
   */
  replication?: ReplicationProperty;
}

export interface ReReplicateResult {
  /** Whether the chain now names `nodeset` for the segment (false: the segment was trimmed away or changed). */
  replaced: boolean;
  /** Records stored on new members. */
  copied: number;
}

/**
 * Moves a sealed segment of `logId` to `nodeset` (which drops `leaving` members and may add new ones): every
 * offset of [max(trim point, base), sealed tail) whose copies on members of the new nodeset do not form a write
 * quorum is copied from any holder (a leaving member too, while it answers) onto other members of the new
 * nodeset, with repair stores (accepted on sealed loglets below the sealed tail); the new members are sealed;
 * then the chain's entry for that segment gets the new nodeset with a conditional write, retried on conflict
 * (the chain may have grown meanwhile: only that segment changes). Idempotent: a failure half-way leaves extra
 * copies that the next attempt counts.
 */
export async function reReplicateSegment(
  logId: string,
  segment: number,
  nodeset: NodesetMember[],
  o: ReReplicateOptions,
): Promise<ReReplicateResult> {
  const entry = await readChain(o.metadata, logId);
  const seg = entry?.chain.segments.find((s) => s.index === segment);
  if (!entry || !seg) return { replaced: false, copied: 0 };
  if (seg.sealedTail === undefined) throw new Error(`segment ${segment} of log ${logId} is open: reconfigure it`);
  const from = maxBig(entry.chain.trimPoint - seg.base, 0n);
  const target: Segment = { ...seg, replication: o.replication ?? seg.replication };
  const copied = await copyUnderReplicated(target, nodeset, from, seg.sealedTail, o);
  const added = nodeset.filter((m) => !seg.nodeset.some((x) => x.id === m.id));
  // Sealed on the new members too: nothing but repairs is ever stored there for this loglet.
  await Promise.all(
    added.map((m) => call(o, () => o.logServers(m.id).seal({ logletId: seg.logletId }), `seal on ${m.id}`)),
  );
  return { replaced: await replaceNodeset(logId, seg, nodeset, target.replication, o), copied };
}

function call<T>(o: ReReplicateOptions, fn: () => Promise<T>, what: string): Promise<T> {
  return withTimeout(o.timers, o.callTimeoutMs ?? 2_000, fn).catch((e: unknown) => {
    throw new LogUnavailableError(`${what}: ${String(e)}`);
  });
}

/** Pages through [from, to) and copies what lacks a write quorum in the new nodeset; returns records stored. */
async function copyUnderReplicated(
  seg: Segment,
  nodeset: NodesetMember[],
  from: bigint,
  to: bigint,
  o: ReReplicateOptions,
): Promise<number> {
  const quorum = new Quorum(nodeset, seg.replication);
  const members = new Set(nodeset.map((m) => m.id));
  const everyone = [...new Set([...seg.nodeset.map((m) => m.id), ...members])];
  const page = BigInt(o.pageOffsets ?? 512);
  let copied = 0;
  for (let lo = from; lo < to; lo += page) {
    const hi = minBig(lo + page, to);
    const holders = await holdersOf(seg.logletId, everyone, lo, hi, o);
    // Per offset, the members it goes to; then per target, consecutive offsets go in one store.
    const targets = new Map<NodeId, bigint[]>();
    const needed = new Map<bigint, NodeId[]>();
    for (let off = lo; off < hi; off++) {
      const have = new Set([...(holders.get(off) ?? [])].filter((id) => members.has(id)));
      if (quorum.isWriteQuorum(have)) continue;
      const sources = [...(holders.get(off) ?? [])];
      if (sources.length === 0)
        throw new LogUnavailableError(`offset ${off} of ${seg.logletId}: no reachable log server holds it`);
      needed.set(off, sources);
      const tried = new Set<NodeId>();
      while (!quorum.isWriteQuorum(have)) {
        const t = quorum.pickExtra(have, tried, () => true);
        if (t === undefined) throw new LogUnavailableError(`offset ${off} of ${seg.logletId}: no member to copy to`);
        tried.add(t);
        have.add(t);
        const list = targets.get(t) ?? [];
        list.push(off);
        targets.set(t, list);
      }
    }
    if (needed.size === 0) continue;
    const records = await fetchRecords(seg.logletId, needed, o);
    // Every store of the page at once. When the nodeset is wider than the replication, the offsets a member lacks
    // are scattered, and a page is a hundred runs or more; a log server writes the stores it has received in one
    // synced batch (group commit), where stores sent one after the other paid a sync each (2 s a page, and a log
    // server's drain took 15-20 s under load).
    const stores = [...targets].flatMap(([target, offsets]) => runs(offsets).map((run) => ({ target, run })));
    const stored = await Promise.all(
      stores.map(async ({ target, run }) => {
        const payloads = run.map((off) => records.get(off)!);
        const r = await call(
          o,
          () =>
            o.logServers(target).store({
              logletId: seg.logletId,
              firstOffset: run[0]!,
              payloads,
              knownGlobalTail: seg.sealedTail!,
              repair: true,
            }),
          `copy to ${target}`,
        );
        if (r.status !== 'ok') throw new LogUnavailableError(`copy to ${target} of ${seg.logletId}: ${r.status}`);
        return payloads.length;
      }),
    );
    for (const n of stored) copied += n;
  }
  return copied;
}

/** Which nodes (of those that answer) hold each offset of [lo, hi). */
async function holdersOf(
  logletId: string,
  nodes: NodeId[],
  lo: bigint,
  hi: bigint,
  o: ReReplicateOptions,
): Promise<Map<bigint, NodeId[]>> {
  const out = new Map<bigint, NodeId[]>();
  await Promise.all(
    nodes.map(async (id) => {
      try {
        const d = await call(o, () => o.logServers(id).getDigest({ logletId, from: lo, to: hi }), `digest of ${id}`);
        for (const off of d.offsets) {
          const list = out.get(off) ?? [];
          list.push(id);
          out.set(off, list);
        }
      } catch {
        // unreachable (a failed node): the others' copies count
      }
    }),
  );
  return out;
}

/** The payloads of the offsets in `needed`, each read from one of its holders. */
async function fetchRecords(
  logletId: string,
  needed: Map<bigint, NodeId[]>,
  o: ReReplicateOptions,
): Promise<Map<bigint, Uint8Array>> {
  const got = new Map<bigint, Uint8Array>();
  for (let attempt = 0; attempt < 4 && got.size < needed.size; attempt++) {
    // Per source (the attempt-th holder of each offset still missing), one range read.
    const bySource = new Map<NodeId, bigint[]>();
    for (const [off, sources] of needed) {
      if (got.has(off) || attempt >= sources.length) continue;
      const src = sources[attempt]!;
      bySource.set(src, [...(bySource.get(src) ?? []), off]);
    }
    await Promise.all(
      [...bySource].map(async ([src, offs]) => {
        const want = new Set(offs);
        let at = offs[0]!;
        const end = offs.at(-1)! + 1n;
        try {
          while (at < end) {
            const r = await call(
              o,
              () => o.logServers(src).getRecords({ logletId, from: at, to: end, maxBytes: 4 << 20 }),
              `read from ${src}`,
            );
            for (const rec of r.records as StoredRecord[]) if (want.has(rec.offset)) got.set(rec.offset, rec.payload);
            if (r.next <= at) break;
            at = r.next;
          }
        } catch {
          // the next attempt asks another holder
        }
      }),
    );
  }
  for (const off of needed.keys())
    if (!got.has(off)) throw new LogUnavailableError(`offset ${off} of ${logletId}: none of its holders answered`);
  return got;
}

/** Consecutive runs of ascending offsets. */
function runs(offsets: bigint[]): bigint[][] {
  const out: bigint[][] = [];
  for (const off of offsets) {
    const last = out.at(-1);
    if (last && last.at(-1)! + 1n === off) last.push(off);
    else out.push([off]);
  }
  return out;
}

/** Writes `nodeset` into the chain's entry of `seg` (conditional, retried); false when the segment is gone or changed. */
async function replaceNodeset(
  logId: string,
  seg: Segment,
  nodeset: NodesetMember[],
  replication: ReplicationProperty,
  o: ReReplicateOptions,
): Promise<boolean> {
  for (;;) {
    const entry = await readChain(o.metadata, logId);
    if (!entry) return false;
    const i = entry.chain.segments.findIndex((s) => s.index === seg.index);
    const cur = entry.chain.segments[i];
    // Someone else changed this segment's nodeset meanwhile: the next round looks again.
    if (!cur || JSON.stringify(cur.nodeset) !== JSON.stringify(seg.nodeset)) return false;
    const segments = [...entry.chain.segments];
    segments[i] = { ...cur, nodeset, replication };
    try {
      await o.metadata.put(chainKey(logId), encodeChain({ ...entry.chain, segments }), {
        kind: 'matches-version',
        version: entry.version,
      });
      return true;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'precondition-failed') throw e;
    }
  }
}
