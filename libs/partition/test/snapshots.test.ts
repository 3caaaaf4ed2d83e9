import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { LocalLogStore } from '@stead/log';
import { DirectorySnapshotRepository } from '@stead/snapshots';
import { waitFor } from '@stead/testing';
import { ids } from '../src/engine.ts';
import { type EffectSink, PartitionProcessor } from '../src/processor.ts';
import { PartitionSnapshots, storedAppliedOffset } from '../src/snapshots.ts';
import { PartitionReader } from '../src/state-machine.ts';
import { openPartitionStorage } from '../src/tables.ts';
import { invokeOn, tempDirPerTest } from './helpers.ts';

const sink: EffectSink = { activate: async () => {}, execute: () => {}, deactivate: async () => {} };
const quiet = () => {};

describe('partition snapshots', () => {
  const tempDir = tempDirPerTest('stead-snapshots-');

  /** One partition following (and leading) a log of `log`, with its store in `dir`. */
  async function replica(log: LocalLogStore, dir: string) {
    const storage = await openPartitionStorage(dir);
    const processor = new PartitionProcessor({
      partitionId: 0,
      loglet: await log.loglet(0),
      store: storage.partition(0),
      ...ids,
      onFatal: (err) => {
        throw err;
      },
    });
    return { storage, processor };
  }

  it('a replica with an empty store starts from the newest snapshot, after the log was trimmed below it', async () => {
    const log = await LocalLogStore.open(join(tempDir(), 'log'));
    const repository = new DirectorySnapshotRepository(join(tempDir(), 'snapshots'));
    const a = await replica(log, join(tempDir(), 'a'));
    await a.processor.start(1, sink);
    await a.processor.whenLeading();
    const snapshots = new PartitionSnapshots({
      repository,
      storage: a.storage,
      node: 'a',
      tmpDir: join(tempDir(), 'tmp-a'),
      intervalMs: 0,
      everyRecords: 50,
      retain: 2,
      led: () => [a.processor],
      log: quiet,
      checkEveryMs: 20,
    });
    snapshots.start();
    let last = 0n;
    // Three rounds of 60 records: the schedule takes a snapshot after each (50 records or more since the last).
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 60; i++) last = await a.processor.append(invokeOn(`k${round}-${i}`));
      await a.processor.waitApplied(last);
      const at = last;
      await waitFor(async () => BigInt((await snapshots.list([0]))[0]?.appliedOffset ?? -1) >= at, {
        what: `a snapshot at offset ${at}`,
        timeoutMs: 10_000,
      });
    }
    // The newest 2 kept.
    expect(await snapshots.list([0])).toHaveLength(2);
    const kept = await snapshots.list([0]);
    expect(snapshots.archivedOffset(0)).toBe(BigInt(kept[1]!.appliedOffset));
    // The log is trimmed as a cluster would: just above the oldest kept snapshot.
    const trimPoint = snapshots.archivedOffset(0)! + 1n;
    await (await log.loglet(0)).trim(trimPoint);
    await snapshots.close();

    // A new replica: empty store, log trimmed. It cannot replay from 0; it restores the newest snapshot.
    const b = await replica(log, join(tempDir(), 'b'));
    const bSnapshots = new PartitionSnapshots({
      repository,
      storage: b.storage,
      node: 'b',
      tmpDir: join(tempDir(), 'tmp-b'),
      intervalMs: 0,
      everyRecords: 0,
      retain: 2,
      led: () => [],
      log: quiet,
    });
    const restored = await bSnapshots.prepare(0, trimPoint);
    expect(restored?.appliedOffset).toBe(kept[0]!.appliedOffset);
    expect(await storedAppliedOffset(b.storage, 0)).toBe(BigInt(kept[0]!.appliedOffset));
    const follower = new PartitionProcessor({
      partitionId: 0,
      loglet: await log.loglet(0),
      store: b.storage.partition(0),
      ...ids,
      onFatal: (err) => {
        throw err;
      },
    });
    await follower.follow();
    await follower.waitApplied(last);
    // The same invocations as the replica that applied every record.
    const mine = (await new PartitionReader(follower.store).invocations()).map((i) => i.id).sort();
    const theirs = (await new PartitionReader(a.processor.store).invocations()).map((i) => i.id).sort();
    expect(mine).toHaveLength(180);
    expect(mine).toEqual(theirs);
    // A store that follows the log is kept as it is.
    expect(await bSnapshots.prepare(0, trimPoint)).toBeUndefined();
    await follower.close();
    await bSnapshots.close();
    await a.processor.close();
    await a.storage.close();
    await b.storage.close();
    await log.close();
  });

  it('refuses to start a replica the log cannot serve when no snapshot covers the trim point', async () => {
    const log = await LocalLogStore.open(join(tempDir(), 'log'));
    const storage = await openPartitionStorage(join(tempDir(), 'c'));
    const s = new PartitionSnapshots({
      repository: new DirectorySnapshotRepository(join(tempDir(), 'empty')),
      storage,
      node: 'c',
      tmpDir: join(tempDir(), 'tmp-c'),
      intervalMs: 0,
      everyRecords: 0,
      retain: 2,
      led: () => [],
      log: quiet,
    });
    await expect(s.prepare(0, 500n)).rejects.toThrow(/trimmed below offset 500.*no snapshot/);
    // Nothing trimmed: an empty store replays the log from 0.
    expect(await s.prepare(0, 0n)).toBeUndefined();
    await s.close();
    // A repository that cannot be read: a replica that can replay its log starts anyway; one that cannot waits.
    const notADir = join(tempDir(), 'a-file');
    writeFileSync(notADir, 'not a directory');
    const broken = new PartitionSnapshots({
      repository: new DirectorySnapshotRepository(notADir),
      storage,
      node: 'c',
      tmpDir: join(tempDir(), 'tmp-d'),
      intervalMs: 0,
      everyRecords: 0,
      retain: 2,
      led: () => [],
      log: quiet,
    });
    expect(await broken.prepare(0, 0n)).toBeUndefined();
    await expect(broken.prepare(0, 10n)).rejects.toThrow(/ENOTDIR/);
    await broken.close();
    await storage.close();
    await log.close();
  });
});
