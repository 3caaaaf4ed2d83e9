/**
 * When a suspended invocation runs again. v5/v6: as soon as any notification it waits on arrives. v7: when the
 * future tree of its suspension could resolve with what arrived (successes and failures), so that Promise.all
 * waits for all of its children unless one fails, and a race wakes on the first.
 */
import { Combinator, canResolve } from '../src/await-point.ts';
import * as J from '../src/journal.ts';
import type { ArrivedSet, Command, FutureNode, WaitingSet } from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';

const node = (combinator: number, leaves: Partial<FutureNode> = {}): FutureNode => ({
  combinator,
  completions: [],
  signals: [],
  names: [],
  nested: [],
  ...leaves,
});
const tree = (future: FutureNode): WaitingSet => ({ completions: [], signals: [], names: [], future });
const arrived = (ok: number[], failed: number[] = []): ArrivedSet => ({
  completions: [...ok, ...failed],
  signals: [],
  names: [],
  ...(failed.length > 0 ? { failed: { completions: failed, signals: [], names: [] } } : {}),
});

describe('canResolve', () => {
  it('wakes a flat (v5/v6) suspension on any one id', () => {
    const w: WaitingSet = { completions: [1, 2], signals: [5], names: ['n'] };
    expect(canResolve(w, arrived([]))).toBe(false);
    expect(canResolve(w, arrived([2]))).toBe(true);
    expect(canResolve(w, { completions: [], signals: [5], names: [] })).toBe(true);
    expect(canResolve(w, { completions: [], signals: [], names: ['n'] })).toBe(true);
  });

  it('all succeeded or first failed (Promise.all): every child, or one failure', () => {
    const w = tree(node(Combinator.AllSucceededOrFirstFailed, { completions: [1, 2, 3] }));
    expect(canResolve(w, arrived([1, 2]))).toBe(false);
    expect(canResolve(w, arrived([1, 2, 3]))).toBe(true);
    expect(canResolve(w, arrived([], [2]))).toBe(true);
  });

  it('first completed (race) and unknown: the first child, success or failure', () => {
    for (const c of [Combinator.FirstCompleted, Combinator.Unknown]) {
      const w = tree(node(c, { completions: [1, 2] }));
      expect(canResolve(w, arrived([]))).toBe(false);
      expect(canResolve(w, arrived([2]))).toBe(true);
      expect(canResolve(w, arrived([], [1]))).toBe(true);
    }
  });

  it('all completed (allSettled): every child, failures included', () => {
    const w = tree(node(Combinator.AllCompleted, { completions: [1, 2] }));
    expect(canResolve(w, arrived([], [1]))).toBe(false);
    expect(canResolve(w, arrived([2], [1]))).toBe(true);
  });

  it('first succeeded or all failed (Promise.any): one success, or every child failed', () => {
    const w = tree(node(Combinator.FirstSucceededOrAllFailed, { completions: [1, 2] }));
    expect(canResolve(w, arrived([], [1]))).toBe(false);
    expect(canResolve(w, arrived([2], [1]))).toBe(true);
    expect(canResolve(w, arrived([], [1, 2]))).toBe(true);
    expect(canResolve(w, arrived([1]))).toBe(true);
  });

  it('combines nested nodes: all([c1, race([signal 17, named "go"])])', () => {
    const w = tree(
      node(Combinator.AllSucceededOrFirstFailed, {
        completions: [1],
        nested: [node(Combinator.FirstCompleted, { signals: [17], names: ['go'] })],
      }),
    );
    expect(canResolve(w, arrived([1]))).toBe(false);
    expect(canResolve(w, { completions: [], signals: [17], names: [] })).toBe(false);
    expect(canResolve(w, { completions: [1], signals: [], names: ['go'] })).toBe(true);
    // A failed signal inside the race fails the race, which fails the all at once.
    const failedSignal = {
      completions: [],
      signals: [17],
      names: [],
      failed: { completions: [], signals: [17], names: [] },
    };
    expect(canResolve(w, failedSignal)).toBe(true);
  });

  it('assumes either outcome of a race of a success and a failure (the order is not kept)', () => {
    // any([race([1, 2]), 3]) with 1 ok and 2 failed: the race may have succeeded, so the any may have resolved.
    const w = tree(
      node(Combinator.FirstSucceededOrAllFailed, {
        completions: [3],
        nested: [node(Combinator.FirstCompleted, { completions: [1, 2] })],
      }),
    );
    expect(canResolve(w, arrived([1], [2]))).toBe(true);
    // all([race([1, 2]), 3]): the race may have failed, which resolves the all.
    const all = tree(
      node(Combinator.AllSucceededOrFirstFailed, {
        completions: [3],
        nested: [node(Combinator.FirstCompleted, { completions: [1, 2] })],
      }),
    );
    expect(canResolve(all, arrived([1], [2]))).toBe(true);
    expect(canResolve(all, arrived([1]))).toBe(false);
  });
});

describe('a v7 suspension in the state machine', () => {
  let p: TestPartition;
  beforeEach(async () => {
    p = await openTestPartition('stead-await-');
  });
  afterEach(() => p.close());

  const invoke = (id: string): Command => ({
    kind: 'Invoke',
    ts: 1000,
    inv: { id, target: { service: 'S', handler: 'h' }, input: Buffer.from('{}'), headers: [] },
  });
  const suspend = (id: string, waiting: WaitingSet): Command => ({
    kind: 'Effect',
    ts: 1001,
    epoch: 0,
    invocationId: id,
    effect: { kind: 'suspend', waiting },
  });
  const signal = (id: string, idx: number, failed = false): Command => ({
    kind: 'Notify',
    ts: 1002,
    invocationId: id,
    entry: J.signalNotification({ idx }, failed ? { failure: { code: 500, message: 'no' } } : { void: true }),
    id: { signalId: idx },
  });
  const phase = async (id: string) => (await p.reader.status(id))?.phase;
  const all = (signals: number[]): WaitingSet => ({
    completions: [],
    signals,
    names: [],
    future: node(Combinator.AllSucceededOrFirstFailed, { signals }),
  });

  it('keeps Promise.all suspended until its last child arrives, and keeps the tree across the store', async () => {
    await p.sm.apply(invoke('a'));
    await p.sm.apply(suspend('a', all([17, 18])));
    expect((await p.reader.status('a'))?.waiting?.future).toEqual(
      node(Combinator.AllSucceededOrFirstFailed, { signals: [17, 18] }),
    );
    await p.sm.apply(signal('a', 17));
    expect(await phase('a')).toBe('suspended');
    const effects = await p.sm.apply(signal('a', 18));
    expect(effects.map((e) => e.kind)).toContain('invoke');
    expect(await phase('a')).toBe('invoked');
  });

  it('wakes Promise.all at the first failure, and records the failure among what arrived', async () => {
    await p.sm.apply(invoke('b'));
    await p.sm.apply(suspend('b', all([17, 18])));
    await p.sm.apply(signal('b', 18, true));
    expect(await phase('b')).toBe('invoked');
    expect((await p.reader.status('b'))?.arrived.failed?.signals).toEqual([18]);
  });

  it('resumes at once when what arrived before the suspension was applied already resolves the tree', async () => {
    await p.sm.apply(invoke('c'));
    await p.sm.apply(signal('c', 17));
    await p.sm.apply(signal('c', 18));
    const effects = await p.sm.apply(suspend('c', all([17, 18])));
    expect(effects.map((e) => e.kind)).toContain('invoke');
    expect(await phase('c')).toBe('invoked');
  });

  it('still wakes a flat (v6) suspension on the first of its ids', async () => {
    await p.sm.apply(invoke('d'));
    await p.sm.apply(suspend('d', { completions: [], signals: [17, 18], names: [] }));
    await p.sm.apply(signal('d', 17));
    expect(await phase('d')).toBe('invoked');
  });
});
