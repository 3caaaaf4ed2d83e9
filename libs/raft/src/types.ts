/** Node ids are opaque strings (e.g. `"1"`, `"ms-0"`). The empty string means "nobody". */
export type NodeId = string;

export type EntryType = 'normal' | 'conf';

/**
 * A log entry. `normal` entries carry application data (an empty `data` is the no-op a new leader appends);
 * `conf` entries carry the complete new membership (see {@link encodeConf}), which takes effect as soon as the
 * entry is appended to a log (single-server membership changes, Raft dissertation §4.1).
 */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * A member and its address (opaque to Raft; the transport uses it). A `learner` receives the log and snapshots but
 * does not vote, does not count for commit or election quorums and never campaigns; the leader promotes it to a
 * voter once it has caught up.
 */
export interface Member {
  readonly id: NodeId;
  readonly addr: string;
  readonly learner?: boolean;
}

/** A membership configuration (voters and learners), members sorted by id. */
export interface ConfState {
  readonly members: readonly Member[];
}

/** The voting members of `conf`. */
export function voters(conf: ConfState): Member[] {
  return conf.members.filter((m) => !m.learner);
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`. */
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** What must be on stable storage before messages of the same Ready are sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader';

interface Base {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export interface AppendMsg extends Base {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}
export interface AppendRespMsg extends Base {
  readonly type: 'appendResp';
  /** On success: the follower's last index matching the leader. On reject: the rejected prevIndex. */
  readonly index: number;
  readonly reject: boolean;
  /** On reject: the largest index at which the logs may match. */
  readonly hint: number;
}
export interface HeartbeatMsg extends Base {
  readonly type: 'heartbeat';
  readonly commit: number;
  /** Read-index round this heartbeat belongs to ('' for a plain heartbeat). */
  readonly ctx: string;
}
export interface HeartbeatRespMsg extends Base {
  readonly type: 'heartbeatResp';
  readonly ctx: string;
}
export interface VoteMsg extends Base {
  readonly type: 'vote' | 'prevote';
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Set by a leadership transfer: voters ignore their leader lease. */
  readonly force: boolean;
}
export interface VoteRespMsg extends Base {
  readonly type: 'voteResp' | 'prevoteResp';
  readonly reject: boolean;
}
export interface SnapshotMsg extends Base {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}
export interface TimeoutNowMsg extends Base {
  readonly type: 'timeoutNow';
}

export type Message =
  | AppendMsg
  | AppendRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | VoteMsg
  | VoteRespMsg
  | SnapshotMsg
  | TimeoutNowMsg;

export type MessageType = Message['type'];

/** A confirmed read index: once the state machine has applied `index`, a read tagged `ctx` is linearizable. */
export interface ReadState {
  readonly index: number;
  readonly ctx: string;
}

export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
  readonly term: number;
}

/**
 * Work for the application, in this order:
 * 1. if `snapshot`: persist it, drop the stored log up to and including its index, restore the state machine;
 * 2. persist `entries` (first drop every stored entry with index >= entries[0].index) and `hardState`, synced;
 * 3. send `messages`;
 * 4. apply `committed` entries in order, then serve `readStates` once applied >= their index;
 * 5. call `advance()`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
  readonly committed: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** True when `hardState`, `entries` or `snapshot` must be written with fsync before sending messages. */
  readonly mustSync: boolean;
}

/**
 * One membership change. `add` adds a non-voting learner (a voter only after `promote`, which the leader does by
 * itself once the learner has caught up); `remove` removes a learner or a voter. Each changes the voter set by at
 * most one member, so any two consecutive configurations have overlapping quorums.
 */
export type ConfChange =
  | { readonly op: 'add'; readonly id: NodeId; readonly addr: string }
  | { readonly op: 'promote'; readonly id: NodeId }
  | { readonly op: 'remove'; readonly id: NodeId };

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | {
      readonly ok: false;
      readonly reason: 'not-leader' | 'transferring' | 'conf-pending' | 'invalid';
      readonly leader: NodeId;
      readonly message: string;
    };

const enc = new TextEncoder();
const dec = new TextDecoder();

export function sortMembers(members: readonly Member[]): Member[] {
  return [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function encodeConf(conf: ConfState): Uint8Array {
  return enc.encode(JSON.stringify({ members: conf.members.map(plainMember) }));
}

export function decodeConf(data: Uint8Array): ConfState {
  const parsed = JSON.parse(dec.decode(data)) as { members: Member[] };
  return { members: sortMembers(parsed.members.map(plainMember)) };
}

/** `{ id, addr }` for a voter, `{ id, addr, learner: true }` for a learner (older logs hold voters only). */
function plainMember(m: Member): Member {
  return m.learner ? { id: m.id, addr: m.addr, learner: true } : { id: m.id, addr: m.addr };
}
