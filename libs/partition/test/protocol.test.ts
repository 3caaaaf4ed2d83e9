/**
 * The message codec and the invocation stream against a real SDK endpoint (service protocol v6):
 * first run, replay of a journal, and suspension.
 */
import * as restate from '@restatedev/restate-sdk';
import { newInvocationId } from '@stead/core';
import { type Frame, InvocationStreamClient, MessageType } from '@stead/invoker';
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
  },
});

describe('service protocol with a real SDK endpoint', () => {
  const uri = sdkEndpointPerSuite(svc);
  const client = new InvocationStreamClient();
  afterAll(() => client.close());

  function start(handler: string, journal: JournalEntry[]) {
    const id = newInvocationId(1n);
    const stream = client.open({ uri: uri(), service: 'P', handler, protocolVersion: 6 });
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
});
