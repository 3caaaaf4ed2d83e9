/**
 * The one-process engine handing its logs and stores over (the server growing into a cluster): after `handOver`
 * every log is sealed at a tail the partition store has applied, and nothing can be appended to it any more.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalLogStore, LogSealedError } from '@stead/log';
import { Engine } from '../src/engine.ts';
import { openPartitionStorage, PartitionTables } from '../src/tables.ts';

const HOUR_MS = 3_600_000;

describe('engine hand-over', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stead-hand-over-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('seals every log at a tail its partition applied, and closes', async () => {
    let epoch = 0;
    const engine = await Engine.start({
      dataDir: dir,
      partitions: 2,
      schema: { service: () => undefined, deployment: () => undefined },
      epochs: { next: async () => ++epoch },
      log: () => {},
      onFatal: (err) => {
        throw err;
      },
    });
    for (let i = 0; i < 5; i++)
      await engine.send({
        target: { service: 'Later', handler: 'run' },
        body: new Uint8Array(),
        headers: [],
        delayMs: HOUR_MS,
      });
    expect(engine.logTrimPoints).toEqual([0n, 0n]);
    const tails = await engine.handOver();
    expect(tails.reduce((a, b) => a + b, 0n)).toBeGreaterThanOrEqual(7n); // two announcements, five sends
    const logs = await LocalLogStore.open(join(dir, 'log'));
    const storage = await openPartitionStorage(join(dir, 'partitions'), { partitions: 2 });
    try {
      for (const [p, tail] of tails.entries()) {
        const log = await logs.loglet(p);
        expect(await log.tail()).toBe(tail);
        await expect(log.append([new Uint8Array([1])])).rejects.toBeInstanceOf(LogSealedError);
        expect(await new PartitionTables(storage.partition(p, 1 << 20)).appliedOffset()).toBe(tail - 1n);
      }
    } finally {
      await storage.close();
      await logs.close();
    }
  });
});
