import { FIRST_AWAKEABLE_SIGNAL_INDEX, newInvocationId, parseAwakeableId, signalId } from '../src/ids.ts';

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
