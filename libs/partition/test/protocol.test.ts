/**
 * The message codec and the invocation stream against a real SDK endpoint: first run, replay of a journal and
 * suspension (service protocol v6), then what v7 adds as SDK 1.17 uses it: run completion acks, the future tree of
 * a suspension, and an error that asks to pause.
 */
import * as restate from '@restatedev/restate-sdk';
import { newInvocationId } from '@stead/core';
import { type Frame, InvocationStreamClient, MessageType, REQUESTED_ACK } from '@stead/invoker';
import { Combinator } from '../src/await-point.ts';
import * as J from '../src/journal.ts';
import type { JournalEntry } from '../src/types.ts';
import { sdkEndpointPerSuite } from './helpers.ts';

let closures = 0;
const svc = restate.service({
  name: 'P',
  handlers: {
    twoSteps: async (ctx: restate.Context, name: string) => {
      const a = await ctx.run('a', () => {
        closures++;
        return `A-${name}`;
      });
      const b = await ctx.run('b', () => {
        closures++;
        return 'B';
      });
      return `${a}${b}`;
    },
    nap: async (ctx: restate.Context) => {
      await ctx.sleep(60_000);
      return 'awake';
    },
    napBoth: async (ctx: restate.Context) => {
      await restate.RestatePromise.all([ctx.sleep(60_000), ctx.sleep(120_000)]);
      return 'awake';
    },
    pauses: async (ctx: restate.Context) =>
      ctx.run('needs a human', () => {
        throw new restate.PauseError('credentials expired');
      }),
  },
});

describe('service protocol with a real SDK endpoint', () => {
  const uri = sdkEndpointPerSuite(svc);
  const client = new InvocationStreamClient();
  afterAll(() => client.close());

  function start(handler: string, journal: JournalEntry[], protocolVersion = 6) {
    const id = newInvocationId(1n);
    const stream = client.open({ uri: uri(), service: 'P', handler, protocolVersion });
    stream.write(
      MessageType.Start,
      J.startMessage({
        idBytes: id.bytes,
        debugId: id.toString(),
        knownEntries: journal.length,
        state: [],
        partialState: false,
        retryCount: 0,
        durationSinceLastStoredEntryMs: 0,
        randomSeed: 7n,
      }),
    );
    for (const e of journal) stream.write(e.type, e.bytes);
    return { stream, frames: stream.frames()[Symbol.asyncIterator]() };
  }

  const next = async (it: AsyncIterator<Frame>) => {
    const r = await it.next();
    if (r.done) throw new Error('stream ended');
    return r.value;
  };
  const input = (s: string) => J.inputCommand([], Buffer.from(JSON.stringify(s)));

  it('runs a handler to its output, completing each run', async () => {
    closures = 0;
    const { stream, frames } = start('twoSteps', [input('x')]);
    const types: number[] = [];
    let output: J.DecodedCommand | undefined;
    for (;;) {
      const f = await next(frames);
      types.push(f.type);
      if (f.type === MessageType.ProposeRunCompletion) {
        const p = J.decodeProposeRun(f.payload);
        const n = J.runCompletion(p.completionId, p.value, p.failure);
        stream.write(n.type, n.bytes);
      } else if (f.type === J.T.Output) {
        output = J.decodeCommand({ type: f.type, bytes: f.payload });
      } else if (f.type === MessageType.End) break;
    }
    stream.close();
    expect(types).toEqual([
      0x0411,
      MessageType.ProposeRunCompletion,
      0x0411,
      MessageType.ProposeRunCompletion,
      J.T.Output,
      MessageType.End,
    ]);
    expect(output).toEqual({ kind: 'output', outcome: { ok: true, value: Buffer.from('"A-xB"') } });
    expect(closures).toBe(2);
  });

  it('replays a journal without running completed steps again', async () => {
    closures = 0;
    // Journal of an earlier attempt: input, run a (completed), run b (no result yet).
    const runCmd = (id: number, name: string) => {
      const bytes = Buffer.concat([
        Buffer.from([(11 << 3) | 0, id]),
        Buffer.from([(12 << 3) | 2, name.length]),
        Buffer.from(name),
      ]);
      return { type: 0x0411, bytes };
    };
    const journal = [input('y'), runCmd(1, 'a'), J.runCompletion(1, Buffer.from('"A-y"')), runCmd(2, 'b')];
    const { stream, frames } = start('twoSteps', journal);
    const f = await next(frames);
    expect(f.type).toBe(MessageType.ProposeRunCompletion); // only step b runs
    const p = J.decodeProposeRun(f.payload);
    expect(p.completionId).toBe(2);
    const n = J.runCompletion(2, p.value);
    stream.write(n.type, n.bytes);
    const out = await next(frames);
    expect(J.decodeCommand({ type: out.type, bytes: out.payload })).toEqual({
      kind: 'output',
      outcome: { ok: true, value: Buffer.from('"A-yB"') },
    });
    expect((await next(frames)).type).toBe(MessageType.End);
    stream.close();
    expect(closures).toBe(1);
  });

  it('suspends on a sleep, naming the completion it waits for', async () => {
    const { stream, frames } = start('nap', [input('z')]);
    const sleep = await next(frames);
    expect(sleep.type).toBe(J.T.Sleep);
    const cmd = J.decodeCommand({ type: sleep.type, bytes: sleep.payload });
    expect(cmd.kind).toBe('sleep');
    if (cmd.kind !== 'sleep') return;
    expect(cmd.wakeUpTime).toBeGreaterThan(Date.now() + 50_000);
    stream.end(); // nothing more from us: the SDK suspends
    let f = await next(frames);
    while (f.type !== MessageType.Suspension) f = await next(frames);
    expect(J.decodeSuspension(f.payload).completions).toEqual([cmd.completionId]);
    stream.close();
  });

  describe('v7', () => {
    it('asks for an ack of each run completion and goes on with its own result once acked', async () => {
      closures = 0;
      const { stream, frames } = start('twoSteps', [input('x')], 7);
      const proposals: { flags: number; completionId: number }[] = [];
      let output: J.DecodedCommand | undefined;
      for (;;) {
        const f = await next(frames);
        if (f.type === MessageType.ProposeRunCompletion) {
          const { completionId } = J.decodeProposeRun(f.payload);
          proposals.push({ flags: f.flags, completionId });
          // The ack alone, no result: the SDK keeps the value it proposed.
          stream.write(MessageType.ProposeRunCompletionAck, J.proposeRunCompletionAck(completionId));
        } else if (f.type === J.T.Output) {
          output = J.decodeCommand({ type: f.type, bytes: f.payload });
        } else if (f.type === MessageType.End) break;
      }
      stream.close();
      expect(proposals.map((p) => p.flags & REQUESTED_ACK)).toEqual([REQUESTED_ACK, REQUESTED_ACK]);
      expect(output).toEqual({ kind: 'output', outcome: { ok: true, value: Buffer.from('"A-xB"') } });
      expect(closures).toBe(2);
    });

    it('suspends on Promise.all with the tree of what it awaits', async () => {
      const { stream, frames } = start('napBoth', [input('z')], 7);
      const sleeps: number[] = [];
      let f = await next(frames);
      while (f.type !== MessageType.Suspension) {
        if (f.type === J.T.Sleep) {
          const cmd = J.decodeCommand({ type: f.type, bytes: f.payload });
          if (cmd.kind === 'sleep') sleeps.push(cmd.completionId);
        }
        if (sleeps.length === 2 && f.type === J.T.Sleep) stream.end(); // nothing more from us: the SDK suspends
        f = await next(frames);
      }
      stream.close();
      const w = J.decodeSuspension(f.payload);
      expect(sleeps).toHaveLength(2);
      expect([...w.completions].sort()).toEqual([...sleeps].sort());
      // Every leaf of the tree, under an all-succeed combinator somewhere on the way to the root.
      const combinators: number[] = [];
      const visit = (n: NonNullable<typeof w.future>) => {
        combinators.push(n.combinator);
        for (const c of n.nested) visit(c);
      };
      expect(w.future).toBeDefined();
      visit(w.future as NonNullable<typeof w.future>);
      expect(combinators).toContain(Combinator.AllSucceededOrFirstFailed);
    });

    it('sends an error asking to pause for a PauseError in a run', async () => {
      const { stream, frames } = start('pauses', [input('p')], 7);
      let f = await next(frames);
      while (f.type !== MessageType.Error) f = await next(frames);
      stream.close();
      const e = J.decodeError(f.payload);
      expect(e.behavior).toBe('pause');
      expect(e.message).toContain('credentials expired');
    });
  });
});
