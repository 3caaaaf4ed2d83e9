import { randomBytes } from 'node:crypto';
import {
  FIRST_AWAKEABLE_SIGNAL_INDEX,
  invocationPartitionKey,
  newInvocationId,
  parseAwakeableId,
  parseInvocationId,
  signalId,
} from '../src/ids.ts';
import { InputError } from '../src/invocation.ts';

describe('awakeable ids', () => {
  const inv = newInvocationId(42n);

  it('round-trip from the first awakeable signal index (17) upwards', () => {
    for (const idx of [FIRST_AWAKEABLE_SIGNAL_INDEX, 18, 2 ** 32 - 1]) {
      const parsed = parseAwakeableId(signalId(inv, idx));
      expect(parsed.signalIndex).toBe(idx);
      expect(parsed.invocationId.toString()).toBe(inv.toString());
    }
  });

  it('refuse the reserved built-in signal indexes below 17 (1 = cancel)', () => {
    expect(() => parseAwakeableId(signalId(inv, 1))).toThrow(/signal 1 \(cancel\), which is reserved/);
    for (let idx = 0; idx < FIRST_AWAKEABLE_SIGNAL_INDEX; idx++) {
      expect(() => parseAwakeableId(signalId(inv, idx))).toThrow(/reserved for built-in signals/);
      const legacy = signalId(inv, idx).replace(/^sign_1/, 'prom_1');
      expect(() => parseAwakeableId(legacy)).toThrow(/reserved for built-in signals/);
    }
  });
});

describe('invocationPartitionKey', () => {
  it('answers what parseInvocationId answers, for keys and uuids across their ranges', () => {
    const keys = [0n, 1n, 61n, 62n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];
    for (let i = 0; i < 200; i++) keys.push(BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 53)) << 11n));
    const uuids = [new Uint8Array(16), new Uint8Array(16).fill(0xff)];
    for (const key of keys) {
      for (const uuid of [...uuids, randomBytes(16)]) {
        const id = newInvocationId(key, () => uuid).toString();
        expect(invocationPartitionKey(id)).toBe(parseInvocationId(id).partitionKey);
        expect(invocationPartitionKey(id)).toBe(key);
      }
    }
  });

  it('refuses what parseInvocationId refuses, with its message', () => {
    const tooBigKey = `inv_1${'Z'.repeat(11)}${'0'.repeat(22)}`;
    const tooBigUuid = `inv_1${'0'.repeat(11)}${'Z'.repeat(22)}`;
    const messageOf = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(InputError);
        return (err as Error).message;
      }
      throw new Error('no error thrown');
    };
    for (const bad of ['inv_1abc', 'nope', `inv_1${'-'.repeat(33)}`, tooBigKey, tooBigUuid]) {
      expect(messageOf(() => invocationPartitionKey(bad))).toBe(messageOf(() => parseInvocationId(bad)));
    }
  });
});
