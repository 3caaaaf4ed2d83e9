import { afterAll, describe, expect, test } from '@jest/globals';
import { GrpcLogServerClient } from '@stead/log';
import { Cleanup, freePort, httpOk, NODE, Proc, REPO, scrapeMetrics, waitFor } from '@stead/testing';

// The log-server process: data survives kill -9; a data dir of another node, or a port in use, stops it with a
// non-zero exit and the reason.

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

async function start(dir: string, nodeId: string, port: number, metricsPort: number): Promise<Proc> {
  const p = new Proc(nodeId, NODE, [
    '--disable-warning=ExperimentalWarning',
    `${REPO}apps/log-server/src/main.ts`,
    `--node-id=${nodeId}`,
    '--cluster-name=app-test',
    `--data-dir=${dir}`,
    '--bind-address=127.0.0.1',
    `--node-port=${port}`,
    `--metrics-port=${metricsPort}`,
  ]);
  cleanup.add(() => p.stop());
  return p;
}

describe('log-server process', () => {
  test('records and seal survive kill -9; a foreign data dir is refused', async () => {
    const dir = cleanup.tempDir('stead-ls-app-');
    const port = await freePort();
    const metricsPort = await freePort();
    let p = await start(dir, 'ls1', port, metricsPort);
    await waitFor(() => httpOk(`http://127.0.0.1:${metricsPort}/ready`), {
      what: `ready\n${p.output()}`,
      timeoutMs: 20_000,
    });
    let client = new GrpcLogServerClient(`127.0.0.1:${port}`);
    const payloads = Array.from({ length: 100 }, (_, i) => new TextEncoder().encode(`r${i}`));
    const res = await Promise.all(
      payloads.map((pl, i) =>
        client.store({ logletId: 'l.0', firstOffset: BigInt(i), payloads: [pl], knownGlobalTail: 0n }),
      ),
    );
    expect(res.every((r) => r.status === 'ok')).toBe(true);
    await client.seal({ logletId: 'l.0' });
    const metrics = await scrapeMetrics(`http://127.0.0.1:${metricsPort}`);
    expect(metrics.value('stead_log_server_stores')).toBe(100);
    expect(metrics.value('stead_log_server_records_total')).toBe(100);
    // r0 … r9 are 2 bytes, r10 … r99 are 3.
    expect(metrics.value('stead_log_server_stored_bytes_total')).toBe(10 * 2 + 90 * 3);
    expect(metrics.value('stead_log_server_store_duration_seconds_count')).toBe(100);
    expect(metrics.value('stead_log_server_store_duration_seconds_bucket', { le: '+Inf' })).toBe(100);
    // Every series carries the process's role and node id.
    for (const sample of metrics.samples) expect(sample.labels).toMatchObject({ component: 'log-server', node: 'ls1' });
    client.close();
    p.kill('SIGKILL');
    await p.exited;

    p = await start(dir, 'ls1', port, metricsPort);
    await waitFor(() => httpOk(`http://127.0.0.1:${metricsPort}/ready`), {
      what: `ready again\n${p.output()}`,
      timeoutMs: 20_000,
    });
    client = new GrpcLogServerClient(`127.0.0.1:${port}`);
    const back = await client.getRecords({ logletId: 'l.0', from: 0n, to: 200n });
    expect(back.records.length).toBe(100);
    expect(back.sealed).toBe(true);
    expect(
      (await client.store({ logletId: 'l.0', firstOffset: 100n, payloads: [payloads[0]!], knownGlobalTail: 0n }))
        .status,
    ).toBe('sealed');
    client.close();

    // Another process on the same port: refused with the reason.
    const busy = await start(cleanup.tempDir('stead-ls-app-'), 'ls3', port, await freePort());
    expect(await busy.exited).toBe(1);
    expect(busy.output()).toMatch(/cannot serve gRPC on 127.0.0.1:\d+/);
    await p.stop();

    const foreign = await start(dir, 'ls2', await freePort(), await freePort());
    expect(await foreign.exited).toBe(1);
    expect(foreign.output()).toMatch(/belongs to log server 'ls1' of cluster 'app-test', not to 'ls2'/);
  }, 60_000);
});
