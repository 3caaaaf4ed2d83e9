// Metadata store benchmark: conditional-write throughput and latency for 1 and 3 members (real processes on
// loopback, fsync on). `npm run bench:metadata -w @stead/benchmarks`
//   BENCH_DURATION_MS (default 5000)  BENCH_CONCURRENCY (default 32)  BENCH_VALUE_BYTES (default 256)
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrpcMetadataClient, Precondition } from '@stead/metadata';

const NODE = process.execPath;
const MAIN = new URL('../../apps/metadata-store/src/main.ts', import.meta.url).pathname;
const duration = Number(process.env.BENCH_DURATION_MS ?? 5000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const valueBytes = Number(process.env.BENCH_VALUE_BYTES ?? 256);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function startCluster(size: number, root: string): Promise<{ addrs: string[]; procs: ChildProcess[] }> {
  const members: { id: string; port: number; metrics: number }[] = [];
  for (let i = 1; i <= size; i++) members.push({ id: String(i), port: await freePort(), metrics: await freePort() });
  const peers = members.map((m) => `${m.id}=127.0.0.1:${m.port}`).join(',');
  const procs = members.map((m) =>
    spawn(
      NODE,
      [
        '--disable-warning=ExperimentalWarning',
        MAIN,
        `--node-id=${m.id}`,
        `--peers=${peers}`,
        `--data-dir=${join(root, `m${size}-${m.id}`)}`,
        '--bind-address=127.0.0.1',
        `--node-port=${m.port}`,
        `--metrics-port=${m.metrics}`,
        `--advertised-address=127.0.0.1:${m.port}`,
        '--cluster-name=bench',
      ],
      { stdio: 'ignore' },
    ),
  );
  const end = Date.now() + 20_000;
  for (const m of members) {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${m.metrics}/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > end) throw new Error('cluster did not become ready');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { addrs: members.map((m) => `127.0.0.1:${m.port}`), procs };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function run(size: number, root: string) {
  const { addrs, procs } = await startCluster(size, root);
  try {
    const value = new Uint8Array(valueBytes).fill(7);
    const clients = Array.from(
      { length: Math.min(concurrency, 8) },
      () => new GrpcMetadataClient({ addresses: addrs }),
    );
    // warm up: create the keys
    const versions = await Promise.all(
      Array.from({ length: concurrency }, (_, i) =>
        clients[i % clients.length].put(`bench/${i}`, value, Precondition.doesNotExist),
      ),
    );
    const lat: number[] = [];
    let stop = false;
    let failures = 0;
    const t0 = performance.now();
    const workers = Array.from({ length: concurrency }, async (_, i) => {
      const c = clients[i % clients.length];
      let v = versions[i];
      while (!stop) {
        const s = performance.now();
        try {
          v = await c.put(`bench/${i}`, value, Precondition.matchesVersion(v));
          lat.push(performance.now() - s);
        } catch {
          failures++;
        }
      }
    });
    await new Promise((r) => setTimeout(r, duration));
    stop = true;
    await Promise.all(workers);
    const secs = (performance.now() - t0) / 1000;
    for (const c of clients) await c.close();
    lat.sort((a, b) => a - b);
    return {
      members: size,
      writes: lat.length,
      failures,
      throughput: lat.length / secs,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
    };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
}

const root = mkdtempSync(join(tmpdir(), 'stead-md-bench-'));
try {
  console.log(
    `metadata store: conditional writes (put matches-version), ${concurrency} concurrent writers, ${valueBytes}-byte values, ${duration} ms per run`,
  );
  const rows = [];
  for (const size of [1, 3]) rows.push(await run(size, root));
  console.log('members  writes/s   p50 ms   p99 ms   writes  failures');
  for (const r of rows) {
    console.log(
      `${String(r.members).padStart(7)}  ${r.throughput.toFixed(0).padStart(8)}  ${r.p50.toFixed(2).padStart(7)}  ${r.p99.toFixed(2).padStart(7)}  ${String(r.writes).padStart(7)}  ${String(r.failures).padStart(8)}`,
    );
  }
  console.log(
    JSON.stringify({
      benchmark: 'metadata-conditional-writes',
      concurrency,
      valueBytes,
      durationMs: duration,
      results: rows,
    }),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
