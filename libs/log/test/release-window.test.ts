import { describe, expect, test } from '@jest/globals';
import { LogServerCore, MemoryLogServerStorage } from '../src/replicated/log-server-core.ts';
import { realTimers } from '../src/replicated/quorum.ts';
import { type ReleaseEnd, type ReleaseSink, ReleaseWindow } from '../src/replicated/release-window.ts';
import { SequencerCore } from '../src/replicated/sequencer-core.ts';
import type { LogServerApi, StoreRequest, StoreResponse } from '../src/replicated/types.ts';

const rec = (i: number, bytes = 10) => new Uint8Array(bytes).fill(i % 256);

/** A sink that records what it gets; `accept` decides whether it takes more (false = its buffer is full). */
function sink(accept: () => boolean = () => true) {
  const got: Array<{ first: bigint; n: number; tail: bigint }> = [];
  const ends: ReleaseEnd[] = [];
  const s: ReleaseSink = {
    records: (first, payloads, tail) => {
      got.push({ first, n: payloads.length, tail });
      return accept();
    },
    end: (e) => ends.push(e),
  };
  return {
    s,
    got,
    ends,
    offsets: () => got.flatMap((g) => Array.from({ length: g.n }, (_, i) => g.first + BigInt(i))),
  };
}

describe('release window', () => {
  test('pushes held and new records in order, without gaps, in bounded messages', () => {
    const w = new ReleaseWindow(0n, { maxBytes: 1 << 20, maxMessageBytes: 25 });
    w.add(0n, [rec(0), rec(1), rec(2), rec(3), rec(4)]);
    const a = sink();
    w.subscribe(2n, a.s);
    w.add(5n, [rec(5)]);
    expect(a.offsets()).toEqual([2n, 3n, 4n, 5n]);
    // 25 bytes per message: two 10-byte records each.
    expect(a.got.map((g) => g.n)).toEqual([2, 1, 1]);
    expect(a.got.at(-1)!.tail).toBe(6n);
    // A subscriber at the tail gets an empty batch first (caught up), then the next release.
    const b = sink();
    w.subscribe(6n, b.s);
    expect(b.got).toEqual([{ first: 6n, n: 0, tail: 6n }]);
    w.add(6n, [rec(6)]);
    expect(b.offsets()).toEqual([6n]);
    expect(() => w.add(9n, [rec(9)])).toThrow(/do not continue the released tail 7/);
  });

  test('keeps at most maxBytes, oldest first; below the window a subscriber is told where it starts', () => {
    const w = new ReleaseWindow(0n, { maxBytes: 10 * (100 + 64) });
    for (let i = 0; i < 50; i++) w.add(BigInt(i), [rec(i, 100)]);
    expect(w.windowStart).toBe(40n);
    expect(w.end).toBe(50n);
    const a = sink();
    w.subscribe(39n, a.s);
    expect(a.ends).toEqual([{ kind: 'below-window', windowStart: 40n, tail: 50n }]);
    expect(a.got).toEqual([]);
  });

  test('a subscriber that stops draining ends as too-slow once its next record leaves the window', () => {
    const w = new ReleaseWindow(0n, { maxBytes: 4 * (10 + 64), maxMessageBytes: 10 });
    let open = true;
    const a = sink(() => open);
    w.subscribe(0n, a.s); // empty batch, still open
    w.add(0n, [rec(0)]);
    open = false;
    w.add(1n, [rec(1)]); // delivered, then paused
    w.add(2n, [rec(2)]);
    w.add(3n, [rec(3)]);
    expect(a.offsets()).toEqual([0n, 1n]);
    expect(a.ends).toEqual([]);
    w.add(4n, [rec(4)]);
    w.add(5n, [rec(5)]);
    w.add(6n, [rec(6)]); // offset 2 leaves the window
    expect(a.ends).toEqual([{ kind: 'too-slow', windowStart: 3n, tail: 7n }]);
    expect(w.subscribers).toBe(0);
  });

  test('a paused subscriber resumes where it stopped; sealing ends subscribers after what they lack', () => {
    const w = new ReleaseWindow(0n, { maxMessageBytes: 10 });
    let open = false;
    const a = sink(() => open);
    const sub = w.subscribe(0n, a.s);
    w.add(0n, [rec(0), rec(1), rec(2)]);
    expect(a.offsets()).toEqual([]);
    open = true;
    sub.resume();
    expect(a.offsets()).toEqual([0n, 1n, 2n]);
    w.close({ kind: 'sealed', tail: 3n });
    expect(a.ends).toEqual([{ kind: 'sealed', tail: 3n }]);
    const late = sink();
    w.subscribe(1n, late.s);
    expect(late.offsets()).toEqual([1n, 2n]);
    expect(late.ends).toEqual([{ kind: 'sealed', tail: 3n }]);
  });
});

describe('sequencer read streams', () => {
  test('a record is pushed only once a write quorum holds it', async () => {
    const servers = new Map(['a', 'b', 'c'].map((id) => [id, new LogServerCore(new MemoryLogServerStorage())]));
    // Stores to c are held until released by the test; replication 2 with a and c as the copyset.
    const held: Array<() => void> = [];
    const directory = (id: string): LogServerApi => {
      const core = servers.get(id)!;
      if (id !== 'c') return core;
      // The sequencer only stores.
      return {
        store: (r: StoreRequest) =>
          new Promise<StoreResponse>((resolve) => held.push(() => void core.store(r).then(resolve))),
      } as unknown as LogServerApi;
    };
    const seq = new SequencerCore(
      { logletId: 'q.0', nodeset: [{ id: 'a' }, { id: 'c' }], replication: { scope: 'node', count: 2 } },
      directory,
      { timers: realTimers, random: () => 0 },
    );
    const a = sink();
    seq.subscribe(0n, a.s);
    const appended = seq.append([rec(1)]);
    // Stored on a, not yet on c: nothing released, nothing pushed.
    const storedOnA = async () =>
      (await servers.get('a')!.getDigest({ logletId: 'q.0', from: 0n, to: 1n })).offsets.length === 1;
    const deadline = Date.now() + 5_000;
    while ((held.length === 0 || !(await storedOnA())) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 1));
    expect(held.length).toBe(1);
    expect(await storedOnA()).toBe(true);
    expect(a.offsets()).toEqual([]);
    expect(seq.tail).toBe(0n);
    held.shift()!();
    expect(await appended).toBe(0n);
    expect(a.offsets()).toEqual([0n]);
    seq.close();
    expect(a.ends.map((e) => e.kind)).toEqual(['closed']);
  });
});
