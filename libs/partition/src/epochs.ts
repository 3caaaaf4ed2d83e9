import { type MetadataClient, MetadataError, Precondition } from '@stead/metadata';

/**
 * Hands out leader epochs: for each partition a durable counter that only grows. An epoch is never taken from
 * a clock (a clock stepped back would make a new leader look older than the last one, and every effect it
 * appends would be dropped).
 */
export interface EpochSource {
  /** An epoch for `partitionId` greater than every epoch handed out for it before, durably. */
  next(partitionId: number): Promise<number>;
}

export function epochKey(partitionId: number): string {
  return `partitions/${partitionId}/epoch`;
}

function decodeCount(key: string, value: Uint8Array): number {
  const text = new TextDecoder().decode(value);
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new Error(`metadata key ${key} holds '${text}', not a number`);
  }
  return n;
}

/** Epochs kept in the metadata store, advanced with a conditional write (read, then put if unchanged). */
export function metadataEpochs(client: MetadataClient): EpochSource {
  return {
    async next(partitionId) {
      const key = epochKey(partitionId);
      for (;;) {
        const current = await client.get(key);
        const epoch = (current ? decodeCount(key, current.value) : 0) + 1;
        const precondition = current ? Precondition.matchesVersion(current.version) : Precondition.doesNotExist;
        try {
          await client.put(key, new TextEncoder().encode(String(epoch)), precondition);
          return epoch;
        } catch (e) {
          // Someone else advanced it between our read and write: read again.
          if (e instanceof MetadataError && e.code === 'precondition-failed') continue;
          throw e;
        }
      }
    },
  };
}

/** Thrown when a data dir is started with another partition count than the one it was created with. */
export class PartitionCountMismatch extends Error {
  override name = 'PartitionCountMismatch';
}

const PARTITIONS_KEY = 'cluster/partitions';

/** The partition count fixed at the cluster's first start; undefined before any admin fixed it. */
export async function readPartitionCount(client: Pick<MetadataClient, 'get'>): Promise<number | undefined> {
  const stored = await client.get(PARTITIONS_KEY);
  return stored ? decodeCount(PARTITIONS_KEY, stored.value) : undefined;
}

/**
 * Fixes the partition count at first start (stored in the metadata store) and refuses another count later:
 * keys hash to partitions by that count, so a different one would route keys away from their state.
 */
export async function fixPartitionCount(client: MetadataClient, partitions: number): Promise<void> {
  const encoded = new TextEncoder().encode(String(partitions));
  try {
    await client.put(PARTITIONS_KEY, encoded, Precondition.doesNotExist);
    return;
  } catch (e) {
    if (!(e instanceof MetadataError && e.code === 'precondition-failed')) throw e;
  }
  const stored = await client.get(PARTITIONS_KEY);
  const fixed = stored ? decodeCount(PARTITIONS_KEY, stored.value) : undefined;
  if (fixed !== partitions) {
    throw new PartitionCountMismatch(
      `this data dir was created with ${fixed} partitions, and this start asks for ${partitions} (--partitions / STEAD_PARTITIONS). The partition count is fixed at first start: keys are routed to partitions by it. Start with --partitions ${fixed}, or use a new data dir.`,
    );
  }
}
