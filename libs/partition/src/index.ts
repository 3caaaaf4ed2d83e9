/**
 * @stead/partition — a partition's log, the state machine that applies it, and the leader and invoker that
 * carry out its effects. `PartitionHost` hosts any subset of the partitions in a process (following their logs,
 * leading those it is told to) and answers requests for the ones it leads; `Engine` is the one-process form:
 * the local log and storage, and a host that leads every partition (see README.md). The public surface is what
 * the server and the worker need, plus the Clock and Timers a simulation implements to drive them.
 */

export type { SnapshotManifest } from '@stead/snapshots';
export { type Clock, systemClock, systemTimers, type TimerHandle, type Timers } from './clock.ts';
export { decodeCommand, encodeCommand, scheduleDefinitionFrom, scheduleDefinitionTo } from './codec.ts';
export { Engine, type EngineOptions } from './engine.ts';
export {
  type EpochSource,
  fixPartitionCount,
  metadataEpochs,
  PartitionCountMismatch,
  readPartitionCount,
} from './epochs.ts';
export { type HostedPartitionStatus, type Logger, PartitionHost, type PartitionHostOptions } from './host.ts';
export { type InvocationPlan, ids, planInvocation } from './invocation-ids.ts';
export {
  type AttemptOutcome,
  type InvocationMetrics,
  registerHostMetrics,
  registerInvocationMetrics,
} from './metrics.ts';
export { type PartitionProcessor, type ProcessorRole, SupersededError } from './processor.ts';
export {
  PartitionSnapshots,
  type PartitionSnapshotsOptions,
  registerSnapshotMetrics,
  type SnapshotFigures,
  storedAppliedOffset,
} from './snapshots.ts';
export { openPartitionStorage } from './tables.ts';
export type { Command, Dedup } from './types.ts';
