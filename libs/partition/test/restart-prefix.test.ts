/**
 * restart-as-new from a journal prefix (`from` > 0): the new invocation starts with the old journal's entries
 * 0..from and the completions of the commands among them, on the deployment asked for.
 */
import * as J from '../src/journal.ts';
import type { PartitionReader, PartitionStateMachine } from '../src/state-machine.ts';
import type { Command, Effect, NewInvocation } from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';
import { outputCmd, runCmd, setStateCmd, sleepCmd } from './sdk-commands.ts';

const SINK = { kind: 'ingress' as const, node: 'n' };
const RUN = 0x0411;

describe('restart-as-new from a journal prefix', () => {
  let p: TestPartition;
  let sm: PartitionStateMachine;
  let reader: PartitionReader;

  beforeEach(async () => {
    p = await openTestPartition('stead-restart-prefix-');
    ({ sm, reader } = p);
  });
  afterEach(() => p.close());

  const effect = (id: string, e: Extract<Command, { kind: 'Effect' }>['effect'], ts = 2000): Command => ({
    kind: 'Effect',
    ts,
    epoch: 1,
    invocationId: id,
    effect: e,
  });
  const invoke = (id: string, extra: Partial<NewInvocation> = {}): Command => ({
    kind: 'Invoke',
    ts: 1000,
    inv: {
      id,
      target: { service: 'Steps', handler: 'run' },
      input: Buffer.from('"in"'),
      headers: [],
      retentionMs: 60_000,
      journalRetentionMs: 60_000,
      pin: { deploymentId: 'dp_old', protocolVersion: 5 },
      ...extra,
    },
  });
  const respond = (effects: Effect[]) => effects.find((e) => e.kind === 'respond');
  const restart = async (id: string, newInvocationId: string, extra: Partial<Extract<Command, { kind: 'Control' }>>) =>
    respond(
      await sm.apply({
        kind: 'Control',
        ts: 9000,
        invocationId: id,
        op: 'restart-as-new',
        sink: SINK,
        newInvocationId,
        ...extra,
      }),
    );
  const types = async (id: string) => (await reader.journal((await reader.status(id))!)).map((e) => e.type);

  /**
   * Journal of a completed 'old': 0 input, 1 run#1, 2 its result, 3 run#2, 4 sleep#3, 5 run#2's result,
   * 6 sleep's wake-up, 7 set state, 8 output.
   */
  async function completedJournal(): Promise<void> {
    await sm.apply(invoke('old'));
    await sm.apply(effect('old', { kind: 'command', entry: runCmd(1, 'one') }));
    await sm.apply(effect('old', { kind: 'runCompletion', completionId: 1, value: Buffer.from('1') }));
    await sm.apply(effect('old', { kind: 'command', entry: runCmd(2, 'two') }));
    await sm.apply(effect('old', { kind: 'command', entry: sleepCmd(3000, 3) }));
    await sm.apply(effect('old', { kind: 'runCompletion', completionId: 2, value: Buffer.from('2') }));
    await sm.apply({ kind: 'TimerFired', ts: 3000, timer: { wakeAt: 3000, invocationId: 'old', completionId: 3 } });
    await sm.apply(effect('old', { kind: 'command', entry: setStateCmd('k', 'v') }, 3100));
    await sm.apply(effect('old', { kind: 'command', entry: outputCmd('"done"') }, 3100));
    await sm.apply(effect('old', { kind: 'end' }, 3100));
    const st = await reader.status('old');
    expect(st).toMatchObject({ phase: 'completed', journalLength: 9, deploymentId: 'dp_old' });
    expect(await types('old')).toEqual([
      J.T.Input,
      RUN,
      J.T.RunN,
      RUN,
      J.T.Sleep,
      J.T.RunN,
      J.T.SleepN,
      J.T.SetState,
      J.T.Output,
    ]);
  }

  it('copies the prefix with the later completions of its commands, not the commands after it', async () => {
    await completedJournal();
    const effects = await sm.apply({
      kind: 'Control',
      ts: 9000,
      invocationId: 'old',
      op: 'restart-as-new',
      sink: SINK,
      newInvocationId: 'new4',
      restartFrom: 4,
    });
    expect(respond(effects)).toMatchObject({ outcome: { ok: true, value: Buffer.from('new4') } });
    expect(effects).toContainEqual({ kind: 'invoke', invocationId: 'new4' });
    // Entries 0..4, then run#2's result (5) and the sleep's wake-up (6); set state and output are not copied.
    expect(await types('new4')).toEqual([J.T.Input, RUN, J.T.RunN, RUN, J.T.Sleep, J.T.RunN, J.T.SleepN]);
    const st = await reader.status('new4');
    expect(st).toMatchObject({ phase: 'invoked', journalLength: 7, journalCommands: 4, restartedFrom: 'old' });
    expect(st?.arrived.completions.sort()).toEqual([1, 2, 3]);
    // The copied entries are the old bytes.
    const [oldJ, newJ] = [await reader.journal((await reader.status('old'))!), await reader.journal(st!)];
    expect(Buffer.from(newJ[5].bytes).equals(Buffer.from(oldJ[5].bytes))).toBe(true);

    // from=1: the input, run#1, and run#1's result (entry 2) that came after it.
    expect(await restart('old', 'new1', { restartFrom: 1 })).toMatchObject({ outcome: { ok: true } });
    expect(await types('new1')).toEqual([J.T.Input, RUN, J.T.RunN]);
    expect((await reader.status('new1'))?.arrived.completions).toEqual([1]);
    // The old invocation and its journal stay as they were.
    expect(await reader.status('old')).toMatchObject({ phase: 'completed', journalLength: 9 });
  });

  it('refuses a prefix holding a command that never completed, naming its index', async () => {
    await sm.apply(invoke('k'));
    await sm.apply(effect('k', { kind: 'command', entry: runCmd(1, 'one') }));
    await sm.apply(effect('k', { kind: 'runCompletion', completionId: 1, value: Buffer.from('1') }));
    await sm.apply(effect('k', { kind: 'command', entry: runCmd(2, 'stuck') }));
    await sm.apply({ kind: 'Control', ts: 2500, invocationId: 'k', op: 'kill' });
    expect(await reader.status('k')).toMatchObject({ phase: 'completed', journalLength: 4 });

    const refused = await restart('k', 'k-new', { restartFrom: 3 });
    expect(refused).toMatchObject({ outcome: { ok: false, code: 409 } });
    expect(refused?.kind === 'respond' && !refused.outcome.ok && refused.outcome.message).toMatch(/journal entry 3 /);
    expect(await reader.status('k-new')).toBeUndefined();
    // The prefix before the stuck command is fine.
    expect(await restart('k', 'k-new', { restartFrom: 2 })).toMatchObject({ outcome: { ok: true } });
    expect(await types('k-new')).toEqual([J.T.Input, RUN, J.T.RunN]);
  });

  it('refuses a from past the end of the journal, and a prefix once the journal is gone', async () => {
    await completedJournal();
    const past = await restart('old', 'n9', { restartFrom: 9 });
    expect(past).toMatchObject({ outcome: { ok: false, code: 400 } });
    expect(past?.kind === 'respond' && !past.outcome.ok && past.outcome.message).toMatch(/from=9 is past the end/);
    expect(await restart('old', 'n8', { restartFrom: 8 })).toMatchObject({ outcome: { ok: true } });
    expect(await types('n8')).toHaveLength(9);

    await sm.apply({ kind: 'Control', ts: 9500, invocationId: 'old', op: 'purge-journal', sink: SINK });
    expect(await restart('old', 'n1', { restartFrom: 1 })).toMatchObject({ outcome: { ok: false, code: 410 } });
    expect(await restart('old', 'n0', {})).toMatchObject({ outcome: { ok: true } });
  });

  it('leaves a cancellation out of the copy: the new invocation starts uncancelled', async () => {
    await sm.apply(invoke('c'));
    await sm.apply(effect('c', { kind: 'command', entry: runCmd(1, 'one') }));
    await sm.apply(effect('c', { kind: 'runCompletion', completionId: 1, value: Buffer.from('1') }));
    await sm.apply({ kind: 'Control', ts: 2100, invocationId: 'c', op: 'cancel' });
    await sm.apply(effect('c', { kind: 'command', entry: outputCmd('"cancelled"') }, 2200));
    await sm.apply(effect('c', { kind: 'end' }, 2200));
    const old = await reader.status('c');
    expect(old).toMatchObject({ phase: 'completed', arrived: { signals: [1] } });
    expect(await types('c')).toEqual([J.T.Input, RUN, J.T.RunN, J.T.SignalN, J.T.Output]);
    expect(await restart('c', 'c-new', { restartFrom: 3 })).toMatchObject({ outcome: { ok: true } });
    expect(await types('c-new')).toEqual([J.T.Input, RUN, J.T.RunN]);
    expect((await reader.status('c-new'))?.arrived).toEqual({ completions: [1], signals: [], names: [] });
  });

  it('runs on the latest deployment, the kept one, or the one named', async () => {
    await completedJournal();
    await restart('old', 'latest', { restartFrom: 2 });
    expect((await reader.status('latest'))?.deploymentId).toBeUndefined();

    await restart('old', 'kept', { restartFrom: 2, restartOn: 'keep' });
    expect(await reader.status('kept')).toMatchObject({ deploymentId: 'dp_old', protocolVersion: 5 });

    // The named deployment, with the protocol version the copied journal was written in.
    await restart('old', 'named', { restartFrom: 2, restartOn: { deploymentId: 'dp_new', protocolVersion: 6 } });
    expect(await reader.status('named')).toMatchObject({ deploymentId: 'dp_new', protocolVersion: 5 });
    expect(await reader.pinnedCount('dp_new')).toBe(1);

    // A deployment that speaks only older protocol versions than the journal's cannot replay it.
    await sm.apply(invoke('v6', { pin: { deploymentId: 'dp_old', protocolVersion: 6 } }));
    await sm.apply(effect('v6', { kind: 'command', entry: outputCmd('"done"') }));
    await sm.apply(effect('v6', { kind: 'end' }));
    const older = await restart('v6', 'v6-new', {
      restartFrom: 1,
      restartOn: { deploymentId: 'dp_five', protocolVersion: 5 },
    });
    expect(older).toMatchObject({
      outcome: {
        ok: false,
        code: 400,
        message: expect.stringContaining("'dp_five' speaks the service protocol up to v5"),
      },
    });
    expect(await reader.status('v6-new')).toBeUndefined();

    // Never pinned (killed while queued): nothing to keep.
    await sm.apply(invoke('unpinned', { pin: undefined, executionTime: 50_000 }));
    await sm.apply({ kind: 'Control', ts: 2500, invocationId: 'unpinned', op: 'kill' });
    const keep = await restart('unpinned', 'u-new', { restartFrom: 0, restartOn: 'keep' });
    expect(keep).toMatchObject({ outcome: { ok: false, code: 409 } });
  });
});
