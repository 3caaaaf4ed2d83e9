/**
 * @stead/storage: the partition store (one LevelDB for the partitions of a process) with a write overlay,
 * savepoints, a read cache and prefix scans over binary keys (with a limit and an `after` cursor, to page a
 * table), and consistent copies of one partition's store for snapshots (`StorageEngine.snapshotPartition`,
 * `restorePartition`). It knows nothing of the tables it holds: their key layout and value codecs live in
 * libs/partition/src/tables.ts. Tests: `npx jest` in this folder.
 */
export {
  type Codec,
  CorruptValueError,
  type LeveldbStats,
  leveldbStats,
  type PartitionSnapshotView,
  PartitionStore,
  type SnapshotEntry,
  StorageEngine,
  type StorageOptions,
} from './store.ts';
