// The admin API's replacement of an object key's whole state (`POST /services/{name}/state`, the CLI's `state edit`
// and `state clear`): applied through the log like every other command, queued while a handler holds the key, and
// refused (or, once queued, dropped) when the state changed since the version the client read.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { stateVersion } from '@stead/core';
import { decodeCommand, encodeCommand } from '../src/codec.ts';
import type { Command, Effect, ResponseSink, Target } from '../src/types.ts';
import { openTestPartition, type TestPartition } from './helpers.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const SINK: ResponseSink = { kind: 'ingress', node: 'admin/1' };
const counter = (key: string, handler = 'add'): Target => ({
  service: 'Counter',
  handler,
  key,
  serviceType: 'VIRTUAL_OBJECT',
  handlerType: 'EXCLUSIVE',
});

const replace = (key: string, state: [string, string][], version?: string): Command => ({
  kind: 'ReplaceState',
  ts: 2000,
  service: 'Counter',
  key,
  serviceType: 'VIRTUAL_OBJECT',
  state: state.map(([k, v]) => [enc(k), enc(v)]),
  ...(version === undefined ? {} : { version }),
  sink: SINK,
});

/** The answer the admin request gets: the `respond` effect for its sink. */
function answer(effects: Effect[]) {
  const r = effects.find((e) => e.kind === 'respond');
  if (r?.kind !== 'respond') throw new Error(`no answer among ${JSON.stringify(effects)}`);
  expect(r.sink).toEqual(SINK);
  return r.outcome;
}

describe('ReplaceState', () => {
  let p: TestPartition;
  beforeEach(async () => {
    p = await openTestPartition('stead-replace-state-');
  });
  afterEach(() => p.close());

  /** Applies as the processor does: through the record's log encoding. */
  const apply = (cmd: Command) => p.sm.apply(decodeCommand(encodeCommand(cmd)));
  const state = async (key: string) =>
    Object.fromEntries((await p.reader.stateOf(counter(key))).map(([k, v]) => [dec(k), dec(v)]));

  it('replaces the whole state of one key, leaving other keys alone', async () => {
    await apply(
      replace('a', [
        ['x', '1'],
        ['y', '2'],
      ]),
    );
    await apply(replace('b', [['x', 'b']]));
    expect(await state('a')).toEqual({ x: '1', y: '2' });
    expect(answer(await apply(replace('a', [['z', '3']]))).ok).toBe(true);
    expect(await state('a')).toEqual({ z: '3' });
    expect(answer(await apply(replace('a', []))).ok).toBe(true); // `state clear`
    expect(await state('a')).toEqual({});
    expect(await state('b')).toEqual({ x: 'b' });
  });

  it('applies with the version of the current state, refuses (409) with an older one', async () => {
    await apply(replace('a', [['x', '1']]));
    const read = stateVersion([[enc('x'), enc('1')]]);
    expect(answer(await apply(replace('a', [['x', '2']], read))).ok).toBe(true);
    // The state changed since `read`: a second edit based on it is refused and changes nothing.
    const refused = answer(await apply(replace('a', [['x', '3']], read)));
    expect(refused).toMatchObject({ ok: false, code: 409 });
    expect(!refused.ok && refused.message).toContain(`changed since version ${read}`);
    expect(await state('a')).toEqual({ x: '2' });
  });

  const invoke = (id: string, key = 'a'): Command => ({
    kind: 'Invoke',
    ts: 1000,
    inv: { id, target: counter(key), input: enc('{}'), headers: [] },
  });
  const kill = (id: string): Command => ({ kind: 'Control', ts: 3000, invocationId: id, op: 'kill' });

  it('waits while an invocation holds the key (accepted), and applies once the lock is released', async () => {
    await apply(invoke('inv-hold'));
    expect(answer(await apply(replace('a', [['x', '1']]))).ok).toBe(true);
    expect(await state('a')).toEqual({}); // the handler may still write: not yet
    await apply(kill('inv-hold'));
    expect(await state('a')).toEqual({ x: '1' });
  });

  it('keeps the inbox order of the key with the invocations queued behind the lock', async () => {
    await apply(invoke('inv-hold'));
    await apply(replace('a', [['x', 'before next']]));
    await apply(invoke('inv-next')); // inboxed behind inv-hold
    await apply(replace('a', [['x', 'after next']]));
    await apply(kill('inv-hold'));
    // The replacement queued before inv-next is applied, then inv-next takes the lock; the later one waits for it.
    expect(await state('a')).toEqual({ x: 'before next' });
    expect((await p.reader.status('inv-next'))?.phase).toBe('invoked');
    await apply(kill('inv-next'));
    expect(await state('a')).toEqual({ x: 'after next' });
  });

  it('drops a queued replacement whose version is stale when the lock is released', async () => {
    await apply(invoke('inv-hold'));
    const empty = stateVersion([]);
    expect(answer(await apply(replace('a', [['x', 'first']], empty))).ok).toBe(true);
    expect(answer(await apply(replace('a', [['x', 'second']], empty))).ok).toBe(true);
    await apply(kill('inv-hold'));
    // Both read the empty state; the first replaced it, so the second one's version is stale.
    expect(await state('a')).toEqual({ x: 'first' });
  });
});
