/**
 * The replicated loglet: the contract between sequencers, log servers, readers and the sealer.
 *
 * One loglet = one segment of a virtual log. It has exactly one sequencer (one process instance) for its whole
 * life; offsets are assigned by that sequencer only, so an offset can never hold two different records. When the
 * sequencer dies the loglet is sealed and the virtual log continues in a new loglet (new id, new sequencer).
 *
 * Quorums, for a nodeset of N log servers and replication {node: R}:
 *  - write quorum: R distinct nodes hold the record (for {zone: R}: nodes in R distinct zones);
 *  - f-majority: N - R + 1 nodes (for zones: all nodes of Z - R + 1 zones) — intersects every write quorum, so
 *    once an f-majority is sealed no new record can reach a write quorum, and any f-majority of answers sees
 *    at least one copy of every acknowledged record.
 *
 * Offsets are loglet-local, 0-based. Record payloads are opaque bytes.
 */

export type LogletId = string;
export type NodeId = string;

export interface NodesetMember {
  id: NodeId;
  /** Failure domain for {zone: R} replication; nodes without a zone form a zone of their own. */
  zone?: string;
}

export interface ReplicationProperty {
  scope: 'node' | 'zone';
  /** How many copies (distinct nodes, or distinct zones) a record needs before it is acknowledged. */
  count: number;
}

/** What a sequencer (and a sealer) needs to know about a loglet. */
export interface LogletParams {
  logletId: LogletId;
  nodeset: NodesetMember[];
  replication: ReplicationProperty;
}

// ---- log server requests and answers ------------------------------------------------------------------------

export type StoreStatus = 'ok' | 'sealed' | 'trimmed' | 'malformed';

export interface StoreRequest {
  logletId: LogletId;
  firstOffset: bigint;
  payloads: Uint8Array[];
  /** The sequencer's released tail when it sent this; lets log servers answer WaitForTail without it. */
  knownGlobalTail: bigint;
  /** Set by the sealer's repair: accepted even when the loglet is sealed (only below the sealed tail). */
  repair?: boolean;
}

export interface StoreResponse {
  status: StoreStatus;
  /** Highest stored offset + 1 on this node (records may have gaps below it). */
  localTail: bigint;
  sealed: boolean;
}

export interface GetRecordsRequest {
  logletId: LogletId;
  from: bigint;
  /** Exclusive upper bound. */
  to: bigint;
  /** Stop after roughly this many payload bytes (at least one record is returned when present). */
  maxBytes?: number;
}

export interface StoredRecord {
  offset: bigint;
  payload: Uint8Array;
}

export interface LogletState {
  localTail: bigint;
  knownGlobalTail: bigint;
  trimPoint: bigint;
  sealed: boolean;
}

export interface GetRecordsResponse extends LogletState {
  /** Records this node holds in [from, to), ascending; offsets it does not hold are simply absent. */
  records: StoredRecord[];
  /** The answer covers [from, next); next < to when maxBytes cut it short. */
  next: bigint;
}

export interface GetDigestRequest {
  logletId: LogletId;
  from: bigint;
  to: bigint;
}

export interface GetDigestResponse extends LogletState {
  /** Offsets in [from, to) this node holds, ascending. */
  offsets: bigint[];
}

export interface WaitForTailRequest {
  logletId: LogletId;
  /** Answer once knownGlobalTail > this, or the loglet is sealed. */
  above: bigint;
}

export interface SealRequest {
  logletId: LogletId;
}

export interface TrimRequest {
  logletId: LogletId;
  /** Records below this offset may be dropped. */
  upTo: bigint;
}

/** A log server as seen by sequencers, sealers and readers (gRPC client in production, in-memory in simulation). */
export interface LogServerApi {
  store(req: StoreRequest): Promise<StoreResponse>;
  getRecords(req: GetRecordsRequest): Promise<GetRecordsResponse>;
  getDigest(req: GetDigestRequest): Promise<GetDigestResponse>;
  waitForTail(req: WaitForTailRequest, signal?: AbortSignal): Promise<LogletState>;
  seal(req: SealRequest): Promise<LogletState>;
  trim(req: TrimRequest): Promise<LogletState>;
}

/** Resolves a node id to a way of talking to it. Calls to unreachable nodes reject. */
export type LogServerDirectory = (node: NodeId) => LogServerApi;

// ---- errors -------------------------------------------------------------------------------------------------

/** The loglet is sealed (the virtual log has moved or is moving on); the appender retries on the new segment. */
export class LogletSealedError extends Error {
  override name = 'LogletSealedError';
}

/** Transient: not enough log servers reachable, sequencer gone, timeout. Safe to retry (possibly elsewhere). */
export class LogUnavailableError extends Error {
  override name = 'LogUnavailableError';
}

/**
 * Backpressure: too many records are already waiting (in a sequencer or a log client). Nothing of the refused
 * append was accepted; retry later (the sequencer is fine: no reconfiguration is needed).
 */
export class LogOverloadedError extends Error {
  override name = 'LogOverloadedError';
}

/**
 * A numbered call (see AppendCall) that arrived before its predecessor: nothing of it was appended. Retryable:
 * the producer waits for its calls in flight to settle and sends every unacknowledged call again, in order.
 */
export class LogOutOfOrderError extends Error {
  override name = 'LogOutOfOrderError';
}

/**
 * The numbering of one sequencer call of a producer (a Bifrost client instance), which lets a producer keep
 * several calls in flight per log while they still land in the order it made them. `seq` counts the producer's
 * calls to one log (1, 2, 3…; a retry keeps its number); `firstUnacked` is the lowest number the producer has
 * not yet seen answered (or given up on) when it sent this call: nothing below it will be waited for again.
 */
export interface AppendCall {
  producer: string;
  seq: number;
  firstUnacked: number;
}
