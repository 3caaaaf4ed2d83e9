/**
 * Property test of the key layout: object keys are arbitrary strings (empty, NUL and other separator bytes,
 * unicode, 10 KB) and state keys arbitrary bytes. The state of different objects never mixes, locks are per
 * object key, "" is a key like any other and distinct from "no key", and all of it survives a reopen.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ids } from '../src/engine.ts';
import * as J from '../src/journal.ts';
import { PartitionReader, PartitionStateMachine } from '../src/state-machine.ts';
import { openPartitionStorage, PartitionTables, strKey } from '../src/tables.ts';
import type { Command, JournalEntry, Target } from '../src/types.ts';

function setStateCmd(key: Uint8Array, value: Uint8Array): JournalEntry {
  const w = new BinaryWriter();
  w.uint32((1 << 3) | WireType.LengthDelimited).bytes(key);
  w.uint32((3 << 3) | WireType.LengthDelimited).fork();
  w.uint32((1 << 3) | WireType.LengthDelimited).bytes(value);
  w.join();
  return { type: J.T.SetState, bytes: w.finish() };
}

const object = (key: string | undefined): Target => ({
  service: 'Obj',
  handler: 'run',
  key,
  serviceType: 'VIRTUAL_OBJECT',
  handlerType: 'EXCLUSIVE',
});
const service: Target = { service: 'Obj', handler: 'run', serviceType: 'SERVICE', handlerType: undefined };

const objectKeyArb = fc.oneof(
  fc.constantFrom(
    '',
    '\u0000',
    '\u0000\u0000',
    '\u0000\u0001',
    'k',
    'k\u0000',
    'k\u0000x',
    'k\u0001',
    '\u00ff',
    'é',
    '🙂',
  ),
  fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => s.isWellFormed()),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.constant('x'.repeat(10 * 1024)),
  fc.constant(`${'x'.repeat(10 * 1024)}\u0000`),
);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const objectsArb = fc.uniqueArray(
  fc.record({
    key: objectKeyArb,
    writes: fc.uniqueArray(fc.uint8Array({ maxLength: 6 }), { selector: hex, maxLength: 4 }),
  }),
  { selector: (o) => o.key, minLength: 1, maxLength: 6 },
);

it('string key components are injective and prefix-free', () => {
  fc.assert(
    fc.property(objectKeyArb, objectKeyArb, objectKeyArb, objectKeyArb, (a, b, c, d) => {
      // (a, b) and (c, d) encode alike only if they are the same pair; no encoding is a prefix of another.
      const x = strKey(a) + strKey(b);
      const y = strKey(c) + strKey(d);
      expect(x === y).toBe(a === c && b === d);
      if (a !== c) expect(strKey(a).startsWith(strKey(c))).toBe(false);
    }),
    { numRuns: 500 },
  );
  expect(() => strKey('\ud800')).toThrow(/not well-formed Unicode/);
});

it('keeps the state and the lock of every object key apart, "" included, across a reopen', async () => {
  await fc.assert(
    fc.asyncProperty(objectsArb, async (objects) => {
      const dir = mkdtempSync(join(tmpdir(), 'stead-keys-'));
      let engine = await openPartitionStorage(dir);
      try {
        let store = engine.partition(0);
        const sm = new PartitionStateMachine(store, { partitionId: 0, ...ids });
        let n = 0;
        const invoke = async (target: Target) => {
          const id = `inv-${n++}`;
          const cmd: Command = {
            kind: 'Invoke',
            ts: 1,
            inv: { id, target, input: new Uint8Array(), headers: [], sink: { kind: 'ingress', node: id } },
          };
          await sm.apply(cmd);
          return id;
        };
        const set = (id: string, key: Uint8Array, value: Uint8Array) =>
          sm.apply({
            kind: 'Effect',
            ts: 2,
            epoch: 0,
            invocationId: id,
            effect: { kind: 'command', entry: setStateCmd(key, value) },
          });

        const first = new Map<string, string>();
        const second = new Map<string, string>();
        for (const o of objects) {
          const id = await invoke(object(o.key));
          first.set(o.key, id);
          for (const k of o.writes) await set(id, k, Buffer.from(`${o.key.length}:${hex(k)}`));
        }
        // A second invocation of each key waits for the first: locks are per key.
        for (const o of objects) second.set(o.key, await invoke(object(o.key)));
        // A service invocation has no key: it is not "" (no lock, no state).
        const svc = await invoke(service);
        await set(svc, Buffer.from('svc'), Buffer.from('nope'));

        const check = async () => {
          const reader = new PartitionReader(store);
          const tables = new PartitionTables(store);
          for (const o of objects) {
            const state = await reader.stateOf(object(o.key));
            const expected = [...o.writes].sort(Buffer.compare).map((k) => [hex(k), `${o.key.length}:${hex(k)}`]);
            expect(state.map(([k, v]) => [hex(k), Buffer.from(v).toString()])).toEqual(expected);
            expect(await tables.lockHolder(object(o.key))).toBe(first.get(o.key));
            expect((await reader.status(first.get(o.key)!))?.phase).toBe('invoked');
            expect((await reader.status(second.get(o.key)!))?.phase).toBe('inboxed');
            expect(await tables.inbox(object(o.key))).toEqual([second.get(o.key)]);
          }
          const st = await reader.status(svc);
          expect(st?.phase).toBe('invoked');
          expect(st?.target.key).toBeUndefined();
          expect(await reader.stateOf(service)).toEqual([]);
        };
        await check();
        await store.commit();
        await engine.close();
        engine = await openPartitionStorage(dir);
        store = engine.partition(0);
        await check();
      } finally {
        await engine.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    {
      numRuns: 40,
      // The collisions of a `service\0key\0` layout: object "k" would see the state of object "k\0x".
      examples: [
        [
          [
            { key: 'k', writes: [Buffer.from('a')] },
            { key: 'k\u0000x', writes: [Buffer.from('b')] },
            { key: '', writes: [Buffer.from('c')] },
            { key: '\u0000', writes: [new Uint8Array([0, 1])] },
          ],
        ],
      ],
    },
  );
});

it('an object target without a key is the object with key ""', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stead-keys-'));
  const engine = await openPartitionStorage(dir);
  try {
    const store = engine.partition(0);
    const sm = new PartitionStateMachine(store, { partitionId: 0, ...ids });
    const inv = (id: string, target: Target): Command => ({
      kind: 'Invoke',
      ts: 1,
      inv: { id, target, input: new Uint8Array(), headers: [] },
    });
    await sm.apply(inv('a', object('')));
    await sm.apply(inv('b', object(undefined)));
    const reader = new PartitionReader(store);
    expect((await reader.status('b'))?.target.key).toBe('');
    expect((await reader.status('b'))?.phase).toBe('inboxed');
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
