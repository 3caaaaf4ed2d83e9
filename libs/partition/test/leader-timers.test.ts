import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { newInvocationId, partitionKeyOf } from '@stead/core';
import { LocalLogStore } from '@stead/log';
import { ids } from '../src/engine.ts';
import { PartitionLeader } from '../src/leader.ts';
import { decodeCommand, PartitionProcessor } from '../src/processor.ts';
import { openPartitionStorage, PartitionTables, timerKey } from '../src/tables.ts';
import type { TimerKey } from '../src/types.ts';
import { tempDirPerTest } from './helpers.ts';

describe('the partition leader pages timers', () => {
  const tempDir = tempDirPerTest('stead-leader-timers-');

  it('fires stored and new timers once each, in wake-time order, holding at most the bound in memory', async () => {
    const log = await LocalLogStore.open(join(tempDir(), 'log'));
    const storage = await openPartitionStorage(join(tempDir(), 'partitions'));
    const store = storage.partition(0);
    const tables = new PartitionTables(store);
    const now = Date.now();
    // Timers of a past run (their invocations are gone: firing one only removes it), most of them due.
    const due: TimerKey[] = [];
    for (let i = 0; i < 1500; i++)
      due.push({ wakeAt: now - 60_000 + i * 7, invocationId: `inv_old_${i}`, completionId: 1 });
    const later: TimerKey[] = [];
    for (let i = 0; i < 300; i++)
      later.push({ wakeAt: now + 3_600_000 + i, invocationId: `inv_later_${i}`, completionId: 1 });
    for (const t of [...later, ...due]) tables.putTimer(t);
    await store.commit();

    const loglet = await log.loglet(0);
    const invoked: string[] = [];
    const fatal: unknown[] = [];
    const processor = new PartitionProcessor({ partitionId: 0, loglet, store, ...ids, onFatal: (e) => fatal.push(e) });
    const max = 64;
    const leader = new PartitionLeader({
      processor,
      partitionOf: () => 0,
      deliver: (_p, cmds) => processor.appendMany(cmds),
      respond: () => {},
      submitted: () => {},
      invoker: { invoke: (_l, id) => invoked.push(id), notify: () => {}, stop: () => {}, stopLeader: () => {} },
      now: Date.now,
      log: () => {},
      maxTimersInMemory: max,
    });
    let inMemoryMax = 0;
    const sample = setInterval(() => {
      inMemoryMax = Math.max(inMemoryMax, leader.timerStats.inMemory);
    }, 1);
    try {
      await processor.start(1, leader);
      await processor.whenLeading();
      // A delayed invocation while leading: a new timer from a `timer` effect, due soon.
      const delayed = newInvocationId(partitionKeyOf('d')).toString();
      await processor.append({
        kind: 'Invoke',
        ts: Date.now(),
        inv: {
          id: delayed,
          target: { service: 'Greeter', handler: 'greet' },
          input: Buffer.from('{}'),
          headers: [],
          executionTime: Date.now() + 300,
        },
      });
      const deadline = Date.now() + 30_000;
      while (
        !invoked.includes(delayed) ||
        (await tables.timersAfter(undefined, 1))[0]?.timer.wakeAt !== later[0].wakeAt
      ) {
        if (Date.now() > deadline) throw new Error(`timers did not fire (invoked: ${invoked.length})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(fatal).toEqual([]);
      expect(invoked).toEqual([delayed]);

      const fired: string[] = [];
      for (const r of await loglet.read(0n, 100_000)) {
        const cmd = decodeCommand(r.payload);
        if (cmd.kind === 'TimerFired') fired.push(timerKey(cmd.timer));
      }
      const expected = due.map(timerKey);
      // Each stored timer fired once, in wake-time order, and the delayed invocation's timer once.
      expect(fired.filter((k) => !k.includes('inv_old_'))).toHaveLength(1);
      expect(fired.filter((k) => k.includes('inv_old_'))).toEqual(expected);
      expect(inMemoryMax).toBeLessThanOrEqual(max);
      expect(leader.timerStats.pages).toBeGreaterThan(1500 / max);
      // The later timers stay in the store; the leader holds only a window of them.
      expect((await tables.timersAfter(undefined, 1000)).length).toBe(300);
      expect(leader.timerStats.inMemory).toBeLessThanOrEqual(max);
    } finally {
      clearInterval(sample);
      await processor.close();
      await log.close();
      await storage.close();
    }
  }, 60_000);
});
