/**
 * The invoker driver holds a RunCommand back until the attempt's next effect (its ProposeRunCompletion, normally)
 * and appends both together: one log write per `ctx.run` step. A step that runs longer than the hold gets its
 * RunCommand appended alone. Against a real SDK endpoint over HTTP/2; the partition leader is a recording fake.
 */
import * as restate from '@restatedev/restate-sdk';
import { newInvocationId, RESTATE_INVOCATION_DEFAULTS, type SchemaView } from '@stead/core';
import { InvocationStreamClient } from '@stead/invoker';
import { waitFor } from '@stead/testing';
import { InvokerDriver } from '../src/invoker-driver.ts';
import * as J from '../src/journal.ts';
import type { PartitionLeader } from '../src/leader.ts';
import type { Command, InvocationStatus } from '../src/types.ts';
import { sdkEndpointPerSuite } from './helpers.ts';

const svc = restate.service({
  name: 'B',
  handlers: {
    quick: async (ctx: restate.Context) => {
      const a = await ctx.run('a', () => 'A');
      const b = await ctx.run('b', () => 'B');
      return a + b;
    },
    slow: async (ctx: restate.Context) =>
      ctx.run('slow', async () => {
        await new Promise((r) => setTimeout(r, 300));
        return 'S';
      }),
  },
});

/** What one append carried: the effect kinds, a command as `command:<entry type>`. */
type Batch = string[];

function describeEffect(c: Command): string {
  if (c.kind !== 'Effect') return c.kind;
  const e = c.effect;
  return e.kind === 'command' ? `command:0x${e.entry.type.toString(16)}` : e.kind;
}

describe('the invoker driver batches a RunCommand with its completion', () => {
  const uri = sdkEndpointPerSuite(svc);
  const client = new InvocationStreamClient();
  afterAll(() => client.close());

  async function run(handler: string): Promise<Batch[]> {
    const batches: Batch[] = [];
    let offset = 0n;
    // Journal indices as the state machine gives them: the input is 0; commands and notifications follow.
    let nextIndex = 1;
    const id = newInvocationId(1n).toString();
    let driver: InvokerDriver | undefined;
    const leader = {
      epoch: 1,
      processor: {
        appendMany: async (cmds: Command[]) => {
          batches.push(cmds.map(describeEffect));
          // "Applied" at once: a run completion goes back to the SDK as a notification, as the leader does.
          for (const c of cmds) {
            if (c.kind !== 'Effect' || c.effect.kind === 'pin') continue;
            const index = nextIndex++;
            const e = c.effect;
            if (e.kind === 'runCompletion')
              setImmediate(() => driver?.notify(id, index, J.runCompletion(e.completionId, e.value, e.failure)));
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
          target: { service: 'B', handler },
          phase: 'invoked',
          attempt: 1,
          createdAt: 0,
          modifiedAt: 0,
          journalLength: 1,
          deploymentId: 'dp_1',
          protocolVersion: 6,
          sinks: [],
          arrived: { completions: [], signals: [], names: [] },
        }),
        // The input entry only: a first attempt.
        journal: async () => [{ type: 0x0400, bytes: new Uint8Array() }],
        stateOf: async () => [],
      },
    } as unknown as PartitionLeader;
    const schema = {
      service: () => ({ name: 'B', ty: 'SERVICE', handlers: [], deploymentId: 'dp_1', public: true }),
      deployment: () => ({
        id: 'dp_1',
        uri: uri(),
        minProtocolVersion: 5,
        maxProtocolVersion: 6,
        additionalHeaders: {},
        useHttp11: false,
        protocolType: 'BidiStream',
      }),
    } as unknown as SchemaView;
    driver = new InvokerDriver({
      schema,
      client,
      defaults: RESTATE_INVOCATION_DEFAULTS,
      minProtocolVersion: 5,
      maxProtocolVersion: 6,
      now: Date.now,
      log: () => {},
    });
    try {
      driver.invoke(leader, id);
      await waitFor(() => batches.some((b) => b.includes('end')), { what: 'the attempt to end' });
      return batches;
    } finally {
      driver.stopAll();
    }
  }

  it('appends each quick step as one write: RunCommand and its completion together', async () => {
    const batches = await run('quick');
    const runs = batches.filter((b) => b.includes('command:0x411'));
    expect(runs).toEqual([
      ['command:0x411', 'runCompletion'],
      ['command:0x411', 'runCompletion'],
    ]);
    // Nothing else waits: the output and the end follow; no RunCommand left alone or lost.
    expect(batches.flat().filter((k) => k === 'command:0x411')).toHaveLength(2);
    expect(batches.flat().filter((k) => k === 'runCompletion')).toHaveLength(2);
    expect(batches.flat().at(-1)).toBe('end');
  });

  it('appends the RunCommand of a step that outlasts the hold on its own, before its completion', async () => {
    const batches = await run('slow');
    const at = batches.findIndex((b) => b.includes('command:0x411'));
    expect(batches[at]).toEqual(['command:0x411']);
    expect(batches.slice(at + 1).flat()).toContain('runCompletion');
  });
});
