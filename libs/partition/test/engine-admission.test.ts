/**
 * Issue 10 on a real one-process engine (local loglet, LevelDB partition store, processor, leader): attach waiters
 * are bounded and taken back when their request goes away, and admission control refuses work for a partition
 * whose log is behind, before appending anything.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OverloadedError } from '@stead/core';
import { waitFor } from '@stead/testing';
import { Engine } from '../src/engine.ts';
import { MAX_SINKS_PER_INVOCATION, PartitionReader } from '../src/state-machine.ts';

const HOUR_MS = 3_600_000;

async function startEngine(dir: string, extra: { maxPartitionBacklog?: number } = {}): Promise<Engine> {
  let epoch = 0;
  return Engine.start({
    dataDir: dir,
    partitions: 1,
    schema: { service: () => undefined, deployment: () => undefined },
    epochs: { next: async () => ++epoch },
    log: () => {},
    onFatal: (err) => {
      throw err;
    },
    ...extra,
  });
}

describe('engine admission', () => {
  let dir: string;
  let engine: Engine | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stead-admission-'));
  });
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the engine under test (closed after the test). */
  async function start(extra: { maxPartitionBacklog?: number } = {}): Promise<Engine> {
    engine = await startEngine(dir, extra);
    return engine;
  }

  /** A delayed invocation: it waits on its timer, so attaches to it wait as long as the test wants. */
  async function scheduled(e: Engine): Promise<string> {
    const r = await e.send({
      target: { service: 'Later', handler: 'run' },
      body: new Uint8Array(),
      headers: [],
      delayMs: HOUR_MS,
    });
    return r.invocationId;
  }
  const sinkCount = async (e: Engine, id: string) =>
    (await new PartitionReader(e.processors[0].store).status(id))?.sinks.length;

  it('takes back the waiter of an attach whose request went away', async () => {
    const e = await start();
    const id = await scheduled(e);
    const gone = new AbortController();
    const kept = new AbortController();
    const a1 = e.attach({ invocationId: id }, 'attach', gone.signal);
    const a2 = e.attach({ invocationId: id }, 'attach', kept.signal);
    await waitFor(async () => (await sinkCount(e, id)) === 2, { what: 'two waiters' });
    gone.abort();
    await expect(a1).rejects.toBeDefined();
    await waitFor(async () => (await sinkCount(e, id)) === 1, { what: 'the aborted waiter to be dropped' });
    kept.abort();
    await expect(a2).rejects.toBeDefined();
    await waitFor(async () => (await sinkCount(e, id)) === 0, { what: 'no waiter left' });
  });

  it(`refuses attach number ${MAX_SINKS_PER_INVOCATION + 1} with 429 and appends nothing for it`, async () => {
    const e = await start();
    const id = await scheduled(e);
    const ac = new AbortController();
    const waiting = Array.from({ length: MAX_SINKS_PER_INVOCATION }, () =>
      e.attach({ invocationId: id }, 'attach', ac.signal),
    );
    for (const w of waiting) w.catch(() => {});
    await waitFor(async () => (await sinkCount(e, id)) === MAX_SINKS_PER_INVOCATION, {
      what: 'the waiters to be stored',
    });
    const tail = await e.processors[0].loglet.tail();
    const over = e.attach({ invocationId: id }, 'attach');
    await expect(over).rejects.toBeInstanceOf(OverloadedError);
    await expect(over).rejects.toMatchObject({ status: 429, retryAfterSeconds: 1 });
    expect(await e.processors[0].loglet.tail()).toBe(tail);
    expect(await sinkCount(e, id)).toBe(MAX_SINKS_PER_INVOCATION);
    ac.abort();
    await waitFor(async () => (await sinkCount(e, id)) === 0, { timeoutMs: 20_000, what: 'every waiter detached' });
  });

  it('refuses sends to a partition over its backlog with 503 before appending, and accepts them again later', async () => {
    const e = await start({ maxPartitionBacklog: 1 });
    const burst = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        e.send({
          target: { service: 'Later', handler: 'run', key: 'k' },
          body: Buffer.from(String(i)),
          headers: [],
          delayMs: HOUR_MS,
        }),
      ),
    );
    const refused = burst.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    const accepted = burst.filter((r) => r.status === 'fulfilled');
    expect(accepted.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const err of refused) {
      expect(err).toBeInstanceOf(OverloadedError);
      expect(err).toMatchObject({ status: 503, retryAfterSeconds: 1 });
    }
    // Only accepted sends reached the log: one record each after the leader's announcement.
    await waitFor(() => e.processors[0].backlog === 0, { what: 'the backlog to drain' });
    const announce = 1n;
    expect(await e.processors[0].loglet.tail()).toBe(announce + BigInt(accepted.length));
    // Once applied, the partition takes work again.
    await expect(scheduled(e)).resolves.toMatch(/^inv_1/);
  });
});
