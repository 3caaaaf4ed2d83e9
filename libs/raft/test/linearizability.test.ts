import { describe, expect, it } from '@jest/globals';
import {
  checkLinearizable,
  HistoryRecorder,
  type KvInput,
  type KvOutput,
  kvModel,
  type Operation,
} from '../src/linearizability.ts';

type Op = Operation<KvInput, KvOutput>;
const put = (
  client: number,
  call: number,
  ret: number,
  value: string,
  ok: boolean,
  version?: string,
  pre: any = { kind: 'none' },
): Op => ({
  client,
  call,
  ret,
  input: { kind: 'put', key: 'k', value, pre },
  output: { kind: 'write', ok, version },
});
const get = (client: number, call: number, ret: number, value: string | null, version: string | null): Op => ({
  client,
  call,
  ret,
  input: { kind: 'get', key: 'k' },
  output: { kind: 'get', value, version },
});
const check = (h: Op[]) => checkLinearizable(kvModel(h), h).result;

describe('linearizability checker', () => {
  it('accepts a sequential history', () => {
    expect(check([put(0, 1, 2, 'a', true, '5'), get(0, 3, 4, 'a', '5')])).toBe('ok');
  });

  it('rejects a stale read after a completed write', () => {
    expect(check([put(0, 1, 2, 'a', true, '5'), get(1, 3, 4, null, null)])).toBe('illegal');
  });

  it('accepts either order for overlapping operations', () => {
    expect(check([put(0, 1, 4, 'a', true, '5'), get(1, 2, 3, null, null)])).toBe('ok');
    expect(check([put(0, 1, 4, 'a', true, '5'), get(1, 2, 3, 'a', '5')])).toBe('ok');
  });

  it('rejects reads that go back in time', () => {
    expect(check([put(0, 1, 10, 'a', true, '5'), get(1, 2, 3, 'a', '5'), get(2, 4, 5, null, null)])).toBe('illegal');
  });

  it('checks conditional writes: only one of two concurrent creates may win', () => {
    const a = put(0, 1, 4, 'a', true, '5', { kind: 'absent' });
    const b = put(1, 2, 3, 'b', true, '6', { kind: 'absent' });
    expect(check([a, b])).toBe('illegal');
    expect(check([a, { ...b, output: { kind: 'write', ok: false } }])).toBe('ok');
  });

  it('checks matches-version preconditions', () => {
    const h = [
      put(0, 1, 2, 'a', true, '5'),
      put(0, 3, 4, 'b', true, '7', { kind: 'version', version: '5' }),
      put(1, 5, 6, 'c', true, '9', { kind: 'version', version: '5' }),
    ];
    expect(check(h)).toBe('illegal');
    h[2] = { ...h[2], output: { kind: 'write', ok: false } };
    expect(check(h)).toBe('ok');
  });

  it('lets an operation with an unknown outcome take effect or not', () => {
    const lost: Op = {
      client: 0,
      call: 1,
      ret: Infinity,
      input: { kind: 'put', key: 'k', value: 'a', pre: { kind: 'none' } },
      output: undefined,
    };
    expect(check([lost, get(1, 2, 3, 'a', '5')])).toBe('ok');
    expect(check([lost, get(1, 2, 3, null, null)])).toBe('ok');
    expect(check([lost, get(1, 2, 3, 'a', '5'), get(1, 4, 5, null, null)])).toBe('illegal');
  });

  it('partitions by key and records with a logical clock', () => {
    const rec = new HistoryRecorder<KvInput, KvOutput>();
    const d1 = rec.begin(0, { kind: 'put', key: 'x', value: 'x1', pre: { kind: 'none' } });
    const d2 = rec.begin(1, { kind: 'put', key: 'y', value: 'y1', pre: { kind: 'none' } });
    d2({ kind: 'write', ok: true, version: '2' });
    d1({ kind: 'write', ok: true, version: '1' });
    rec.begin(0, { kind: 'get', key: 'x' })({ kind: 'get', value: 'x1', version: '1' });
    const h = rec.history();
    const r = checkLinearizable(kvModel(h), h);
    expect(r).toMatchObject({ result: 'ok', partitions: 2 });
  });

  it('handles long concurrent histories quickly thanks to memoization', () => {
    const h: Op[] = [];
    let t = 0;
    // 6 clients, 400 rounds of overlapping blind writes and reads of the last value
    let last: { v: string; ver: string } | null = null;
    for (let round = 0; round < 400; round++) {
      const start = t;
      const writes: Op[] = [];
      for (let c = 0; c < 5; c++) writes.push(put(c, ++t, 0, `v${round}.${c}`, true, `${round * 10 + c}`));
      const r = get(5, ++t, 0, last?.v ?? null, last?.ver ?? null);
      for (const w of writes) (w as any).ret = ++t;
      (r as any).ret = ++t;
      last = { v: `v${round}.4`, ver: `${round * 10 + 4}` };
      h.push(...writes, r);
      void start;
    }
    const res = checkLinearizable(kvModel(h), h);
    expect(res.result).toBe('ok');
  });
});
