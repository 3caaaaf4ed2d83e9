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
