// Append → readable latency of the replicated log, as a partition leader sees it: N sequential appends through
// a Bifrost loglet, each timed from the append call until the record is readable (a) at the appender's own
// loglet (it follows the log, as the leader's processor does) and (b) at a follower in another client. Real
// processes on loopback: a metadata store, 3 log servers (every batch fsynced), 1 sequencer, replication 2.
// Then the pipelined case: pairs of appends 1 ms apart (a journal command, then the run's completion), timed from
// the second append call until it is acknowledged; with one call in flight per log it waits for the first.
// `npm run bench:tail -w @stead/benchmarks`   BENCH_APPENDS (default 1000)  BENCH_RECORD_BYTES (default 256)
//   BENCH_PAIRS (default 300)  BENCH_INFLIGHT (the appender's maxInflightAppends; Bifrost's default when unset)
import { LogCluster } from '@stead/testing/log-cluster';

const appends = Number(process.env.BENCH_APPENDS ?? 1000);
const recordBytes = Number(process.env.BENCH_RECORD_BYTES ?? 256);
const pairs = Number(process.env.BENCH_PAIRS ?? 300);
const inflight = process.env.BENCH_INFLIGHT ? { maxInflightAppends: Number(process.env.BENCH_INFLIGHT) } : {};

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(name: string, xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${name}: p50 ${pct(s, 50).toFixed(2)} ms, p90 ${pct(s, 90).toFixed(2)} ms, p99 ${pct(s, 99).toFixed(2)} ms, max ${s.at(-1)!.toFixed(2)} ms`;
}

/** Resolves once `offset` has been read from `loglet`, reading forward from `next` as a processor does. */
async function readUpTo(
  loglet: {
    read(from: bigint, limit?: number): Promise<{ offset: bigint }[]>;
    waitForTail(o: bigint): Promise<bigint>;
  },
  next: bigint,
  offset: bigint,
): Promise<bigint> {
  while (next <= offset) {
    const recs = await loglet.read(next, 256);
    if (recs.length === 0) await loglet.waitForTail(next);
    else next = recs.at(-1)!.offset + 1n;
  }
  return next;
}

const cluster = await LogCluster.start({ logServers: 3, sequencers: 1 });
try {
  const { bifrost } = cluster.bifrost({ scope: 'node', count: 2 }, inflight);
  const { bifrost: other } = cluster.bifrost({ scope: 'node', count: 2 });
  const logId = 'tail-latency';
  await bifrost.create(logId);
  const leader = bifrost.loglet(logId);
  const follower = other.loglet(logId);
  const payload = new Uint8Array(recordBytes).fill(0x61);
  // Warm-up: connections, sequencer adoption, streams.
  let leaderNext = 0n;
  let followerNext = 0n;
  for (let i = 0; i < 50; i++) {
    const o = await leader.append([payload]);
    leaderNext = await readUpTo(leader, leaderNext, o);
    followerNext = await readUpTo(follower, followerNext, o);
  }
  const appendMs: number[] = [];
  const ownMs: number[] = [];
  const otherMs: number[] = [];
  for (let i = 0; i < appends; i++) {
    const t = performance.now();
    const seen = new Promise<number>((resolve) => {
      void readUpTo(follower, followerNext, leaderNext).then((n) => {
        followerNext = n;
        resolve(performance.now());
      });
    });
    const o = await leader.append([payload]);
    appendMs.push(performance.now() - t);
    leaderNext = await readUpTo(leader, leaderNext, o);
    ownMs.push(performance.now() - t);
    otherMs.push((await seen) - t);
  }
  const secondMs: number[] = [];
  const pairMs: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const t0 = performance.now();
    const first = leader.append([payload]);
    await new Promise((r) => setTimeout(r, 1));
    const t1 = performance.now();
    await leader.append([payload]);
    const t2 = performance.now();
    secondMs.push(t2 - t1);
    pairMs.push(t2 - t0);
    await first;
  }
  process.stdout.write(
    `maxInflightAppends ${inflight.maxInflightAppends ?? 'default'}\n` +
      `${appends} sequential appends of ${recordBytes} B, 3 log servers (fsync), replication 2, loopback\n` +
      `${summary('append acknowledged          ', appendMs)}\n` +
      `${summary('readable at the appender      ', ownMs)}\n` +
      `${summary('readable at another client    ', otherMs)}\n` +
      `${pairs} pairs of appends 1 ms apart\n` +
      `${summary('second append acknowledged    ', secondMs)}\n` +
      `${summary('pair acknowledged (from first)', pairMs)}\n` +
      `appender's loglet: ${JSON.stringify(leader.stats)}\nother client's loglet: ${JSON.stringify(follower.stats)}\n`,
  );
  leader.close();
  follower.close();
} finally {
  await cluster.stop();
}
