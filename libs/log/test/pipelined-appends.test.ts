import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { checkExactlyOnce } from '@stead/log/sim';
import type { Bifrost, SequencerApi } from '../src/bifrost/bifrost.ts';
import { LogServerCore, MemoryLogServerStorage } from '../src/replicated/log-server-core.ts';
import { realTimers } from '../src/replicated/quorum.ts';
import { SequencerCore } from '../src/replicated/sequencer-core.ts';
import { LogOutOfOrderError } from '../src/replicated/types.ts';
import { GrpcLogCluster } from './fixtures/grpc-log-cluster.ts';

// Numbered sequencer calls over real gRPC (see SequencerCore.append and BifrostOptions.maxInflightAppends): a
// retried call is answered without a second copy, a call that skips ahead is refused, and a client with several
// calls in flight per log still has its appends land in the order it made them, across a sequencer's death.

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const tick = () => new Promise((r) => setImmediate(r));

async function readBack(b: Bifrost, logId: string): Promise<string[]> {
  const tail = await b.tail(logId);
  const out: string[] = [];
  for (let at = 0n; at < tail; ) {
    const recs = await b.read(logId, at, 1000, tail);
    if (recs.length === 0) throw new Error(`nothing readable at ${at} below the tail ${tail}`);
    for (const r of recs) out.push(dec(r.payload));
    at = recs.at(-1)!.offset + 1n;
  }
  return out;
}

/** First copies of `c0:<seq>:0` records, in log order, must have increasing seq. */
function firstCopiesInOrder(log: string[]): void {
  const seen = new Set<number>();
  let max = -1;
  for (const r of log) {
    const seq = Number(/^c0:(\d+):0$/.exec(r)?.[1] ?? -1);
    if (seq < 0 || seen.has(seq)) continue;
    seen.add(seq);
    expect(seq).toBeGreaterThan(max);
    max = seq;
  }
}

describe('numbered sequencer calls', () => {
  let cluster: GrpcLogCluster;
  beforeAll(async () => {
    cluster = await GrpcLogCluster.start({ logServers: 3, sequencers: 2 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('a repeated call returns its first offset and appends nothing; a call that skips ahead is refused', async () => {
    const b = cluster.bifrost();
    const seg = (await b.create('dup')).segments[0]!;
    const seq = cluster.sequencers.get(seg.sequencer.id)!.client;
    const call = (n: number, first = 1) => ({ producer: 'p1', seq: n, firstUnacked: first });
    const first = await seq.append(seg.logletId, [enc('x1'), enc('x2')], call(1));
    expect(await seq.tail(seg.logletId)).toBe(first + 2n);
    // The retry of call 1 (its answer was lost, say): same offset, nothing appended.
    expect(await seq.append(seg.logletId, [enc('x1'), enc('x2')], call(1))).toBe(first);
    expect(await seq.tail(seg.logletId)).toBe(first + 2n);
    // Call 3 before call 2: refused, nothing appended.
    await expect(seq.append(seg.logletId, [enc('x3')], call(3))).rejects.toBeInstanceOf(LogOutOfOrderError);
    await expect(seq.append(seg.logletId, [enc('x3')], call(3))).rejects.toThrow(
      /^out of order: call 3 .* before call 2/,
    );
    expect(await seq.tail(seg.logletId)).toBe(first + 2n);
    expect(await seq.append(seg.logletId, [enc('x2b')], call(2))).toBe(first + 2n);
    expect(await seq.append(seg.logletId, [enc('x3')], call(3, 2))).toBe(first + 3n);
    // Another producer is numbered on its own; its first call sets its baseline.
    expect(await seq.append(seg.logletId, [enc('q')], { producer: 'p2', seq: 7, firstUnacked: 7 })).toBe(first + 4n);
    // A producer that gave up on call 4 says so with firstUnacked: call 5 goes in, a late call 4 is refused.
    expect(await seq.append(seg.logletId, [enc('x5')], call(5, 5))).toBe(first + 5n);
    await expect(seq.append(seg.logletId, [enc('x4')], call(4, 4))).rejects.toBeInstanceOf(LogOutOfOrderError);
    expect(await readBack(b, 'dup')).toEqual(['x1', 'x2', 'x2b', 'x3', 'q', 'x5']);
  });

  test('pipelined appends of one client land in the order they were made', async () => {
    // Counts the calls in flight at once, to see that they really are pipelined.
    let inflight = 0;
    let maxInflight = 0;
    const b = cluster.bifrost({
      maxInflightAppends: 8,
      sequencers: (ref): SequencerApi => {
        const s = cluster.sequencers.get(ref.id)!.client;
        return {
          append: async (l, p, c) => {
            maxInflight = Math.max(maxInflight, ++inflight);
            try {
              return await s.append(l, p, c);
            } finally {
              inflight--;
            }
          },
          tail: (l) => s.tail(l),
        };
      },
    });
    await b.create('pipe');
    const pending: Array<Promise<bigint>> = [];
    for (let i = 0; i < 400; i++) {
      pending.push(b.append('pipe', [enc(`c0:${i}:0`)]));
      if (i % 3 === 0) await tick(); // several calls, not one batch
    }
    const offsets = await Promise.all(pending);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1]! + 1n);
    const log = await readBack(b, 'pipe');
    expect(log).toEqual(Array.from({ length: 400 }, (_, i) => `c0:${i}:0`));
    const core = cluster.sequencers
      .get((await b.chain('pipe'))!.chain.segments[0]!.sequencer.id)!
      .host.loglets()
      .find(([id]) => id.startsWith('pipe.'))![1];
    expect(core.stats.appends).toBeGreaterThan(1); // several calls (how many depends on timing)
    expect(maxInflight).toBeGreaterThan(1);
  });

  test('a sequencer killed with calls in flight: everything acknowledged is readable once, in order', async () => {
    const writer = cluster.bifrost({ maxInflightAppends: 8 });
    await writer.create('kill');
    const acks: Array<{ client: number; payloads: string[] }> = [];
    let stop = false;
    let n = 0;
    const writing = (async () => {
      const outstanding: Array<Promise<void>> = [];
      while (!stop) {
        const payloads = [`c0:${n}:0`, `c0:${n}:1`];
        n++;
        outstanding.push(
          writer.append('kill', payloads.map(enc)).then(
            () => void acks.push({ client: 0, payloads }),
            () => {}, // may or may not be in the log
          ),
        );
        if (outstanding.length >= 16) await outstanding.shift();
        await tick();
      }
      await Promise.all(outstanding);
    })();
    const until = async (cond: () => boolean, what: string) => {
      const deadline = Date.now() + 20_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await until(() => acks.length >= 300, '300 appends');
    const before = (await writer.chain('kill'))!.chain.segments.at(-1)!;
    await cluster.killSequencer(before.sequencer.id);
    await until(() => writer.stats.reconfigurations > 0 && acks.length >= 600, 'failover and 300 more appends');
    stop = true;
    await writing;
    const log = await readBack(writer, 'kill');
    expect(checkExactlyOnce(log, acks).violations).toEqual([]);
    firstCopiesInOrder(log);
    const chain = (await writer.chain('kill', true))!.chain;
    expect(chain.segments.length).toBeGreaterThan(1);
    await cluster.startSequencer(before.sequencer.id);
  }, 60_000);
});

describe('the producer table of a sequencer', () => {
  const core = (opts: { maxProducers?: number; producerIdleMs?: number }) => {
    const ls = new LogServerCore(new MemoryLogServerStorage());
    return new SequencerCore(
      { logletId: 'l.0', nodeset: [{ id: 'ls1' }], replication: { scope: 'node', count: 1 } },
      () => ls,
      { timers: realTimers, random: Math.random, ...opts },
    );
  };

  test('a forgotten producer starts again at its first unacknowledged call; older calls are refused', async () => {
    const s = core({ maxProducers: 1 });
    expect(await s.append([enc('a1')], { producer: 'a', seq: 1, firstUnacked: 1 })).toBe(0n);
    expect(await s.append([enc('b1')], { producer: 'b', seq: 1, firstUnacked: 1 })).toBe(1n); // forgets a
    // a's call 3 while it still waits for 2: refused (a is new to the loglet and starts at 2).
    await expect(s.append([enc('a3')], { producer: 'a', seq: 3, firstUnacked: 2 })).rejects.toBeInstanceOf(
      LogOutOfOrderError,
    );
    expect(await s.append([enc('a2')], { producer: 'a', seq: 2, firstUnacked: 2 })).toBe(2n);
    // A late copy of a's call 1 is below what a waits for and no longer remembered: refused, not appended.
    await expect(s.append([enc('a1')], { producer: 'a', seq: 1, firstUnacked: 1 })).rejects.toBeInstanceOf(
      LogOutOfOrderError,
    );
    expect(s.tail).toBe(3n);
    s.close();
  });

  test('unnumbered calls are sequenced as they arrive', async () => {
    const s = core({});
    expect(await Promise.all([s.append([enc('x')]), s.append([enc('y'), enc('z')])])).toEqual([0n, 1n]);
    expect(s.stats.duplicateCalls + s.stats.outOfOrderCalls).toBe(0);
    s.close();
  });
});
