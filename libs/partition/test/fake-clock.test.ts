import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { newInvocationId, partitionKeyOf, RESTATE_INVOCATION_DEFAULTS } from '@stead/core';
import type { InvocationStreamClient } from '@stead/invoker';
import { LocalLogStore } from '@stead/log';
import type { Clock, TimerHandle, Timers } from '../src/clock.ts';
import { ids } from '../src/engine.ts';
import { InvokerDriver } from '../src/invoker-driver.ts';
import { PartitionLeader } from '../src/leader.ts';
import { PartitionProcessor } from '../src/processor.ts';
import { openPartitionStorage } from '../src/tables.ts';
import type { InvocationStatus } from '../src/types.ts';
import { oneServiceSchema, tempDirPerTest } from './helpers.ts';

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
  const tempDir = tempDirPerTest('stead-fake-clock-');

  it('starts a delayed invocation exactly when the fake clock reaches its execution time', async () => {
    const t0 = 1_700_000_000_000;
    const time = new FakeTime(t0);
    const log = await LocalLogStore.open(join(tempDir(), 'log'));
    const storage = await openPartitionStorage(join(tempDir(), 'partitions'));
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
      partitionOf: () => 0,
      deliver: (_p, cmds) => processor.appendMany(cmds),
      respond: () => {},
      submitted: () => {},
      invoker: { invoke: (_l, id) => invoked.push(id), notify: () => {}, stop: () => {}, stopLeader: () => {} },
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

describe('the invoker driver on a fake clock', () => {
  /** A deployment that never answers: each stream stays silent until the attempt aborts it. */
  function silentClient(streams: { ended: boolean; aborted: AbortSignal }[]): InvocationStreamClient {
    return {
      open(o: { signal: AbortSignal }) {
        const s = { ended: false, aborted: o.signal };
        streams.push(s);
        const gone = new Promise<void>((resolve) => o.signal.addEventListener('abort', () => resolve()));
        return {
          write() {},
          end() {
            s.ended = true;
          },
          close() {},
          frames: async function* (): AsyncGenerator<never> {
            await gone;
            yield* [];
          },
        };
      },
    } as unknown as InvocationStreamClient;
  }

  it('asks a silent endpoint to suspend, aborts it, and retries after the backoff, each on the fake clock', async () => {
    const t0 = 1_700_000_000_000;
    const time = new FakeTime(t0);
    const id = newInvocationId(1n).toString();
    const status: InvocationStatus = {
      id,
      target: { service: 'S', handler: 'h' },
      phase: 'invoked',
      attempt: 1,
      createdAt: t0,
      modifiedAt: t0,
      journalLength: 0,
      deploymentId: 'dp_1',
      protocolVersion: 5,
      sinks: [],
      arrived: { completions: [], signals: [], names: [] },
    };
    const leader = {
      epoch: 1,
      processor: { append: async () => 0n, waitApplied: async () => {} },
      reader: { status: async () => status, journal: async () => [], stateOf: async () => [] },
    } as unknown as PartitionLeader;
    const schema = oneServiceSchema();
    const streams: { ended: boolean; aborted: AbortSignal }[] = [];
    const inactivityMs = 60_000;
    const abortMs = 600_000;
    const backoffMs = 5_000;
    const driver = new InvokerDriver({
      schema,
      client: silentClient(streams),
      defaults: {
        ...RESTATE_INVOCATION_DEFAULTS,
        inactivityTimeoutMs: inactivityMs,
        abortTimeoutMs: abortMs,
        retry: { ...RESTATE_INVOCATION_DEFAULTS.retry, initialIntervalMs: backoffMs },
      },
      minProtocolVersion: 5,
      maxProtocolVersion: 5,
      clock: time,
      timers: time,
      log: () => {},
    });
    try {
      driver.invoke(leader, id);
      await until(() => streams.length === 1 && time.armed.includes(t0 + inactivityMs), 'the first attempt');

      time.advanceTo(t0 + inactivityMs - 1);
      expect(streams[0].ended).toBe(false);
      time.advanceTo(t0 + inactivityMs);
      expect(streams[0].ended).toBe(true); // asked to suspend
      expect(streams[0].aborted.aborted).toBe(false);

      const abortAt = t0 + inactivityMs + abortMs;
      time.advanceTo(abortAt - 1);
      expect(streams[0].aborted.aborted).toBe(false);
      time.advanceTo(abortAt);
      expect(streams[0].aborted.aborted).toBe(true);

      // The attempt failed: the retry waits out its backoff on the fake clock.
      await until(() => time.armed.includes(abortAt + backoffMs), 'the retry backoff to be armed');
      time.advanceTo(abortAt + backoffMs - 1);
      await new Promise((r) => setTimeout(r, 20));
      expect(streams).toHaveLength(1);
      time.advanceTo(abortAt + backoffMs);
      await until(() => streams.length === 2, 'the retry to open a new stream');
    } finally {
      driver.stopAll();
    }
  });
});
