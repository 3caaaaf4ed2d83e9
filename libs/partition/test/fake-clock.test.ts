/**
 * The partition leader reads time only through the Clock and Timers it is given: with a fake clock and fake
 * timers (below), a delayed invocation starts exactly when the fake clock reaches its execution time, and not a
 * millisecond earlier, without waiting real time for it (real log, real LevelDB).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { newInvocationId, partitionKeyOf } from '@stead/core';
import { LocalLogStore } from '@stead/log';
import { StorageEngine } from '@stead/storage';
import type { Clock, TimerHandle, Timers } from '../src/clock.ts';
import { ids } from '../src/engine.ts';
import { PartitionLeader } from '../src/leader.ts';
import { PartitionProcessor } from '../src/processor.ts';

/** Virtual time: timers fire only when `advanceTo` passes their due time, in due order. */
class FakeTime implements Clock, Timers {
  private nowMs: number;
  private nextId = 0;
  private readonly pending = new Map<number, { dueMs: number; fn: () => void }>();
  constructor(startMs: number) {
    this.nowMs = startMs;
  }
  now(): number {
    return this.nowMs;
  }
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = ++this.nextId;
    this.pending.set(id, { dueMs: this.nowMs + Math.max(0, delayMs), fn });
    return id;
  }
  clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle as number);
  }
  /** Due times of the armed timers. */
  get armed(): number[] {
    return [...this.pending.values()].map((t) => t.dueMs).sort((a, b) => a - b);
  }
  advanceTo(ms: number): void {
    for (;;) {
      let next: [number, { dueMs: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (e[1].dueMs <= ms && (!next || e[1].dueMs < next[1].dueMs)) next = e;
      if (!next) break;
      this.pending.delete(next[0]);
      this.nowMs = next[1].dueMs;
      next[1].fn();
    }
    this.nowMs = ms;
  }
}

/** Waits (real time, for the log and the store) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('the partition leader on a fake clock', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stead-fake-clock-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts a delayed invocation exactly when the fake clock reaches its execution time', async () => {
    const t0 = 1_700_000_000_000;
    const time = new FakeTime(t0);
    const log = await LocalLogStore.open(join(dir, 'log'));
    const storage = await StorageEngine.open(join(dir, 'partitions'));
    const store = storage.partition(0);
    const loglet = await log.loglet(0);
    const invoked: string[] = [];
    const processor = new PartitionProcessor({
      partitionId: 0,
      loglet,
      store,
      ...ids,
      clock: time,
      onFatal: (e) => {
        throw e;
      },
    });
    const leader = new PartitionLeader({
      processor,
      route: () => processor,
      respond: () => {},
      submitted: () => {},
      invoker: { invoke: (_l, id) => invoked.push(id), notify: () => {}, stop: () => {} },
      clock: time,
      timers: time,
      log: () => {},
    });
    try {
      await processor.start(1, leader);
      await processor.whenLeading();
      const id = newInvocationId(partitionKeyOf('d')).toString();
      const delayMs = 10 * 60_000; // far beyond any real wait of this test
      const applied = await processor.append({
        kind: 'Invoke',
        ts: t0,
        inv: {
          id,
          target: { service: 'Greeter', handler: 'greet' },
          input: Buffer.from('{}'),
          headers: [],
          executionTime: t0 + delayMs,
        },
      });
      await processor.waitApplied(applied);
      await until(() => time.armed.includes(t0 + delayMs), 'the leader to arm the timer');

      time.advanceTo(t0 + delayMs - 1);
      await new Promise((r) => setTimeout(r, 50));
      expect(invoked).toEqual([]);

      time.advanceTo(t0 + delayMs);
      await until(() => invoked.length > 0, 'the delayed invocation to start');
      expect(invoked).toEqual([id]);
      expect(time.now()).toBe(t0 + delayMs);
    } finally {
      await processor.close();
      await log.close();
      await storage.close();
    }
  }, 30_000);
});
