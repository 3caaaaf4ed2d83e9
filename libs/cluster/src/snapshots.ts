import type { PartitionProcessor, PartitionSnapshots } from '@stead/partition';
import { type SnapshotService, type SnapshotsAnswer, snapshotInfo } from './worker-service.ts';

/**
 * The snapshot service of a process that takes snapshots with `snapshots`: `led(p)` is the processor of
 * partition `p` when this process leads it, else why not (then the partition is listed among the failures).
 */
export function snapshotService(
  snapshots: PartitionSnapshots,
  led: (p: number) => PartitionProcessor | string,
): SnapshotService {
  return {
    create: async (partitions) => {
      const out: SnapshotsAnswer = { snapshots: [], failures: [] };
      await Promise.all(
        partitions.map(async (p) => {
          const processor = led(p);
          try {
            if (typeof processor === 'string') throw new Error(processor);
            out.snapshots.push(snapshotInfo(await snapshots.create(processor), snapshots.location));
          } catch (e) {
            out.failures.push({ partition: p, error: e instanceof Error ? e.message : String(e) });
          }
        }),
      );
      return out;
    },
    list: async (partitions) => ({
      snapshots: (await snapshots.list(partitions)).map((m) => snapshotInfo(m, snapshots.location)),
      failures: [],
    }),
  };
}
