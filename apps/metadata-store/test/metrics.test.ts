import { afterAll, describe, expect, test } from '@jest/globals';
import { GrpcMetadataClient, Precondition } from '@stead/metadata';
import { Cleanup, freePort, httpOk, NODE, Proc, REPO, scrapeMetrics, waitFor } from '@stead/testing';

// A one-member metadata-store process serves its write figures on /metrics: every write it commits is timed.

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

describe('metadata-store metrics', () => {
  test('times each committed write and reports leadership, under its component and node labels', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const proc = new Proc('m1', NODE, [
      '--disable-warning=ExperimentalWarning',
      `${REPO}apps/metadata-store/src/main.ts`,
      '--node-id=m1',
      `--data-dir=${cleanup.tempDir('stead-md-metrics-')}`,
      '--bind-address=127.0.0.1',
      `--node-port=${port}`,
      `--metrics-port=${metricsPort}`,
      `--advertised-address=127.0.0.1:${port}`,
      '--cluster-name=metrics-test',
    ]);
    cleanup.add(() => proc.stop());
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    await waitFor(() => httpOk(`${metricsUrl}/ready`), { what: `ready\n${proc.output()}`, timeoutMs: 20_000 });
    const client = new GrpcMetadataClient({ addresses: [`127.0.0.1:${port}`] });
    cleanup.add(() => client.close());
    const before = (await scrapeMetrics(metricsUrl)).value('stead_metadata_commit_duration_seconds_count');
    const writes = 20;
    for (let i = 0; i < writes; i++) await client.put(`k${i}`, new TextEncoder().encode(`v${i}`));
    // A write whose precondition fails is committed (and timed) too.
    await expect(client.put('k0', new Uint8Array([1]), Precondition.doesNotExist)).rejects.toThrow(/precondition/);

    const m = await scrapeMetrics(metricsUrl);
    // (More only if the client sent a write again after a lost answer.)
    const timed = m.value('stead_metadata_commit_duration_seconds_count') - before;
    expect(timed).toBeGreaterThanOrEqual(writes + 1);
    expect(m.value('stead_metadata_commit_duration_seconds_bucket', { le: '+Inf' }) - before).toBe(timed);
    expect(m.value('stead_metadata_commit_duration_seconds_sum')).toBeGreaterThan(0);
    expect(m.value('stead_metadata_writes_total')).toBeGreaterThanOrEqual(writes + 1);
    expect(m.value('stead_metadata_is_leader')).toBe(1);
    expect(m.value('stead_process_resident_memory_bytes')).toBeGreaterThan(0);
    for (const sample of m.samples) expect(sample.labels).toMatchObject({ component: 'metadata-store', node: 'm1' });
  }, 60_000);
});
