import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import type { Bifrost } from '../src/bifrost/bifrost.ts';
import type { BifrostLoglet } from '../src/bifrost/bifrost-loglet.ts';
import { type LogRecord, LogSealedError, LogTrimmedError } from '../src/types.ts';
import { GrpcLogCluster } from './fixtures/grpc-log-cluster.ts';

// The virtual log as a Loglet over real gRPC servers on loopback (log servers on LevelDB, sequencers, an
// in-memory metadata store): reads, tail waits, the sequencer's ReadStream, and the fallbacks to log servers.

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Follows `loglet` from `from` like a partition processor (read, then wait for the tail) until `n` records. */
async function follow(loglet: BifrostLoglet, from: bigint, n: number, timeoutMs = 20_000): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  const deadline = AbortSignal.timeout(timeoutMs);
  let next = from;
  while (out.length < n) {
    const recs = await loglet.read(next, 256);
    if (recs.length === 0) {
      await loglet.waitForTail(next, deadline).catch((e: unknown) => {
        throw new Error(`follower stuck at ${next} after ${out.length} of ${n} records: ${String(e)}`);
      });
      continue;
    }
    for (const r of recs) {
      if (r.offset !== next) throw new Error(`read returned offset ${r.offset}, expected ${next}`);
      out.push(r);
      next++;
    }
  }
  return out;
}

/** The whole log [from, tail) read from log servers by another client. */
async function readBack(b: Bifrost, logId: string, from = 0n): Promise<string[]> {
  const tail = await b.tail(logId);
  const out: string[] = [];
  for (let at = from; at < tail; ) {
    const recs = await b.read(logId, at, 1000, tail);
    if (recs.length === 0) throw new Error(`nothing readable at ${at} below the tail ${tail}`);
    for (const r of recs) out.push(dec(r.payload));
    at = recs.at(-1)!.offset + 1n;
  }
  return out;
}

async function waitUntil(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const loglets: BifrostLoglet[] = [];
function track(l: BifrostLoglet): BifrostLoglet {
  loglets.push(l);
  return l;
}
afterEach(() => {
  for (const l of loglets.splice(0)) l.close();
});

describe('Bifrost as a Loglet', () => {
  let cluster: GrpcLogCluster;
  beforeAll(async () => {
    cluster = await GrpcLogCluster.start({ logServers: 3, sequencers: 2 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('append, read, tail and waitForTail across many records', async () => {
    const b = cluster.bifrost();
    await b.create('basic');
    const log = track(b.loglet('basic'));
    expect(await log.tail()).toBe(0n);
    expect(await log.read(0n)).toEqual([]);
    const waiting = log.waitForTail(0n);
    expect(await log.append([enc('r0'), enc('r1')])).toBe(0n);
    expect(await waiting).toBeGreaterThanOrEqual(2n);
    for (let i = 2; i < 600; i += 3) await log.append([enc(`r${i}`), enc(`r${i + 1}`), enc(`r${i + 2}`)]);
    expect(await log.tail()).toBe(602n);
    const all = await follow(log, 0n, 602);
    expect(all.map((r) => dec(r.payload))).toEqual(Array.from({ length: 602 }, (_, i) => `r${i}`));
    // Reads stop at the tail, honour the limit and start anywhere.
    expect((await log.read(600n, 10)).map((r) => r.offset)).toEqual([600n, 601n]);
    expect((await log.read(100n, 3)).map((r) => dec(r.payload))).toEqual(['r100', 'r101', 'r102']);
    expect(await log.read(602n)).toEqual([]);
    // Another client's loglet sees the same log.
    const other = track(cluster.bifrost().loglet('basic'));
    expect((await follow(other, 590n, 12)).map((r) => dec(r.payload))).toEqual(
      Array.from({ length: 12 }, (_, i) => `r${590 + i}`),
    );
    await expect(log.append([])).rejects.toThrow(TypeError);
  }, 30_000);

  test('a tailing reader sees every record once, in order, while a writer appends; mostly from the stream', async () => {
    const writer = cluster.bifrost();
    await writer.create('tailing');
    const reader = track(cluster.bifrost().loglet('tailing'));
    const n = 2_000;
    const following = follow(reader, 0n, n);
    const wlog = track(writer.loglet('tailing'));
    // Four producers, each appending in sequence.
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < n / 4; i++) await wlog.append([enc(`w${w}-${i}`)]);
      }),
    );
    const seen = (await following).map((r) => dec(r.payload));
    expect(seen).toEqual(await readBack(writer, 'tailing'));
    expect(new Set(seen).size).toBe(n);
    for (let w = 0; w < 4; w++) {
      const mine = seen.filter((s) => s.startsWith(`w${w}-`));
      expect(mine).toEqual(Array.from({ length: n / 4 }, (_, i) => `w${w}-${i}`));
    }
    expect(reader.stats.streamed).toBeGreaterThan(n / 2);
    expect(reader.stats.cacheReads).toBeGreaterThan(reader.stats.logServerReads);
  }, 60_000);

  test('waitForTail honours its signal', async () => {
    const b = cluster.bifrost();
    await b.create('abort');
    const log = track(b.loglet('abort'));
    await log.append([enc('x')]);
    // Already readable: resolves even with an aborted signal (as the local loglet does).
    const aborted = AbortSignal.abort(new Error('gone'));
    expect(await log.waitForTail(0n, aborted)).toBe(1n);
    await expect(log.waitForTail(1n, aborted)).rejects.toThrow('gone');
    const ac = new AbortController();
    const pending = log.waitForTail(5n, ac.signal);
    ac.abort(new Error('stop waiting'));
    await expect(pending).rejects.toThrow('stop waiting');
    // A later wait still works after the aborted one.
    const later = log.waitForTail(1n);
    await log.append([enc('y')]);
    expect(await later).toBe(2n);
    // Closing the loglet rejects waiters.
    const orphan = log.waitForTail(10n);
    log.close();
    await expect(orphan).rejects.toThrow(/closed/);
  }, 30_000);

  test('trim and seal', async () => {
    const b = cluster.bifrost();
    await b.create('trim-seal');
    const log = track(b.loglet('trim-seal'));
    for (let i = 0; i < 20; i++) await log.append([enc(`t${i}`)]);
    await log.trim(5n);
    await expect(log.read(4n)).rejects.toThrow(LogTrimmedError);
    expect((await log.read(5n, 2)).map((r) => dec(r.payload))).toEqual(['t5', 't6']);
    expect(await log.seal()).toBe(20n);
    expect(await log.seal()).toBe(20n);
    await expect(log.append([enc('late')])).rejects.toThrow(LogSealedError);
    await expect(b.append('trim-seal', [enc('late')])).rejects.toThrow(LogSealedError);
    expect(await log.tail()).toBe(20n);
    expect((await log.read(18n)).map((r) => dec(r.payload))).toEqual(['t18', 't19']);
  }, 30_000);
});

describe('Bifrost as a Loglet across sequencer failures', () => {
  let cluster: GrpcLogCluster;
  afterEach(async () => {
    await cluster?.stop();
  });

  test('the sequencer dies mid-stream: the reader continues on the new segment without gap or duplicate', async () => {
    cluster = await GrpcLogCluster.start({ logServers: 3, sequencers: 2 });
    const writer = cluster.bifrost();
    await writer.create('failover');
    const reader = track(cluster.bifrost().loglet('failover'));
    const acked: string[] = [];
    let stop = false;
    const writing = (async () => {
      for (let i = 0; !stop; i++) {
        await writer.append('failover', [enc(`a${i}`)]);
        acked.push(`a${i}`);
      }
    })();
    const first = follow(reader, 0n, 300);
    await waitUntil(() => acked.length >= 300, '300 appends');
    expect((await first).length).toBe(300);
    expect(reader.stats.streamed).toBeGreaterThan(0);
    const before = (await writer.chain('failover'))!.chain.segments.at(-1)!;
    await cluster.killSequencer(before.sequencer.id);
    await waitUntil(() => writer.stats.reconfigurations > 0 && acked.length >= 600, 'failover and 300 more appends');
    stop = true;
    await writing;
    const log = await readBack(writer, 'failover');
    const seen = (await follow(reader, 0n, log.length)).map((r) => dec(r.payload));
    expect(seen).toEqual(log);
    for (const a of acked) expect(log).toContain(a);
    const chain = (await writer.chain('failover', true))!.chain;
    expect(chain.segments.length).toBeGreaterThan(1);
    expect(chain.segments.at(-1)!.sequencer.id).not.toBe(before.sequencer.id);
    // It followed the new segment over the new sequencer's stream.
    expect(reader.stats.subscriptions).toBeGreaterThan(1);
    expect(reader.stats.streamEnds.closed + reader.stats.streamEnds.sealed).toBeGreaterThan(0);
  }, 60_000);

  test('a reconfiguration that leaves the old sequencer running is noticed through the chain', async () => {
    cluster = await GrpcLogCluster.start({ logServers: 3, sequencers: 2 });
    const writer = cluster.bifrost();
    await writer.create('moved');
    const reader = track(cluster.bifrost().loglet('moved', { chainCheckMs: 50 }));
    const following = follow(reader, 0n, 100);
    for (let i = 0; i < 50; i++) await writer.append('moved', [enc(`m${i}`)]);
    await waitUntil(() => reader.stats.streamed === 50, 'the first 50 records streamed');
    const old = (await writer.chain('moved'))!.chain.segments.at(-1)!;
    const other = [...cluster.sequencers.keys()].find((id) => id !== old.sequencer.id)!;
    await writer.reconfigure('moved', 'test move', {
      ...cluster.place(),
      sequencer: { id: other, instance: cluster.sequencers.get(other)!.host.instance },
    });
    for (let i = 50; i < 100; i++) await writer.append('moved', [enc(`m${i}`)]);
    const seen = (await following).map((r) => dec(r.payload));
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    // The old stream ended as sealed, and the new segment's records came over the new sequencer's stream.
    expect(reader.stats).toMatchObject({ streamEnds: { sealed: 1 }, subscriptions: 2 });
    await waitUntil(() => reader.stats.streamed === 100, 'the last 50 records streamed');
  }, 60_000);

  test('a writer that hosts the sequencer appends and follows in process; others follow it over gRPC; the log moves away and back', async () => {
    cluster = await GrpcLogCluster.start({
      logServers: 3,
      sequencers: 2,
      // A small window, so that the in-process reader's pause is exercised too.
      sequencer: { window: { maxBytes: 256 << 10, maxMessageBytes: 16 << 10 } },
    });
    const local = cluster.sequencers.get('seq1')!.host;
    let inProcess = 0;
    const writer = cluster.bifrost({
      sequencers: (ref) => {
        if (ref.id === local.id && ref.instance === local.instance) {
          inProcess++;
          return local;
        }
        return cluster.sequencers.get(ref.id)!.client;
      },
    });
    const here = { ...cluster.place(), sequencer: { id: local.id, instance: local.instance } };
    await writer.create('colocated', here);
    expect((await writer.chain('colocated'))!.chain.segments[0]!.sequencer.id).toBe('seq1');
    const mine = track(writer.loglet('colocated', { chainCheckMs: 50 }));
    const remote = track(cluster.bifrost().loglet('colocated', { chainCheckMs: 50 }));
    const payload = (i: number) => `${i}:${'y'.repeat(1024)}`;
    const n = 600;
    // Both follow from the start, like the partition's leader and a follower.
    const followingMine = follow(mine, 0n, n);
    const followingRemote = follow(remote, 0n, n);
    for (let i = 0; i < n / 2; i++) await mine.append([enc(payload(i))]);
    expect(inProcess).toBeGreaterThan(0);
    await waitUntil(() => mine.stats.streamed >= n / 2, 'the first half streamed in process');
    // Away to seq2 and back to this process: readers follow both moves without gap or duplicate.
    await writer.reconfigure('colocated', 'away', {
      ...here,
      sequencer: { id: 'seq2', instance: cluster.sequencers.get('seq2')!.host.instance },
    });
    for (let i = n / 2; i < (3 * n) / 4; i++) await mine.append([enc(payload(i))]);
    await writer.reconfigure('colocated', 'back', here);
    for (let i = (3 * n) / 4; i < n; i++) await mine.append([enc(payload(i))]);
    expect((await followingMine).map((r) => dec(r.payload))).toEqual(Array.from({ length: n }, (_, i) => payload(i)));
    expect((await followingRemote).map((r) => dec(r.payload))).toEqual(Array.from({ length: n }, (_, i) => payload(i)));
    expect((await writer.chain('colocated'))!.chain.segments.map((s) => s.sequencer.id)).toEqual([
      'seq1',
      'seq2',
      'seq1',
    ]);
  }, 60_000);

  test('the in-process read stream stops at a pause and goes on at resume', async () => {
    cluster = await GrpcLogCluster.start({
      logServers: 3,
      sequencers: 1,
      sequencer: { window: { maxBytes: 1 << 20, maxMessageBytes: 4 << 10 } },
    });
    const host = cluster.sequencers.get('seq1')!.host;
    const writer = cluster.bifrost();
    await writer.create('paused', cluster.place());
    const got: string[] = [];
    let ended = false;
    const stream = host.readStream('paused.0', 0n, {
      records: (_first, payloads) => {
        for (const p of payloads) got.push(dec(p));
      },
      end: () => {
        ended = true;
      },
    });
    const big = (i: number) => `${i}:${'z'.repeat(1024)}`;
    await writer.append('paused', [enc(big(0))]);
    await waitUntil(() => got.length === 1, 'the first record');
    stream.pause();
    // 20 records in one release: the window sends them in batches of 4 KiB; a paused stream takes one more.
    await writer.append(
      'paused',
      Array.from({ length: 20 }, (_, i) => enc(big(i + 1))),
    );
    await waitUntil(() => got.length > 1, 'one batch after the pause');
    const atPause = got.length;
    expect(atPause).toBeLessThan(21);
    await writer.append('paused', [enc(big(21))]);
    expect(await writer.tail('paused')).toBe(22n);
    expect(got.length).toBe(atPause);
    stream.resume();
    await waitUntil(() => got.length === 22, 'the rest after resume');
    expect(got).toEqual(Array.from({ length: 22 }, (_, i) => big(i)));
    stream.cancel();
    expect(ended).toBe(false);
  }, 30_000);

  test('a slow reader falls back to log servers and still sees every record once, in order', async () => {
    // A small window at the sequencer and a small cache at the reader: the reader's stream pauses, falls out of
    // the window, and is ended as too-slow; what it missed comes from log servers.
    cluster = await GrpcLogCluster.start({
      logServers: 3,
      sequencers: 1,
      sequencer: { window: { maxBytes: 256 << 10, maxMessageBytes: 16 << 10 } },
    });
    const writer = cluster.bifrost();
    await writer.create('slow');
    const reader = track(cluster.bifrost().loglet('slow', { cacheBytes: 64 << 10 }));
    await writer.append('slow', [enc('start')]);
    expect(await reader.waitForTail(0n)).toBeGreaterThan(0n);
    const n = 3_000;
    const payload = (i: number) => `${i}:${'x'.repeat(4096)}`;
    for (let i = 0; i < n; i += 10)
      await writer.append(
        'slow',
        Array.from({ length: 10 }, (_, j) => enc(payload(i + j))),
      );
    const seen = await follow(reader, 0n, n + 1, 30_000);
    expect(dec(seen[0]!.payload)).toBe('start');
    const mismatch = seen.slice(1).findIndex((r, i) => dec(r.payload) !== payload(i));
    expect(mismatch).toBe(-1);
    expect(reader.stats.streamEnds['too-slow'] + reader.stats.streamEnds['below-window']).toBeGreaterThan(0);
    expect(reader.stats.fetched + reader.stats.logServerReads).toBeGreaterThan(0);
  }, 60_000);
});
