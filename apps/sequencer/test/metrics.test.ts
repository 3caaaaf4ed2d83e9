import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Bifrost } from '@stead/log';
import { scrapeMetrics } from '@stead/testing';
import { LogCluster } from '@stead/testing/log-cluster';

// A sequencer process in a log cluster of real processes (a metadata store, two log servers): appends through
// the virtual log show on its /metrics (each append timed, each wave counted by its records), and on the log
// servers' (each store timed, records and bytes counted).

const LOG = 'metrics-log';
let cluster: LogCluster;
let bifrost: Bifrost;

beforeAll(async () => {
  cluster = await LogCluster.start({ logServers: 2, sequencers: 1 });
  ({ bifrost } = cluster.bifrost({ scope: 'node', count: 2 }));
  await bifrost.create(LOG);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
}, 60_000);

const metricsUrl = (m: { metricsPort: number }) => `http://127.0.0.1:${m.metricsPort}`;

describe('sequencer metrics', () => {
  test('appends are timed and their waves counted; the log servers time and count what they store', async () => {
    const payload = (i: number) => new TextEncoder().encode(`record-${String(i).padStart(4, '0')}`); // 11 bytes
    for (let i = 0; i < 20; i++) await bifrost.append(LOG, [payload(i)]);
    await Promise.all(Array.from({ length: 80 }, (_, i) => bifrost.append(LOG, [payload(20 + i)])));
    const records = 100;

    const seq = await scrapeMetrics(metricsUrl(cluster.sequencers.get('seq1')!));
    for (const s of seq.samples) expect(s.labels).toMatchObject({ component: 'sequencer', node: 'seq1' });
    // One append call per sequential append at least; concurrent ones may travel together.
    expect(seq.value('stead_log_append_duration_seconds_count')).toBeGreaterThanOrEqual(20);
    expect(seq.value('stead_log_append_duration_seconds_sum')).toBeGreaterThan(0);
    expect(seq.value('stead_log_append_batch_records_sum')).toBe(records);
    const waves = seq.value('stead_log_append_batch_records_count');
    expect(waves).toBeGreaterThanOrEqual(20);
    expect(waves).toBeLessThanOrEqual(records);
    expect(seq.value('stead_sequencer_records')).toBe(records);

    // Replication 2 over two log servers: each stores every record, once per wave (more if a store timed out
    // and was sent again).
    for (const [id, m] of cluster.logServers) {
      const ls = await scrapeMetrics(metricsUrl(m));
      for (const s of ls.samples) expect(s.labels).toMatchObject({ component: 'log-server', node: id });
      expect(ls.value('stead_log_server_records_total')).toBeGreaterThanOrEqual(records);
      expect(ls.value('stead_log_server_stored_bytes_total')).toBeGreaterThanOrEqual(records * 11);
      expect(ls.value('stead_log_server_store_duration_seconds_count')).toBeGreaterThanOrEqual(waves);
    }
  }, 60_000);
});
