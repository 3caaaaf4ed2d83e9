// @stead/raft: Raft as a pure state machine (no clock, no I/O): inputs through `step`/`tick`/`propose`, outputs as
// one `Ready` value. The simulation and the linearizability checker are a separate entry, `@stead/raft/sim`.
export { Raft } from './raft.ts';
export {
  type ConfState,
  type Entry,
  type HardState,
  type Member,
  type Message,
  type MessageType,
  type Ready,
  type Snapshot,
  type SoftState,
  voters,
} from './types.ts';
