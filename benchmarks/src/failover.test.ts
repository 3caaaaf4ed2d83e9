import { longestGap } from './failover.ts';
import { parseClusterState } from './restate-introspect.ts';

describe('the longest stretch without a success', () => {
  it('spans from the start to the first success, between successes, and from the last one to the end', () => {
    expect(longestGap(0, [10, 20, 500, 510], 600)).toBe(480);
    expect(longestGap(0, [300, 310], 320)).toBe(300);
    expect(longestGap(0, [10, 20], 900)).toBe(880);
    expect(longestGap(0, [], 700)).toBe(700);
  });

  it('takes successes in any order and counts answers that arrive after the clients stopped sending', () => {
    expect(longestGap(100, [400, 150, 200], 300)).toBe(200);
  });
});

// A minimal protobuf encoder for the test: varint fields and length-delimited (nested) messages.
const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const uint = (no: number, v: number) => [...varint(no << 3), ...varint(v)];
const msg = (no: number, body: number[]) => [...varint((no << 3) | 2), ...varint(body.length), ...body];

describe("restate's cluster state", () => {
  it('finds the alive nodes, the replicas of each partition and their leader', () => {
    const status = (mode: number) => [
      ...msg(1, [...uint(1, 1_700_000_000), ...uint(2, 5)]),
      ...uint(2, mode),
      ...uint(3, mode),
    ];
    const partition = (id: number, mode: number) => msg(3, [...uint(1, id), ...msg(2, status(mode))]);
    const aliveNode = (id: number, parts: number[][]) =>
      msg(4, [
        ...uint(1, id),
        ...msg(2, msg(1, [...msg(1, [...uint(1, id), ...uint(2, 1)]), ...parts.flat(), ...uint(4, 30)])),
      ]);
    const deadNode = (id: number) => msg(4, [...uint(1, id), ...msg(2, msg(2, msg(1, uint(1, 5))))]);
    const state = [
      ...msg(2, uint(1, 7)),
      ...aliveNode(1, [partition(0, 1), partition(1, 2)]),
      ...aliveNode(2, [partition(0, 2), partition(1, 1), partition(2, 1)]),
      ...deadNode(3),
    ];
    const s = parseClusterState(Uint8Array.from(msg(1, state)));
    expect(s.alive).toEqual([1, 2]);
    expect(s.partitions.get(0)).toEqual({ replicas: [1, 2], leaders: [1] });
    expect(s.partitions.get(1)).toEqual({ replicas: [1, 2], leaders: [2] });
    expect(s.partitions.get(2)).toEqual({ replicas: [2], leaders: [2] });
  });
});
