/**
 * Issue 10: the waiters (response sinks) of one invocation are bounded. Every attach used to add a sink to the
 * stored status, so a client retrying attach in a loop grew it without bound.
 */
import type { PartitionStore } from '@stead/storage';
import {
  MAX_SINKS_PER_INVOCATION,
  type PartitionReader,
  type PartitionStateMachine,
  TOO_MANY_WAITERS,
} from '../src/state-machine.ts';
import type { Command, ResponseSink } from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';

describe('waiters of an invocation', () => {
  let p: TestPartition;
  let store: PartitionStore;
  let sm: PartitionStateMachine;
  let reader: PartitionReader;

  beforeEach(async () => {
    p = await openTestPartition('stead-sinks-');
    ({ store, sm, reader } = p);
    await apply({
      kind: 'Invoke',
      ts: 1,
      inv: { id: 'i1', target: { service: 'Greeter', handler: 'greet' }, input: Buffer.from('"hi"'), headers: [] },
    });
  });
  afterEach(() => p.close());

  /** Applies and commits, as the processor does per batch. */
  async function apply(cmd: Command) {
    const effects = await sm.apply(cmd);
    await store.commit();
    return effects;
  }
  const ingress = (n: number): ResponseSink => ({ kind: 'ingress', node: `req/${n}` });
  const attach = (sink: ResponseSink, mode: 'attach' | 'detach' = 'attach'): Command => ({
    kind: 'Attach',
    ts: 2,
    invocationId: 'i1',
    sink,
    mode,
  });
  const sinks = async () => (await reader.status('i1'))?.sinks ?? [];

  it('keeps at most MAX_SINKS_PER_INVOCATION waiters and refuses the next with 429', async () => {
    for (let n = 0; n < MAX_SINKS_PER_INVOCATION; n++) expect(await apply(attach(ingress(n)))).toEqual([]);
    expect(await sinks()).toHaveLength(MAX_SINKS_PER_INVOCATION);
    const over = await apply(attach(ingress(MAX_SINKS_PER_INVOCATION)));
    expect(over).toEqual([
      { kind: 'respond', invocationId: 'i1', sink: ingress(MAX_SINKS_PER_INVOCATION), outcome: TOO_MANY_WAITERS },
    ]);
    expect(TOO_MANY_WAITERS).toMatchObject({ ok: false, code: 429 });
    expect(await sinks()).toHaveLength(MAX_SINKS_PER_INVOCATION);
    // A calling invocation that attaches over the limit gets the failure as its completion (through the outbox).
    const call = await apply(
      attach({ kind: 'invocation', invocationId: 'caller', completionId: 3, entryType: 0x8010 }),
    );
    expect(call.map((e) => e.kind)).toEqual(['outbox']);
    expect(await sinks()).toHaveLength(MAX_SINKS_PER_INVOCATION);
    // A detach frees a place.
    await apply(attach(ingress(5), 'detach'));
    expect(await apply(attach(ingress(MAX_SINKS_PER_INVOCATION + 1)))).toEqual([]);
    expect(await sinks()).toHaveLength(MAX_SINKS_PER_INVOCATION);
  });

  it('keeps an identical waiter once (an idempotent call re-submitted, a repeated attach)', async () => {
    await apply(attach(ingress(1)));
    await apply(attach(ingress(1)));
    const caller: ResponseSink = { kind: 'invocation', invocationId: 'caller', completionId: 1 };
    await apply(attach(caller));
    await apply(attach({ ...caller }));
    expect(await sinks()).toEqual([ingress(1), caller]);
  });

  it('drops the waiter of a request that went away (detach) and answers only the others', async () => {
    for (let n = 0; n < 3; n++) await apply(attach(ingress(n)));
    expect(await apply(attach(ingress(1), 'detach'))).toEqual([]);
    expect(await sinks()).toEqual([ingress(0), ingress(2)]);
    // Detaching what is not there (twice, or an unknown invocation) changes nothing.
    await apply(attach(ingress(1), 'detach'));
    await apply({ ...attach(ingress(0), 'detach'), invocationId: 'unknown' } as Command);
    expect(await sinks()).toEqual([ingress(0), ingress(2)]);
    const end = await apply({
      kind: 'Effect',
      ts: 3,
      epoch: 0,
      invocationId: 'i1',
      effect: { kind: 'fail', failure: { code: 500, message: 'boom' } },
    });
    const answered = end.filter((e) => e.kind === 'respond').map((e) => (e as { sink: ResponseSink }).sink);
    expect(answered).toEqual([ingress(0), ingress(2)]);
  });
});
