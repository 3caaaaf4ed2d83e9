// Replicated log benchmark: append throughput and latency at replication 1, 2 and 3 with records of 256 B and
// 16 KiB, through the virtual log client → sequencer → 3 log servers (real processes on loopback, every log
// server batch fsynced). `npm run bench:log -w @stead/benchmarks`
//   BENCH_DURATION_MS (default 5000 per cell)  BENCH_CONCURRENCY (default 64 appenders)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { LogCluster } from '@stead/testing/log-cluster';

const duration = Number(process.env.BENCH_DURATION_MS ?? 5000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);
const sizes = [256, 16 * 1024];
const replications = [1, 2, 3];

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Cell {
  replication: number;
  recordBytes: number;
  appends: number;
  errors: number;
  appendsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

const cluster = await LogCluster.start({ logServers: 3, sequencers: 1 });
const cells: Cell[] = [];
try {
  for (const r of replications)
    for (const size of sizes) {
      const { bifrost } = cluster.bifrost({ scope: 'node', count: r });
      const log = `bench-r${r}-${size}`;
      await bifrost.create(log);
      const payload = new Uint8Array(size).fill(0x61);
      // Warm-up: connections, sequencer adoption.
      await Promise.all(Array.from({ length: concurrency }, () => bifrost.append(log, [payload])));
      const latencies: number[] = [];
      let errors = 0;
      const end = performance.now() + duration;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < end) {
            const t = performance.now();
            try {
              await bifrost.append(log, [payload]);
              latencies.push(performance.now() - t);
            } catch {
              errors++;
            }
          }
        }),
      );
      const secs = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      const cell: Cell = {
        replication: r,
        recordBytes: size,
        appends: latencies.length,
        errors,
        appendsPerSec: latencies.length / secs,
        mbPerSec: (latencies.length * size) / secs / 1e6,
        p50Ms: pct(latencies, 50),
        p99Ms: pct(latencies, 99),
      };
      cells.push(cell);
      process.stdout.write(
        `replication ${r}, ${size} B: ${cell.appendsPerSec.toFixed(0)} appends/s, ${cell.mbPerSec.toFixed(1)} MB/s, p50 ${cell.p50Ms.toFixed(2)} ms, p99 ${cell.p99Ms.toFixed(2)} ms, ${errors} errors\n`,
      );
    }
} finally {
  await cluster.stop();
}

const header = '| replication | record | appends/s | MB/s | p50 ms | p99 ms | errors |';
const rows = cells.map(
  (c) =>
    `| ${c.replication} | ${c.recordBytes >= 1024 ? `${c.recordBytes / 1024} KiB` : `${c.recordBytes} B`} | ${c.appendsPerSec.toFixed(0)} | ${c.mbPerSec.toFixed(1)} | ${c.p50Ms.toFixed(2)} | ${c.p99Ms.toFixed(2)} | ${c.errors} |`,
);
process.stdout.write(
  `\nreplicated log appends: 3 log servers, 1 sequencer, ${concurrency} concurrent appenders, ${duration} ms per cell\n${header}\n|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`,
);
const results = new URL('../results/', import.meta.url).pathname;
mkdirSync(results, { recursive: true });
const file = `${results}log-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(
  file,
  `${JSON.stringify({ benchmark: 'log-append', durationMs: duration, concurrency, cores: cpus().length, node: process.version, cells }, null, 2)}\n`,
);
process.stdout.write(`results: ${file}\n`);
