/**
 * The invoker driver on service protocol v7 against a real SDK endpoint over HTTP/2, the partition leader a
 * recording fake whose records are applied only when the test says so: a run completion the SDK proposed asking
 * for an ack is acked once it is applied (durable), never before, and in place of the notification; an error that
 * asks to pause or fail does so without a retry. v6 attempts of the same handlers get the whole notification.
 */
import * as restate from '@restatedev/restate-sdk';
import { newInvocationId, RESTATE_INVOCATION_DEFAULTS, type SchemaView } from '@stead/core';
import { InvocationStreamClient, MessageType } from '@stead/invoker';
import { waitFor } from '@stead/testing';
import { InvokerDriver } from '../src/invoker-driver.ts';
import * as J from '../src/journal.ts';
import type { PartitionLeader } from '../src/leader.ts';
import type { Command, InvocationStatus, InvokerEffect, JournalEntry } from '../src/types.ts';
import { sdkEndpointPerSuite } from './helpers.ts';
import { sleepCmd } from './sdk-commands.ts';

let pauses = 0;
const svc = restate.service({
  name: 'V',
  handlers: {
    steps: async (ctx: restate.Context) => {
      const a = await ctx.run('a', () => 'A');
      const b = await ctx.run('b', () => 'B');
      return a + b;
    },
    pauses: async (ctx: restate.Context) =>
      ctx.run('needs a human', () => {
        pauses++;
        throw new restate.PauseError('credentials expired');
      }),
    // Its journal (see the test) holds a sleep where the code runs a step: a journal mismatch, failed at once.
    mismatch: restate.handlers.handler({ onJournalMismatchErrors: 'fail' }, async (ctx: restate.Context) => {
      mismatches++;
      return ctx.run('a', () => 'A');
    }),
  },
});
let mismatches = 0;
let scopedAttempts = 0;
const scoped = restate.service({
  name: 'Scoped',
  handlers: {
    call: async (ctx: restate.Context) => {
      scopedAttempts++;
      return ctx.scope('tenant-1').serviceClient<{ steps: (ctx: unknown) => Promise<string> }>({ name: 'V' }).steps();
    },
  },
});

/** One frame the driver wrote to the endpoint. */
interface Written {
  type: number;
  payload: Uint8Array;
}

describe('the invoker driver on service protocol v7', () => {
  const uri = sdkEndpointPerSuite(svc, scoped);
  const real = new InvocationStreamClient();
  afterAll(() => real.close());

  /** Runs `handler` on `protocolVersion`; run completions wait in `unapplied` until `apply()`. */
  function start(
    handler: string,
    protocolVersion: number | undefined,
    idempotencyKey?: string,
    journal: JournalEntry[] = [{ type: 0x0400, bytes: new Uint8Array() }],
    maxProtocolVersion = 7,
  ) {
    const opened: number[] = [];
    const effects: InvokerEffect[] = [];
    const written: Written[] = [];
    const unapplied: { index: number; effect: Extract<InvokerEffect, { kind: 'runCompletion' }> }[] = [];
    let nextIndex = journal.length;
    let offset = 0n;
    const id = newInvocationId(1n).toString();
    // The real client; what the driver writes is recorded on the way.
    const client = {
      open: (o: Parameters<InvocationStreamClient['open']>[0]) => {
        opened.push(o.protocolVersion);
        const stream = real.open(o);
        const write = stream.write.bind(stream);
        stream.write = (type, payload, flags) => {
          written.push({ type, payload });
          write(type, payload, flags);
        };
        return stream;
      },
    } as unknown as InvocationStreamClient;
    const leader = {
      epoch: 1,
      processor: {
        appendMany: async (cmds: Command[]) => {
          for (const c of cmds) {
            if (c.kind !== 'Effect') continue;
            effects.push(c.effect);
            if (c.effect.kind === 'pin') continue;
            const index = nextIndex++;
            if (c.effect.kind === 'runCompletion') unapplied.push({ index, effect: c.effect });
          }
          const first = offset;
          offset += BigInt(cmds.length);
          return first;
        },
        waitApplied: async () => {},
      },
      reader: {
        status: async (): Promise<InvocationStatus> => ({
          id,
          target: { service: handler === 'call' ? 'Scoped' : 'V', handler },
          phase: 'invoked',
          attempt: 1,
          createdAt: 0,
          modifiedAt: 0,
          journalLength: journal.length,
          ...(protocolVersion === undefined ? {} : { deploymentId: 'dp_1', protocolVersion }),
          sinks: [],
          arrived: { completions: [], signals: [], names: [] },
          ...(idempotencyKey ? { idempotencyKey } : {}),
        }),
        journal: async () => journal,
        stateOf: async () => [],
      },
    } as unknown as PartitionLeader;
    const schema = {
      service: (name: string) => ({ name, ty: 'SERVICE', handlers: [], deploymentId: 'dp_1', public: true }),
      deployment: () => ({
        id: 'dp_1',
        uri: uri(),
        minProtocolVersion: 5,
        maxProtocolVersion: 7,
        additionalHeaders: {},
        useHttp11: false,
        protocolType: 'BidiStream',
      }),
    } as unknown as SchemaView;
    const driver = new InvokerDriver({
      schema,
      client,
      defaults: RESTATE_INVOCATION_DEFAULTS,
      minProtocolVersion: 5,
      maxProtocolVersion,
      now: Date.now,
      log: () => {},
    });
    driver.invoke(leader, id);
    /** The leader applies the oldest run completion: the driver hears of it as a journal notification. */
    const apply = () => {
      const u = unapplied.shift();
      if (!u) throw new Error('no run completion to apply');
      driver.notify(id, u.index, J.runCompletion(u.effect.completionId, u.effect.value, u.effect.failure));
      return u.effect.completionId;
    };
    const kinds = () => effects.map((e) => e.kind);
    return { driver, effects, written, unapplied, apply, kinds, opened };
  }

  const ackIds = (written: Written[]) =>
    written.filter((w) => w.type === MessageType.ProposeRunCompletionAck).map((w) => J.fields(w.payload).get(1)?.[0]);

  it('acks a proposed run completion only once it is applied, in place of the notification', async () => {
    const t = start('steps', 7);
    try {
      await waitFor(() => t.unapplied.length === 1, { what: 'the first run completion to be appended' });
      // Proposed and appended, not applied: nothing went back to the SDK, which waits (no second step yet).
      expect(ackIds(t.written)).toEqual([]);
      expect(t.effects.filter((e) => e.kind === 'command')).toHaveLength(1);
      const first = t.apply();
      await waitFor(() => ackIds(t.written).length === 1, { what: 'the ack of the first run' });
      expect(ackIds(t.written)).toEqual([BigInt(first)]);
      await waitFor(() => t.unapplied.length === 1, { what: 'the second run completion' });
      expect(ackIds(t.written)).toHaveLength(1);
      t.apply();
      await waitFor(() => t.kinds().includes('end'), { what: 'the attempt to end' });
      expect(ackIds(t.written)).toHaveLength(2);
      expect(t.written.filter((w) => w.type === J.T.RunN)).toEqual([]);
      const output = t.effects.find((e) => e.kind === 'command' && e.entry.type === J.T.Output);
      expect(output?.kind === 'command' && J.decodeCommand(output.entry)).toEqual({
        kind: 'output',
        outcome: { ok: true, value: Buffer.from('"AB"') },
      });
    } finally {
      t.driver.stopAll();
    }
  });

  it('negotiates the highest common version for a new invocation; a pinned one keeps its version', async () => {
    for (const [pinned, max, expected] of [
      [undefined, 7, 7],
      [undefined, 6, 6],
      [6, 7, 6],
    ] as const) {
      const t = start('steps', pinned, undefined, undefined, max);
      try {
        await waitFor(() => t.opened.length === 1, { what: 'the stream to open' });
        expect(t.opened).toEqual([expected]);
        const pin = t.effects.find((e) => e.kind === 'pin');
        // A new invocation is pinned (deployment and version) by its first attempt.
        expect(pin).toEqual(
          pinned === undefined ? { kind: 'pin', deploymentId: 'dp_1', protocolVersion: expected } : undefined,
        );
      } finally {
        t.driver.stopAll();
      }
    }
  });

  it('sends the whole run completion notification on v6', async () => {
    const t = start('steps', 6);
    try {
      await waitFor(() => t.unapplied.length === 1, { what: 'the first run completion' });
      t.apply();
      await waitFor(() => t.unapplied.length === 1, { what: 'the second run completion' });
      t.apply();
      await waitFor(() => t.kinds().includes('end'), { what: 'the attempt to end' });
      expect(t.written.filter((w) => w.type === J.T.RunN)).toHaveLength(2);
      expect(ackIds(t.written)).toEqual([]);
    } finally {
      t.driver.stopAll();
    }
  });

  it('pauses the invocation, without a retry, when the SDK asks to pause', async () => {
    pauses = 0;
    const t = start('pauses', 7);
    try {
      await waitFor(() => t.kinds().includes('pause'), { what: 'the invocation to pause' });
      const pause = t.effects.find((e) => e.kind === 'pause');
      expect(pause?.kind === 'pause' && pause.reason).toContain('credentials expired');
      expect(t.kinds()).not.toContain('fail');
      expect(pauses).toBe(1);
    } finally {
      t.driver.stopAll();
    }
  });

  it('pauses on v6 too: SDK 1.17 sends the behavior there, and restate-server 1.7.12 honours it', async () => {
    pauses = 0;
    const t = start('pauses', 6);
    try {
      await waitFor(() => t.kinds().includes('pause'), { what: 'the invocation to pause' });
      expect(pauses).toBe(1);
    } finally {
      t.driver.stopAll();
    }
  });

  it('fails the invocation without a retry when the SDK asks to (a journal mismatch)', async () => {
    const journal = [J.inputCommand([], Buffer.from('{}')), sleepCmd(Date.now() + 60_000, 1)];
    mismatches = 0;
    const t = start('mismatch', 7, undefined, journal);
    try {
      await waitFor(() => t.kinds().includes('fail'), { what: 'the invocation to fail' });
      const fail = t.effects.find((e) => e.kind === 'fail');
      expect(fail?.kind === 'fail' && fail.failure.code).toBe(570);
      expect(mismatches).toBe(1);
    } finally {
      t.driver.stopAll();
    }
  });

  it('refuses a scoped call (not supported yet) with a retryable error, never appending it', async () => {
    scopedAttempts = 0;
    const t = start('call', 7);
    try {
      await waitFor(() => scopedAttempts >= 2, { what: 'a retry of the scoped call' });
      expect(t.effects.filter((e) => e.kind === 'command' && e.entry.type === J.T.Call)).toEqual([]);
      expect(t.kinds()).not.toContain('fail');
    } finally {
      t.driver.stopAll();
    }
  });

  it('passes the idempotency key in the Start message on v7 only', async () => {
    for (const [version, expected] of [
      [7, 'key-1'],
      [6, undefined],
    ] as const) {
      const t = start('steps', version, 'key-1');
      try {
        await waitFor(() => t.written.length > 0, { what: 'the Start message' });
        const startMsg = t.written[0];
        expect(startMsg.type).toBe(MessageType.Start);
        const key = J.fields(startMsg.payload).get(12)?.[0];
        expect(key === undefined ? undefined : Buffer.from(key as Uint8Array).toString()).toBe(expected);
      } finally {
        t.driver.stopAll();
      }
    }
  });
});
