import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetadataStore, type MetadataStore } from '@stead/metadata';
import { fixPartitionCount, metadataEpochs, PartitionCountMismatch } from '../src/index.ts';

describe('epochs and the partition count in the metadata store', () => {
  let dir: string;
  let store: MetadataStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stead-epochs-'));
    store = await createMetadataStore({ nodeId: 'n1', dataDir: join(dir, 'md') });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands out epochs that only grow, per partition, also under concurrent callers and after a reopen', async () => {
    const a = metadataEpochs(store.client);
    const b = metadataEpochs(store.client);
    const got = await Promise.all([...Array(10)].map((_, i) => (i % 2 ? a : b).next(3)));
    expect(new Set(got).size).toBe(10);
    expect(Math.min(...got)).toBe(1);
    expect(Math.max(...got)).toBe(10);
    expect(await a.next(4)).toBe(1); // another partition has its own counter
    await store.close();
    store = await createMetadataStore({ nodeId: 'n1', dataDir: join(dir, 'md') });
    expect(await metadataEpochs(store.client).next(3)).toBe(11);
  });

  it('fixes the partition count at first use and refuses another one, naming both', async () => {
    await fixPartitionCount(store.client, 8);
    await fixPartitionCount(store.client, 8);
    const err = await fixPartitionCount(store.client, 16).catch((e) => e);
    expect(err).toBeInstanceOf(PartitionCountMismatch);
    expect(String(err.message)).toMatch(/created with 8 partitions, and this start asks for 16/);
  });
});
