/**
 * What the write paths report to their metrics sinks: a sequencer one batch per wave and one duration per
 * append; a log server one duration per durable Store and its record and byte counts; the local log store one
 * batch per synced write and one duration per append.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import type { AppendMetrics } from '../src/append-metrics.ts';
import { LocalLogStore } from '../src/local/local-log-store.ts';
import { LogServerCore, MemoryLogServerStorage } from '../src/replicated/log-server-core.ts';
import type { Timers } from '../src/replicated/quorum.ts';
import { SequencerCore } from '../src/replicated/sequencer-core.ts';

/** An AppendMetrics that keeps what it is told. */
function recording(): AppendMetrics & { batches: number[]; durations: number[] } {
  const batches: number[] = [];
  const durations: number[] = [];
  return { batches, durations, batch: (n) => batches.push(n), appended: (s) => durations.push(s) };
}

const still: Timers = { now: () => 0, after: () => () => {} };
const payload = (i: number) => new Uint8Array([i, i, i]);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('append and store metrics', () => {
  test('a sequencer reports each wave and each acknowledged append; its log servers each durable store', async () => {
    const metrics = recording();
    const stored: number[] = [];
    const cores = new Map(
      ['a', 'b'].map((id) => [
        id,
        new LogServerCore(new MemoryLogServerStorage(), { metrics: { stored: (s) => stored.push(s) } }),
      ]),
    );
    const seq = new SequencerCore(
      { logletId: 'l.0', nodeset: [{ id: 'a' }, { id: 'b' }], replication: { scope: 'node', count: 2 } },
      (node) => cores.get(node)!,
      { timers: still, random: () => 0.5, metrics },
    );
    // Appends of one turn leave in one wave.
    await Promise.all(Array.from({ length: 5 }, (_, i) => seq.append([payload(i)])));
    await seq.append([payload(5), payload(6)]);
    expect(metrics.batches).toEqual([5, 2]);
    expect(metrics.durations).toHaveLength(6);
    for (const s of metrics.durations) expect(s).toBeGreaterThanOrEqual(0);
    // Both log servers stored both waves: 7 records of 3 bytes each.
    expect(stored).toHaveLength(4);
    for (const core of cores.values()) expect(core.stats).toMatchObject({ stores: 2, records: 7, bytes: 21 });
  });

  test('the local log store reports each synced batch and each acknowledged append', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stead-log-metrics-'));
    dirs.push(dir);
    const metrics = recording();
    const store = await LocalLogStore.open(dir, { metrics });
    try {
      const log = await store.loglet(0);
      await Promise.all(Array.from({ length: 10 }, (_, i) => log.append([payload(i)])));
      expect(metrics.batches.reduce((a, b) => a + b, 0)).toBe(10);
      expect(metrics.durations).toHaveLength(10);
      expect(metrics.batches.length).toBe(store.stats().flushes);
    } finally {
      await store.close();
    }
  });
});
