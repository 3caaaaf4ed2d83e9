/**
 * Effects are fenced by attempt, not only by leader epoch: once an invocation is paused (or suspended, or
 * cancelled while paused) and started again, what the stopped attempt's stream still sends is dropped.
 */
import type { PartitionReader, PartitionStateMachine } from '../src/state-machine.ts';
import type { Command, InvokerEffect } from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';

describe('attempt fencing', () => {
  let p: TestPartition;
  let sm: PartitionStateMachine;
  let reader: PartitionReader;

  beforeEach(async () => {
    p = await openTestPartition('stead-fencing-');
    ({ sm, reader } = p);
  });
  afterEach(() => p.close());

  const run = (attempt: number | undefined, completionId: number): Command => {
    const effect: InvokerEffect = { kind: 'runCompletion', completionId, value: Buffer.from('"x"') };
    return { kind: 'Effect', ts: 3000, epoch: 1, invocationId: 'a', effect, attempt };
  };
  const control = (op: 'pause' | 'resume'): Command => ({ kind: 'Control', ts: 2500, invocationId: 'a', op });
  const journalLength = async () => (await reader.status('a'))!.journalLength;

  it('drops the effects of the attempt that a pause stopped once the invocation is resumed', async () => {
    const started = await sm.apply({
      kind: 'Invoke',
      ts: 1000,
      inv: { id: 'a', target: { service: 'S', handler: 'h' }, input: Buffer.from('1'), headers: [] },
    });
    expect(started).toContainEqual({ kind: 'invoke', invocationId: 'a' });
    const first = (await reader.status('a'))!.attempt;
    expect(first).toBe(1);
    await sm.apply(run(first, 1));
    expect(await journalLength()).toBe(2); // input + run completion

    await sm.apply(control('pause'));
    const resumed = await sm.apply(control('resume'));
    expect(resumed).toContainEqual({ kind: 'invoke', invocationId: 'a' });
    const second = (await reader.status('a'))!.attempt;
    expect(second).toBe(2);

    await sm.apply(run(first, 2)); // late, from the paused attempt's stream
    expect(await journalLength()).toBe(2);
    await sm.apply(run(second, 2));
    expect(await journalLength()).toBe(3);
  });

  it('starts a new attempt when a suspension is answered at once, and fences the one that suspended', async () => {
    await sm.apply({
      kind: 'Invoke',
      ts: 1000,
      inv: { id: 'a', target: { service: 'S', handler: 'h' }, input: Buffer.from('1'), headers: [] },
    });
    await sm.apply(run(1, 7)); // completion 7 arrives, then the SDK (not yet knowing) suspends on it
    const woke = await sm.apply({
      kind: 'Effect',
      ts: 3100,
      epoch: 1,
      invocationId: 'a',
      attempt: 1,
      effect: { kind: 'suspend', waiting: { completions: [7], signals: [], names: [] } },
    });
    expect(woke).toContainEqual({ kind: 'invoke', invocationId: 'a' });
    expect((await reader.status('a'))!.attempt).toBe(2);
    await sm.apply(run(1, 8));
    expect(await journalLength()).toBe(2);
  });
});
