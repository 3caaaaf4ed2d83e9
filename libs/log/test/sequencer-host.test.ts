import { randomUUID } from 'node:crypto';
import { afterEach, expect, test } from '@jest/globals';
import type { Timers } from '../src/replicated/quorum.ts';
import { SequencerHost } from '../src/replicated/sequencer-host.ts';
import { GrpcLogCluster } from './fixtures/grpc-log-cluster.ts';

// A process that sequenced a loglet while it led the log lets go of it once the log moved on: an idle
// sequencer whose segment the chain names sealed is closed, and dropped once nobody reads it.

let cluster: GrpcLogCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** Real timers with a clock that a test moves forward. */
function skewedTimers(): Timers & { skipMs: (ms: number) => void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    after(ms, fn) {
      const t = setTimeout(fn, ms);
      return () => clearTimeout(t);
    },
    skipMs: (ms) => {
      offset += ms;
    },
  };
}

test('a sequencer of a sealed, idle loglet is closed and then dropped; an open idle one stays', async () => {
  cluster = await GrpcLogCluster.start({ logServers: 3, sequencers: 1 });
  const timers = skewedTimers();
  const host = new SequencerHost({
    id: 'w1',
    instance: randomUUID(),
    metadata: cluster.metadata,
    logServers: (id) => cluster!.logServers.get(id)!.client,
    timers,
    random: Math.random,
  });
  const here = { ...cluster.place(), sequencer: { id: host.id, instance: host.instance } };
  const bifrost = cluster.bifrost({
    sequencers: (ref) => (ref.id === host.id ? host : cluster!.sequencers.get(ref.id)!.client),
  });
  try {
    await bifrost.create('moved', here);
    await bifrost.create('stays', here);
    await bifrost.append('moved', [new Uint8Array([1])]);
    await bifrost.append('stays', [new Uint8Array([2])]);
    expect(
      host
        .loglets()
        .map(([id]) => id)
        .sort(),
    ).toEqual(['moved.0', 'stays.0']);
    // The log moves to another sequencer (a new leader sealed this one's segment without telling it).
    await bifrost.reconfigure('moved', 'leader moved', cluster.place());
    timers.skipMs(61_000);
    await host.sweep();
    const moved = host.loglets().find(([id]) => id === 'moved.0')?.[1];
    expect(moved?.endedAtMs).toBeDefined();
    await expect(host.append('moved.0', [new Uint8Array([3])])).rejects.toThrow(/sealed/);
    timers.skipMs(61_000);
    await host.sweep();
    expect(host.loglets().map(([id]) => id)).toEqual(['stays.0']);
    // Dropped for good: the chain refuses to hand the sealed loglet to this process again.
    await expect(host.append('moved.0', [new Uint8Array([4])])).rejects.toThrow(/sealed/);
    // The open one, idle as long, still sequences from where it was.
    expect(await bifrost.append('stays', [new Uint8Array([5])])).toBe(1n);
  } finally {
    host.close();
  }
}, 30_000);

test('a reconfiguration made by a third party that keeps the sequencer ref is taken up by that host', async () => {
  cluster = await GrpcLogCluster.start({ logServers: 3, sequencers: 1 });
  // A worker's colocated host sequences the log; its own Bifrost appends through it.
  const host = new SequencerHost({
    id: 'w1',
    instance: randomUUID(),
    metadata: cluster.metadata,
    logServers: (id) => cluster!.logServers.get(id)!.client,
    timers: skewedTimers(),
    random: Math.random,
  });
  const me = { id: host.id, instance: host.instance };
  const viaHost = (ref: { id: string }) => (ref.id === host.id ? host : cluster!.sequencers.get(ref.id)!.client);
  const worker = cluster.bifrost({ sequencers: viaHost });
  // The admin (another process, another Bifrost) reconfigures with an explicit placement naming the same host.
  const admin = cluster.bifrost({ sequencers: viaHost });
  try {
    await worker.create('p0', { ...cluster.place(), sequencer: me });
    expect(await worker.append('p0', [new Uint8Array([1])])).toBe(0n);
    const nodeset = [{ id: 'ls1' }, { id: 'ls2' }];
    const chain = await admin.reconfigure(
      'p0',
      'rebalance',
      { sequencer: me, nodeset, replication: { scope: 'node', count: 2 } },
      0,
    );
    expect(chain.segments.map((s) => [s.index, s.sequencer.id, s.sealedTail])).toEqual([
      [0, 'w1', 1n],
      [1, 'w1', undefined],
    ]);
    // The worker's next append finds its segment sealed, follows the chain and lands on the new loglet, which the
    // same host adopts because the segment names this very instance.
    expect(await worker.append('p0', [new Uint8Array([2])])).toBe(1n);
    expect(host.loglets().map(([id]) => id)).toContain('p0.1');
    expect((await worker.read('p0', 0n, 10)).map((r) => r.payload[0])).toEqual([1, 2]);
    // A decision about segment 0 no longer applies once segment 1 is open.
    const same = await admin.reconfigure('p0', 'stale', undefined, 0);
    expect(same.segments).toHaveLength(2);
  } finally {
    host.close();
  }
}, 30_000);
