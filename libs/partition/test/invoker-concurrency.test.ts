/**
 * Issue 10: the invoker driver runs at most `maxConcurrent` attempts; the others wait in one FIFO queue. The
 * deployment is a scripted transport (each opened stream stays open until the test ends it), so the test decides
 * when a slot frees; the e2e test (e2e/test/admission.test.ts) does the same through a real server and SDK.
 */

import { newInvocationId, RESTATE_INVOCATION_DEFAULTS } from '@stead/core';
import type { InvocationStreamClient } from '@stead/invoker';
import { waitFor } from '@stead/testing';
import { InvokerDriver } from '../src/invoker-driver.ts';
import type { PartitionLeader } from '../src/leader.ts';
import type { InvocationStatus } from '../src/types.ts';
import { oneServiceSchema } from './helpers.ts';

interface OpenStream {
  /** The invocation (the fake status puts its id in the handler name). */
  id: string;
  /** Ends the stream without End: the attempt fails and is retried. */
  drop(): void;
  aborted: AbortSignal;
}

function scriptedClient(opened: OpenStream[]): InvocationStreamClient {
  return {
    open(o: { handler: string; signal?: AbortSignal }) {
      const ended = Promise.withResolvers<void>();
      o.signal?.addEventListener('abort', () => ended.resolve());
      opened.push({ id: o.handler, drop: () => ended.resolve(), aborted: o.signal ?? new AbortController().signal });
      return {
        write() {},
        end() {},
        close() {},
        /** No frame until the stream ends: the attempt holds its slot meanwhile. */
        frames: async function* (): AsyncGenerator<never> {
          await ended.promise;
          yield* [];
        },
      };
    },
    close() {},
  } as unknown as InvocationStreamClient;
}

/** Invocation ids by short name, and back (the fake status puts the name in the handler). */
const NAMES = ['a', 'b', 'c', 'd', 'e'];
const ID = Object.fromEntries(NAMES.map((n) => [n, newInvocationId(1n).toString()]));
const NAME = Object.fromEntries(NAMES.map((n) => [ID[n], n]));

describe('invoker concurrency limit', () => {
  const finished = new Set<string>();
  const leader = {
    epoch: 1,
    processor: { append: async () => 0n, waitApplied: async () => {} },
    reader: {
      // A finished invocation is no longer 'invoked': its next attempt ends at once without a stream.
      status: async (id: string): Promise<InvocationStatus> => ({
        id,
        target: { service: 'S', handler: NAME[id] },
        phase: finished.has(NAME[id]) ? 'completed' : 'invoked',
        attempt: 1,
        createdAt: 0,
        modifiedAt: 0,
        journalLength: 0,
        deploymentId: 'dp_1',
        protocolVersion: 5,
        sinks: [],
        arrived: { completions: [], signals: [], names: [] },
      }),
      journal: async () => [],
      stateOf: async () => [],
    },
  } as unknown as PartitionLeader;
  const schema = oneServiceSchema();

  let driver: InvokerDriver;
  let opened: OpenStream[];
  beforeEach(() => {
    finished.clear();
    opened = [];
    driver = new InvokerDriver({
      schema,
      client: scriptedClient(opened),
      defaults: {
        ...RESTATE_INVOCATION_DEFAULTS,
        retry: { ...RESTATE_INVOCATION_DEFAULTS.retry, initialIntervalMs: 1 },
      },
      minProtocolVersion: 5,
      maxProtocolVersion: 5,
      maxConcurrent: 2,
      now: Date.now,
      log: () => {},
    });
  });
  afterEach(() => driver.stopAll());

  const ids = () => opened.map((s) => s.id);
  const streamOf = (id: string) => opened.findLast((s) => s.id === id)!;
  /** Lets the invocation's attempt end: its stream drops and the retry finds it finished. */
  const finish = (id: string) => {
    finished.add(id);
    streamOf(id).drop();
  };

  it('starts waiting invocations in FIFO order as slots free; a stopped waiting one never starts', async () => {
    for (const id of ['a', 'b', 'c', 'd', 'e']) driver.invoke(leader, ID[id]);
    await waitFor(() => opened.length === 2, { what: 'two streams' });
    expect(ids()).toEqual(['a', 'b']);
    expect([driver.running, driver.waiting]).toEqual([2, 3]);
    driver.stop(ID.c);
    expect(driver.waiting).toBe(2);
    finish('a');
    await waitFor(() => opened.length === 3, { what: 'the next waiting invocation to start' });
    expect(ids()).toEqual(['a', 'b', 'd']);
    finish('b');
    await waitFor(() => opened.length === 4);
    expect(ids()).toEqual(['a', 'b', 'd', 'e']);
    expect(driver.running).toBe(2);
    finish('d');
    finish('e');
    // The retries of the finished ones find them finished and end without a stream.
    await waitFor(() => driver.running === 0 && driver.waiting === 0, { what: 'every slot to be free' });
    expect(ids()).not.toContain('c');
  });

  it('queues a retry behind the invocations already waiting', async () => {
    for (const id of ['a', 'b', 'c']) driver.invoke(leader, ID[id]);
    await waitFor(() => opened.length === 2);
    // a's attempt fails: its slot goes to c (waiting first), and a's retry waits behind it.
    streamOf('a').drop();
    await waitFor(() => opened.length === 3);
    expect(ids()).toEqual(['a', 'b', 'c']);
    await waitFor(() => driver.waiting === 1, { what: 'the retry of a to queue' });
    expect(driver.running).toBe(2);
    finish('c');
    await waitFor(() => opened.length === 4, { what: 'the retry of a to start' });
    expect(ids()).toEqual(['a', 'b', 'c', 'a']);
  });

  it('frees the slot of a stopped running attempt and aborts its stream', async () => {
    for (const id of ['a', 'b', 'c']) driver.invoke(leader, ID[id]);
    await waitFor(() => opened.length === 2);
    driver.stop(ID.a);
    expect(streamOf('a').aborted.aborted).toBe(true);
    await waitFor(() => opened.length === 3, { what: 'c to take the slot of a' });
    expect(ids()).toEqual(['a', 'b', 'c']);
    expect([driver.running, driver.waiting]).toEqual([2, 0]);
  });
});
