import { describe, expect, it } from '@jest/globals';
import { CLUSTER_KEYS, encodePartitionTable, type PartitionTable, PartitionTableWatcher } from '@stead/controller';
import { SimClock, SimMetadataStore } from '@stead/testing/sim';

const table = (leader: string, epoch: number): PartitionTable => ({
  partitions: 1,
  replication: 1,
  placements: [{ partition: 0, replicas: [leader], leader, epoch }],
  controllerTerm: 1,
  controller: 'admin',
});

describe('PartitionTableWatcher', () => {
  it('follows the table, skips a value that does not decode, and catches up after a cut', async () => {
    const clock = new SimClock(0);
    const store = new SimMetadataStore({ clock, latencyMs: 3 });
    const writer = store.client('writer');
    const client = store.client('watcher');
    const logged: string[] = [];
    const watcher = PartitionTableWatcher.start({
      client,
      pollMs: 1_000,
      timers: clock,
      log: (level, msg) => logged.push(`${level}: ${msg}`),
    });
    const put = async (bytes: Uint8Array) => {
      const p = writer.put(CLUSTER_KEYS.partitionTable, bytes);
      await clock.runAsync(clock.now() + 20);
      return p;
    };
    const versions: number[] = [];
    watcher.onChange((t) => versions.push(t.version));
    const first = watcher.next();
    await clock.runAsync(clock.now() + 50);
    expect(watcher.current()).toBeUndefined();

    const v1 = await put(encodePartitionTable(table('w1', 1)));
    expect((await first).version).toBe(v1);
    expect(watcher.current()?.value.placements[0].leader).toBe('w1');

    await put(new Uint8Array([0xff, 0x01]));
    expect(watcher.current()?.version).toBe(v1);
    expect(logged.some((l) => l.startsWith('error: ignoring a partition table'))).toBe(true);

    client.down = true;
    await put(encodePartitionTable(table('w2', 2)));
    const v4 = await put(encodePartitionTable(table('w3', 3)));
    await clock.runAsync(clock.now() + 2_500);
    expect(watcher.current()?.version).toBe(v1);
    client.down = false;
    await clock.runAsync(clock.now() + 50);
    expect(watcher.current()?.version).toBe(v4);
    expect(watcher.current()?.value.placements[0]).toEqual({ partition: 0, replicas: ['w3'], leader: 'w3', epoch: 3 });
    expect(versions).toEqual([v1, v4]);

    watcher.close();
    await expect(watcher.next(v4)).rejects.toThrow(/closed/);
    expect(clock.pending).toBe(0);
  });
});
