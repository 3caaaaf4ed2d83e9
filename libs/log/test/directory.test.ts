import { expect, test } from '@jest/globals';
import type { SequencerApi } from '../src/bifrost/bifrost.ts';
import { ClusterDirectory } from '../src/cluster/directory.ts';
import { updateNodes } from '../src/cluster/nodes.ts';
import type { LogServerApi } from '../src/replicated/types.ts';
import { MemoryChainStore } from './fixtures/grpc-log-cluster.ts';

// Placement of new segments from the registered nodes: dedicated sequencers first, a worker's colocated
// sequencer only when no dedicated one is available, and a given sequencer for a leader moving its log.

const unused = () => {
  throw new Error('no connection expected in this test');
};

async function directoryWith(sequencers: Record<string, { colocated?: boolean }>) {
  const metadata = new MemoryChainStore();
  await updateNodes(metadata, () => ({
    logServers: { ls1: { address: 'a:1' }, ls2: { address: 'a:2' }, ls3: { address: 'a:3' } },
    sequencers: Object.fromEntries(
      Object.entries(sequencers).map(([id, s]) => [id, { address: `${id}:1`, instance: `${id}-i`, ...s }]),
    ),
  }));
  return new ClusterDirectory({
    metadata,
    connectLogServer: unused as unknown as (a: string) => LogServerApi,
    connectSequencer: unused as unknown as (a: string) => SequencerApi,
    replication: { scope: 'node', count: 2 },
  });
}

test('placement picks dedicated sequencers in turn and a colocated one only when no dedicated one is left', async () => {
  const d = await directoryWith({ seq1: {}, seq2: {}, w1: { colocated: true }, w2: { colocated: true } });
  const picked = new Set<string>();
  for (let i = 0; i < 6; i++) picked.add((await d.place(undefined)).sequencer.id);
  expect([...picked].sort()).toEqual(['seq1', 'seq2']);
  // Both dedicated sequencers just failed: a worker takes the log.
  await d.place(undefined, { id: 'seq1', instance: 'seq1-i' });
  const next = await d.place(undefined, { id: 'seq2', instance: 'seq2-i' });
  expect(next.sequencer.id).toMatch(/^w[12]$/);
  expect(next.nodeset.map((m) => m.id)).toEqual(['ls1', 'ls2', 'ls3']);
});

test('without dedicated sequencers the workers sequence; placeAt names the given one', async () => {
  const d = await directoryWith({ w1: { colocated: true }, w2: { colocated: true } });
  expect((await d.place(undefined)).sequencer.id).toMatch(/^w[12]$/);
  const at = await d.placeAt({ id: 'w2', instance: 'w2-i' });
  expect(at).toEqual({
    sequencer: { id: 'w2', instance: 'w2-i' },
    nodeset: [{ id: 'ls1' }, { id: 'ls2' }, { id: 'ls3' }],
    replication: { scope: 'node', count: 2 },
  });
});

test('placement skips draining sequencers, draining and failed log servers, and reads replication live', async () => {
  const metadata = new MemoryChainStore();
  await updateNodes(metadata, () => ({
    logServers: {
      ls1: { address: 'a:1' },
      ls2: { address: 'a:2', draining: true },
      ls3: { address: 'a:3' },
      ls4: { address: 'a:4' },
    },
    sequencers: { seq1: { address: 's:1', instance: 'i1', draining: true }, seq2: { address: 's:2', instance: 'i2' } },
  }));
  let replication = { scope: 'node' as const, count: 2 };
  const d = new ClusterDirectory({
    metadata,
    connectLogServer: unused as unknown as (a: string) => LogServerApi,
    connectSequencer: unused as unknown as (a: string) => SequencerApi,
    replication: () => replication,
    failedLogServers: () => new Set(['ls4']),
  });
  for (let i = 0; i < 3; i++) {
    const p = await d.place(undefined);
    expect(p.sequencer.id).toBe('seq2');
    expect(p.nodeset.map((m) => m.id)).toEqual(['ls1', 'ls3']);
    expect(p.replication.count).toBe(2);
  }
  replication = { scope: 'node', count: 3 };
  await expect(d.place(undefined)).rejects.toThrow(/needs 3 nodes, the nodeset has 2/);
});
