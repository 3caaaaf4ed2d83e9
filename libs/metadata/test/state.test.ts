import { describe, expect, it } from '@jest/globals';
import type { metadata as pb } from '@stead/proto';
import { KvStateMachine, Precondition, RESULT_OK, RESULT_PRECONDITION_FAILED, toPbPrecondition } from '../src/state.ts';

const put = (key: string, v: string, pre?: Precondition, rid?: [string, number, number]): pb.Command => ({
  requestId: rid ? { clientId: rid[0], seq: BigInt(rid[1]), ackedBelow: BigInt(rid[2]) } : undefined,
  op: {
    $case: 'put',
    value: { key, value: Buffer.from(v), precondition: toPbPrecondition(pre), requestId: undefined },
  },
});
const del = (key: string, pre?: Precondition): pb.Command => ({
  requestId: undefined,
  op: { $case: 'delete', value: { key, precondition: toPbPrecondition(pre), requestId: undefined } },
});

describe('KvStateMachine', () => {
  it('versions values by the index of their write and checks preconditions', () => {
    const sm = new KvStateMachine();
    expect(sm.apply(5, put('a', 'x', Precondition.doesNotExist)).result).toMatchObject({
      code: RESULT_OK,
      version: 5n,
    });
    expect(sm.apply(6, put('a', 'y', Precondition.doesNotExist)).result).toMatchObject({
      code: RESULT_PRECONDITION_FAILED,
      currentVersion: 5n,
    });
    expect(sm.apply(7, put('a', 'y', Precondition.matchesVersion(4))).result.code).toBe(RESULT_PRECONDITION_FAILED);
    expect(sm.apply(8, put('a', 'y', Precondition.matchesVersion(5))).result).toMatchObject({
      code: RESULT_OK,
      version: 8n,
    });
    expect(sm.get('a')?.version).toBe(8);
    expect(sm.apply(9, del('a', Precondition.matchesVersion(5))).result.code).toBe(RESULT_PRECONDITION_FAILED);
    const d = sm.apply(10, del('a', Precondition.matchesVersion(8)));
    expect(d.result).toMatchObject({ code: RESULT_OK, existed: true });
    expect(d.change).toMatchObject({ key: 'a', deleted: true, version: 10 });
    expect(sm.get('a')).toBeUndefined();
    expect(sm.apply(11, del('a')).result).toMatchObject({ code: RESULT_OK, existed: false });
    expect(sm.apply(12, put('a', 'z', Precondition.matchesVersion(8))).result).toMatchObject({
      code: RESULT_PRECONDITION_FAILED,
      currentVersion: 0n,
    });
  });

  it('applies a request id once and answers duplicates with the first result', () => {
    const sm = new KvStateMachine();
    const first = sm.apply(3, put('k', 'v1', Precondition.doesNotExist, ['c1', 1, 1]));
    expect(first.result.code).toBe(RESULT_OK);
    const dup = sm.apply(4, put('k', 'v1', Precondition.doesNotExist, ['c1', 1, 1]));
    expect(dup.result).toMatchObject({ code: RESULT_OK, version: 3n });
    expect(dup.change).toBeUndefined();
    expect(sm.get('k')?.version).toBe(3);
    // acked: the session forgets it, and a replay is refused rather than applied again
    sm.apply(5, put('k', 'v2', undefined, ['c1', 2, 2]));
    expect(sm.apply(6, put('k', 'v1', undefined, ['c1', 1, 1])).result.code).toBe(2);
    expect(sm.get('k')?.version).toBe(5);
  });

  it('round-trips through a snapshot image, sessions included', () => {
    const sm = new KvStateMachine();
    sm.apply(1, put('a', '1', undefined, ['c', 1, 1]));
    sm.apply(2, put('b', '2'));
    const copy = KvStateMachine.fromImage(sm.image());
    expect(copy.applied).toBe(2);
    expect(copy.get('a')?.version).toBe(1);
    expect(Buffer.from(copy.get('b')!.value).toString()).toBe('2');
    expect(copy.apply(3, put('a', '1', undefined, ['c', 1, 1])).result.version).toBe(1n);
    expect(copy.image()).toEqual(KvStateMachine.fromImage(copy.image()).image());
  });
});
