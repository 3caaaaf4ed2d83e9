import {
  type AppendMsg,
  type AppendRespMsg,
  type ConfChange,
  type ConfState,
  decodeConf,
  type Entry,
  encodeConf,
  type HardState,
  type HeartbeatMsg,
  type HeartbeatRespMsg,
  type Message,
  type NodeId,
  type ProposeResult,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
  type SnapshotMsg,
  type SoftState,
  sortMembers,
  type VoteMsg,
  voters,
} from './types.ts';

/** What a node finds on its stable storage at start. */
export interface RaftStorage {
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  /** Entries after the snapshot, contiguous. */
  readonly entries?: readonly Entry[];
}

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomised in [n, 2n)). */
  readonly electionTicks: number;
  /** Ticks between leader heartbeats; must be < electionTicks. */
  readonly heartbeatTicks: number;
  /** Randomness in [0, 1), injected so that runs are reproducible. */
  readonly random: () => number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** Most entries in one append message. */
  readonly maxEntriesPerMsg?: number;
  /** Most payload bytes in one append message (at least one entry is always sent). */
  readonly maxBytesPerMsg?: number;
  /** Most append messages in flight to one follower while replicating (pipelining window). */
  readonly maxInflight?: number;
  /** Most committed entries handed out in one Ready. */
  readonly maxCommittedPerReady?: number;
  readonly storage?: RaftStorage;
  /**
   * Membership to start with when storage is empty (first start of a bootstrapping member): becomes the committed
   * entry 1 of the log. A member joining an existing cluster starts without and waits for the leader to contact it.
   */
  readonly bootstrap?: ConfState;
  /** Index the application's state machine has already applied (default: the snapshot's index). */
  readonly applied?: number;
  /**
   * A learner is promoted to voter once its log is within this many entries of the leader's commit index (and
   * holds the current membership). Default 8.
   */
  readonly promoteLagEntries?: number;
}

type ProgressState = 'probe' | 'replicate' | 'snapshot';

class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  paused = false;
  inflight: number[] = [];
  pendingSnapshot = 0;
  snapshotSentAt = 0;
  recentActive = false;
  progressed = false;
  constructor(next: number) {
    this.next = next;
  }
  becomeProbe(): void {
    if (this.state === 'snapshot') this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    else this.next = this.match + 1;
    this.state = 'probe';
    this.paused = false;
    this.inflight = [];
    this.pendingSnapshot = 0;
  }
  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.paused = false;
    this.inflight = [];
    this.pendingSnapshot = 0;
  }
  isPaused(maxInflight: number): boolean {
    if (this.state === 'probe') return this.paused;
    if (this.state === 'replicate') return this.inflight.length >= maxInflight;
    return true;
  }
  freeTo(index: number): void {
    let i = 0;
    while (i < this.inflight.length && this.inflight[i] <= index) i++;
    if (i > 0) this.inflight.splice(0, i);
  }
}

interface PendingRead {
  readonly ctx: string;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

const EMPTY = new Uint8Array(0);

export class RaftSafetyError extends Error {
  override name = 'RaftSafetyError';
}

/**
 * Raft as a deterministic state machine: feed it `step(message)`, `tick()` and proposals; collect work with
 * `ready()` and confirm it with `advance()`. It performs no I/O, reads no clock, and draws randomness only from
 * `config.random`.
 */
export class Raft {
  readonly id: NodeId;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxEntriesPerMsg: number;
  private readonly maxBytesPerMsg: number;
  private readonly maxInflight: number;
  private readonly maxCommittedPerReady: number;
  private readonly promoteLagEntries: number;

  // persistent
  private term = 0;
  private vote: NodeId = '';
  private snap: Snapshot;
  private ents: Entry[] = [];
  /** Conf entries in `ents`, ascending. */
  private confs: { index: number; conf: ConfState }[] = [];
  private commit = 0;

  // volatile
  private role: Role = 'follower';
  private leader: NodeId = '';
  private applied: number;
  private stable: number;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private ticks = 0;
  private votes = new Map<NodeId, boolean>();
  private prs = new Map<NodeId, Progress>();
  private leadTransferee: NodeId = '';
  private transferElapsed = 0;
  private pendingConfIndex = 0;
  private committedInTerm = false;
  private reads: PendingRead[] = [];
  private readsAwaitingCommit: string[] = [];
  private readCounter = 0;

  // Ready bookkeeping
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private snapshotOut: Snapshot | undefined;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private inProgress: { stable: number; applied: number; hard: HardState; soft: SoftState } | undefined;

  constructor(config: RaftConfig) {
    this.id = config.id;
    if (!(config.heartbeatTicks >= 1 && config.electionTicks > config.heartbeatTicks)) {
      throw new RangeError('raft: need 1 <= heartbeatTicks < electionTicks');
    }
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.random = config.random;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxEntriesPerMsg = config.maxEntriesPerMsg ?? 256;
    this.maxBytesPerMsg = config.maxBytesPerMsg ?? 1 << 20;
    this.maxInflight = config.maxInflight ?? 64;
    this.maxCommittedPerReady = config.maxCommittedPerReady ?? 4096;
    this.promoteLagEntries = config.promoteLagEntries ?? 8;
    const st = config.storage ?? {};
    const fresh = !st.hardState && !st.snapshot && (st.entries ?? []).length === 0;
    this.snap = st.snapshot ?? { meta: { index: 0, term: 0, conf: { members: [] } }, data: EMPTY };
    let entries = st.entries ?? [];
    let hs = st.hardState ?? { term: 0, vote: '', commit: 0 };
    if (fresh && config.bootstrap && config.bootstrap.members.length > 0) {
      // Bootstrapping members all start from the same committed entry 1 carrying the initial membership, so that
      // members added later learn the whole history from the log.
      const conf = { members: sortMembers(config.bootstrap.members) };
      entries = [{ term: 1, index: 1, type: 'conf', data: encodeConf(conf) }];
      hs = { term: 1, vote: '', commit: 1 };
    }
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].index !== this.snap.meta.index + 1 + i) {
        throw new RangeError(`raft: stored entries not contiguous after snapshot ${this.snap.meta.index}`);
      }
    }
    this.ents = [...entries];
    for (const e of this.ents) if (e.type === 'conf') this.confs.push({ index: e.index, conf: decodeConf(e.data) });
    this.term = hs.term;
    this.vote = hs.vote;
    this.commit = Math.min(Math.max(hs.commit, this.snap.meta.index), this.lastIndex());
    this.applied = Math.min(Math.max(config.applied ?? this.snap.meta.index, this.snap.meta.index), this.commit);
    this.stable = fresh ? this.snap.meta.index : this.lastIndex();
    this.prevHard = fresh
      ? { term: 0, vote: '', commit: 0 }
      : { term: this.term, vote: this.vote, commit: this.commit };
    this.prevSoft = this.softState();
    this.resetElectionTimeout();
  }

  // ---------------------------------------------------------------- queries

  lastIndex(): number {
    return this.snap.meta.index + this.ents.length;
  }
  lastTerm(): number {
    return this.ents.length > 0 ? this.ents[this.ents.length - 1].term : this.snap.meta.term;
  }
  firstIndex(): number {
    return this.snap.meta.index + 1;
  }
  /** Term of the entry at `index`, or undefined when compacted away or beyond the log. */
  termAt(index: number): number | undefined {
    const s = this.snap.meta.index;
    if (index === s) return this.snap.meta.term;
    if (index < s || index > this.lastIndex()) return undefined;
    return this.ents[index - s - 1].term;
  }
  /** The in-memory entry at `index` (undefined if compacted or beyond the log). */
  entryAt(index: number): Entry | undefined {
    const s = this.snap.meta.index;
    if (index <= s || index > this.lastIndex()) return undefined;
    return this.ents[index - s - 1];
  }
  /** Entries in [lo, hi] still in memory. */
  entries(lo: number, hi: number): Entry[] {
    const s = this.snap.meta.index;
    return this.ents.slice(Math.max(lo - s - 1, 0), Math.max(hi - s, 0));
  }
  /** The membership in force: the one of the last conf entry in the log (committed or not). */
  conf(): ConfState {
    return this.confs.length > 0 ? this.confs[this.confs.length - 1].conf : this.snap.meta.conf;
  }
  /** Membership as of `index` (which must not be below the snapshot). */
  confAt(index: number): ConfState {
    for (let i = this.confs.length - 1; i >= 0; i--) if (this.confs[i].index <= index) return this.confs[i].conf;
    return this.snap.meta.conf;
  }
  /** Whether `id` is a member (voter or learner) of the membership in force. */
  isMember(id: NodeId = this.id): boolean {
    return this.conf().members.some((m) => m.id === id);
  }
  /** Whether `id` is a voting member of the membership in force. */
  isVoter(id: NodeId = this.id): boolean {
    return this.conf().members.some((m) => m.id === id && !m.learner);
  }
  /** Index of the entry (or snapshot) that set the membership in force. */
  private confIndex(): number {
    return this.confs.length > 0 ? this.confs[this.confs.length - 1].index : this.snap.meta.index;
  }
  snapshot(): Snapshot {
    return this.snap;
  }
  softState(): SoftState {
    return { leader: this.leader, role: this.role, term: this.term };
  }
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }
  status() {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.commit,
      applied: this.applied,
      lastIndex: this.lastIndex(),
      firstIndex: this.firstIndex(),
      members: this.conf().members,
      leadTransferee: this.leadTransferee,
      progress:
        this.role === 'leader'
          ? Object.fromEntries(
              [...this.prs].map(([id, p]) => [
                id,
                { match: p.match, next: p.next, state: p.state, learner: !this.isVoter(id) },
              ]),
            )
          : {},
    };
  }
  /** Majority of the voters (learners never count). */
  private quorum(): number {
    return Math.floor(voters(this.conf()).length / 2) + 1;
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.ticks++;
    if (this.role === 'leader') {
      this.heartbeatElapsed++;
      this.electionElapsed++;
      if (this.leadTransferee !== '') {
        this.transferElapsed++;
        if (this.transferElapsed >= this.electionTicks) this.leadTransferee = '';
      }
      if (this.electionElapsed >= this.electionTicks) {
        this.electionElapsed = 0;
        if (this.checkQuorum && !this.quorumActive()) {
          this.becomeFollower(this.term, '');
          return;
        }
      }
      if (this.role === 'leader' && this.heartbeatElapsed >= this.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.bcastHeartbeat('');
      }
      return;
    }
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      // Learners (and nodes outside the membership) never campaign.
      if (this.isVoter()) this.campaign(this.preVote ? 'prevote' : 'election');
      else this.resetElectionTimeout();
    }
  }

  /** Starts an election now (if this node is a voter). */
  campaignNow(): void {
    if (this.role !== 'leader' && this.isVoter()) this.campaign(this.preVote ? 'prevote' : 'election');
  }

  /** Proposes application entries (one entry per element). Only a leader accepts them. */
  propose(data: readonly Uint8Array[]): ProposeResult {
    const refused = this.refuse();
    if (refused) return refused;
    const first = this.lastIndex() + 1;
    this.appendLocal(data.map((d, i) => ({ term: this.term, index: first + i, type: 'normal' as const, data: d })));
    return { ok: true, index: this.lastIndex(), term: this.term };
  }

  /**
   * Proposes one membership change: adding a learner, promoting a learner to voter (the leader also does this by
   * itself once the learner has caught up), or removing a learner or a voter. One change at a time; refused while
   * one is uncommitted. Every change alters the voter set by at most one member (single-server changes).
   */
  proposeConfChange(cc: ConfChange): ProposeResult {
    const refused = this.refuse();
    if (refused) return refused;
    if (this.pendingConfIndex > this.commit) {
      return this.fail('conf-pending', 'a membership change (or the new leader term) is not committed yet');
    }
    const cur = this.conf().members;
    const member = cur.find((m) => m.id === cc.id);
    let next: ConfState;
    if (cc.op === 'add') {
      if (!cc.id) return this.fail('invalid', 'member id must not be empty');
      if (member) return this.fail('invalid', `node ${cc.id} is already a member`);
      next = { members: sortMembers([...cur, { id: cc.id, addr: cc.addr, learner: true }]) };
    } else if (cc.op === 'promote') {
      if (!member) return this.fail('invalid', `node ${cc.id} is not a member`);
      if (!member.learner) return this.fail('invalid', `node ${cc.id} is already a voter`);
      next = { members: cur.map((m) => (m.id === cc.id ? { id: m.id, addr: m.addr } : m)) };
    } else {
      if (!member) return this.fail('invalid', `node ${cc.id} is not a member`);
      if (!member.learner && voters(this.conf()).length === 1) {
        return this.fail('invalid', 'cannot remove the last voter');
      }
      next = { members: cur.filter((m) => m.id !== cc.id) };
    }
    const index = this.lastIndex() + 1;
    this.appendLocal([{ term: this.term, index, type: 'conf', data: encodeConf(next) }]);
    this.pendingConfIndex = index;
    return { ok: true, index, term: this.term };
  }

  /** Hands leadership to `to` once it is up to date. Proposals are refused meanwhile (for one election timeout). */
  transferLeadership(to: NodeId): ProposeResult {
    if (this.role !== 'leader') return this.fail('not-leader', 'not the leader');
    if (to === this.id) return this.fail('invalid', 'already the leader');
    const pr = this.prs.get(to);
    if (!pr || !this.isVoter(to)) return this.fail('invalid', `node ${to} is not a voting member`);
    this.leadTransferee = to;
    this.transferElapsed = 0;
    this.electionElapsed = 0;
    if (pr.match === this.lastIndex()) this.send({ type: 'timeoutNow', to, term: this.term });
    else this.sendAppend(to);
    return { ok: true, index: this.lastIndex(), term: this.term };
  }

  /**
   * Requests a linearizable read point. Returns the ctx under which a ReadState will appear in a later Ready
   * (or undefined when not the leader). The leader confirms its leadership with a quorum first.
   */
  readIndex(): string | undefined {
    if (this.role !== 'leader') return undefined;
    const ctx = `${this.id}/${this.term}/${++this.readCounter}`;
    if (!this.committedInTerm) {
      this.readsAwaitingCommit.push(ctx);
      return ctx;
    }
    this.startRead(ctx);
    return ctx;
  }

  /**
   * Compacts the in-memory log up to `index` (<= applied) behind a snapshot whose state-machine image is `data`.
   * The application persists the snapshot itself before calling this.
   */
  compact(index: number, data: Uint8Array): Snapshot {
    if (index > this.applied) throw new RangeError(`raft: cannot compact to ${index} beyond applied ${this.applied}`);
    if (index <= this.snap.meta.index) return this.snap;
    const term = this.termAt(index)!;
    const conf = this.confAt(index);
    this.ents = this.ents.slice(index - this.snap.meta.index);
    this.confs = this.confs.filter((c) => c.index > index);
    this.snap = { meta: { index, term, conf }, data };
    return this.snap;
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'prevote') {
        // Leader lease: a node that heard from a live leader recently ignores elections (disruption guard).
        if (!m.force && this.inLease()) return;
      }
      if (m.type === 'prevote' || (m.type === 'prevoteResp' && !m.reject)) {
        // pre-votes never change terms
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
        // Tell a stale leader about the newer term so it steps down.
        this.send({ type: 'appendResp', to: m.from, term: this.term, index: 0, reject: true, hint: 0 });
      } else if (m.type === 'prevote') {
        this.send({ type: 'prevoteResp', to: m.from, term: this.term, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'vote':
      case 'prevote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    if (this.role === 'leader') this.stepLeader(m);
    else if (this.role === 'follower') this.stepFollower(m);
    else this.stepCandidate(m);
  }

  // ---------------------------------------------------------------- Ready

  hasReady(): boolean {
    if (this.inProgress) return false;
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.snapshotOut !== undefined ||
      this.stable < this.lastIndex() ||
      this.applied < this.commit ||
      !sameHard(this.prevHard, this.hardState()) ||
      !sameSoft(this.prevSoft, this.softState())
    );
  }

  ready(): Ready {
    if (this.inProgress) throw new Error('raft: ready() called again before advance()');
    const hard = this.hardState();
    const soft = this.softState();
    const entries = this.stable < this.lastIndex() ? this.entries(this.stable + 1, this.lastIndex()) : [];
    const hi = Math.min(this.commit, this.applied + this.maxCommittedPerReady);
    const committed = hi > this.applied ? this.entries(this.applied + 1, hi) : [];
    const snapshot = this.snapshotOut;
    const hardChanged = !sameHard(this.prevHard, hard);
    const rd: Ready = {
      softState: sameSoft(this.prevSoft, soft) ? undefined : soft,
      hardState: hardChanged ? hard : undefined,
      snapshot,
      entries,
      committed,
      messages: this.msgs,
      readStates: this.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        (hardChanged && (hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote)),
    };
    this.msgs = [];
    this.readStates = [];
    this.snapshotOut = undefined;
    this.inProgress = {
      stable: this.lastIndex(),
      applied: committed.length > 0 ? committed[committed.length - 1].index : this.applied,
      hard,
      soft,
    };
    return rd;
  }

  advance(): void {
    const p = this.inProgress;
    if (!p) throw new Error('raft: advance() without ready()');
    this.inProgress = undefined;
    // Entries may have been truncated meanwhile (they cannot: step() is not called between ready and advance
    // by a well-behaved application, but stay safe).
    this.stable = Math.min(Math.max(this.stable, p.stable), this.lastIndex());
    this.applied = Math.max(this.applied, p.applied);
    this.prevHard = p.hard;
    this.prevSoft = p.soft;
  }

  // ---------------------------------------------------------------- roles

  private refuse(): ProposeResult | undefined {
    if (this.role !== 'leader') return this.fail('not-leader', 'not the leader');
    if (this.leadTransferee !== '') return this.fail('transferring', 'leadership transfer in progress');
    return undefined;
  }
  private fail(reason: 'not-leader' | 'transferring' | 'conf-pending' | 'invalid', message: string): ProposeResult {
    return { ok: false, reason, leader: this.leader, message };
  }

  private resetElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTicks + Math.floor(this.random() * this.electionTicks);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = '';
    }
    this.leader = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetElectionTimeout();
    this.votes = new Map();
    this.leadTransferee = '';
    this.reads = [];
    this.readsAwaitingCommit = [];
    this.committedInTerm = false;
    this.prs = new Map();
  }

  private becomeFollower(term: number, leader: NodeId): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.syncProgress();
    for (const pr of this.prs.values()) pr.recentActive = true;
    // A no-op entry of the new term: commits everything before it and gates conf changes and reads.
    const index = this.lastIndex() + 1;
    this.appendLocal([{ term: this.term, index, type: 'normal', data: EMPTY }]);
    this.pendingConfIndex = index;
  }

  private campaign(kind: 'prevote' | 'election' | 'transfer'): void {
    let term: number;
    if (kind === 'prevote') {
      this.reset(this.term);
      this.role = 'precandidate';
      term = this.term + 1;
    } else {
      this.reset(this.term + 1);
      this.role = 'candidate';
      this.vote = this.id;
      term = this.term;
    }
    const type = kind === 'prevote' ? 'prevote' : 'vote';
    if (this.poll(this.id, false)) return;
    for (const m of voters(this.conf())) {
      if (m.id === this.id) continue;
      this.send({
        type,
        to: m.id,
        term,
        lastIndex: this.lastIndex(),
        lastTerm: this.lastTerm(),
        force: kind === 'transfer',
      });
    }
  }

  /** Records a vote; returns true when the campaign was decided. */
  private poll(from: NodeId, reject: boolean): boolean {
    if (!this.votes.has(from)) this.votes.set(from, !reject);
    let granted = 0;
    let rejected = 0;
    for (const m of voters(this.conf())) {
      const v = this.votes.get(m.id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) {
      if (this.role === 'precandidate') this.campaign('election');
      else this.becomeLeader();
      return true;
    }
    if (rejected >= q) {
      this.becomeFollower(this.term, '');
      return true;
    }
    return false;
  }

  private inLease(): boolean {
    return this.checkQuorum && this.leader !== '' && this.electionElapsed < this.electionTicks;
  }

  private isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const t = this.lastTerm();
    return lastTerm > t || (lastTerm === t && lastIndex >= this.lastIndex());
  }

  private handleVoteRequest(m: VoteMsg): void {
    const canVote =
      this.vote === m.from || (this.vote === '' && this.leader === '') || (m.type === 'prevote' && m.term > this.term);
    const respType = m.type === 'vote' ? 'voteResp' : 'prevoteResp';
    if (canVote && this.isUpToDate(m.lastIndex, m.lastTerm)) {
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------- follower / candidate

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'prevoteResp':
        if (this.role === 'precandidate') this.poll(m.from, m.reject);
        return;
      case 'voteResp':
        if (this.role === 'candidate') this.poll(m.from, m.reject);
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Only the leader of the message's term sends these: follow it and restart the election timer.
        this.electionElapsed = 0;
        this.leader = m.from;
        if (m.type === 'append') this.handleAppend(m);
        else if (m.type === 'heartbeat') this.handleHeartbeat(m);
        else this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        if (this.isVoter()) this.campaign('transfer');
        return;
      default:
        return;
    }
  }

  private handleAppend(m: AppendMsg): void {
    const reply = (index: number, reject: boolean, hint: number) =>
      this.send({ type: 'appendResp', to: m.from, term: this.term, index, reject, hint });
    if (m.prevIndex < this.commit) {
      // Everything up to our commit is known to match; ask the leader to continue from there.
      reply(this.commit, false, 0);
      return;
    }
    const t = this.termAt(m.prevIndex);
    if (t === undefined || t !== m.prevTerm) {
      let hint: number;
      if (t === undefined) hint = this.lastIndex();
      else {
        // Skip back over the whole conflicting term.
        hint = m.prevIndex - 1;
        while (hint > this.commit && this.termAt(hint) === t) hint--;
      }
      reply(m.prevIndex, true, Math.min(hint, this.lastIndex()));
      return;
    }
    const lastNew = m.prevIndex + m.entries.length;
    let conflict = -1;
    for (const e of m.entries) {
      const et = this.termAt(e.index);
      if (et === undefined || et !== e.term) {
        conflict = e.index;
        break;
      }
    }
    if (conflict !== -1) {
      if (conflict <= this.commit) {
        throw new RaftSafetyError(`raft ${this.id}: entry ${conflict} conflicts with committed ${this.commit}`);
      }
      this.truncateFrom(conflict);
      this.appendEntries(m.entries.slice(conflict - m.entries[0].index));
    }
    const newCommit = Math.min(m.commit, lastNew);
    if (newCommit > this.commit) this.commit = newCommit;
    reply(lastNew, false, 0);
  }

  private handleHeartbeat(m: HeartbeatMsg): void {
    const c = Math.min(m.commit, this.lastIndex());
    if (c > this.commit) this.commit = c;
    this.send({ type: 'heartbeatResp', to: m.from, term: this.term, ctx: m.ctx });
  }

  private handleSnapshot(m: SnapshotMsg): void {
    const s = m.snapshot;
    const reply = (index: number) =>
      this.send({ type: 'appendResp', to: m.from, term: this.term, index, reject: false, hint: 0 });
    if (s.meta.index <= this.commit) {
      reply(this.commit);
      return;
    }
    if (this.termAt(s.meta.index) === s.meta.term) {
      // We already have the entries: just fast-forward the commit.
      this.commit = s.meta.index;
      reply(this.commit);
      return;
    }
    this.snap = s;
    this.ents = [];
    this.confs = [];
    this.commit = s.meta.index;
    this.applied = s.meta.index;
    this.stable = s.meta.index;
    this.snapshotOut = s;
    reply(s.meta.index);
  }

  // ---------------------------------------------------------------- log

  private appendLocal(entries: Entry[]): void {
    this.appendEntries(entries);
    if (this.role === 'leader') {
      this.maybeCommit();
      this.bcastAppend();
    }
  }

  private appendEntries(entries: readonly Entry[]): void {
    let confChanged = false;
    for (const e of entries) {
      this.ents.push(e);
      if (e.type === 'conf') {
        this.confs.push({ index: e.index, conf: decodeConf(e.data) });
        confChanged = true;
      }
    }
    if (confChanged) this.onConfChange();
  }

  private truncateFrom(index: number): void {
    const keep = index - this.snap.meta.index - 1;
    this.ents.length = Math.max(keep, 0);
    if (this.stable >= index) this.stable = index - 1;
    if (this.inProgress && this.inProgress.stable >= index) this.inProgress.stable = index - 1;
    const before = this.confs.length;
    this.confs = this.confs.filter((c) => c.index < index);
    if (this.confs.length !== before) this.onConfChange();
  }

  private onConfChange(): void {
    if (this.role === 'leader') this.syncProgress();
  }

  private syncProgress(): void {
    const members = this.conf().members;
    for (const m of members) {
      if (m.id !== this.id && !this.prs.has(m.id)) {
        const pr = new Progress(this.lastIndex() + 1);
        pr.recentActive = true;
        this.prs.set(m.id, pr);
      }
    }
    for (const id of [...this.prs.keys()]) if (!members.some((m) => m.id === id)) this.prs.delete(id);
    if (this.leadTransferee !== '' && !this.prs.has(this.leadTransferee)) this.leadTransferee = '';
  }

  // ---------------------------------------------------------------- leader

  private send(m: Outgoing): void {
    this.msgs.push({ ...m, from: this.id } as Message);
  }

  private quorumActive(): boolean {
    let active = this.isVoter() ? 1 : 0;
    for (const [id, pr] of this.prs) {
      if (pr.recentActive && id !== this.id && this.isVoter(id)) active++;
      pr.recentActive = false;
    }
    return active >= this.quorum();
  }

  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const m of voters(this.conf())) {
      if (m.id === this.id) matches.push(this.lastIndex());
      else matches.push(this.prs.get(m.id)?.match ?? 0);
    }
    matches.sort((a, b) => b - a);
    const q = this.quorum();
    const candidate = matches[q - 1];
    if (candidate > this.commit && this.termAt(candidate) === this.term) {
      this.commit = candidate;
      if (!this.committedInTerm) {
        this.committedInTerm = true;
        const waiting = this.readsAwaitingCommit;
        this.readsAwaitingCommit = [];
        for (const ctx of waiting) this.startRead(ctx);
      }
      // A leader that is not a voter of the committed membership hands over by stepping down.
      if (!this.isVoter() && this.confs.every((c) => c.index <= this.commit)) {
        this.becomeFollower(this.term, '');
      }
      return true;
    }
    return false;
  }

  private startRead(ctx: string): void {
    if (voters(this.conf()).length === 1 && this.isVoter()) {
      this.readStates.push({ index: this.commit, ctx });
      return;
    }
    this.reads.push({ ctx, index: this.commit, acks: new Set(this.isVoter() ? [this.id] : []) });
    this.bcastHeartbeat(ctx);
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx: string): void {
    for (const [id, pr] of this.prs) {
      pr.progressed = false;
      this.send({ type: 'heartbeat', to: id, term: this.term, commit: Math.min(pr.match, this.commit), ctx });
    }
  }

  /** Sends the next append (or a snapshot) to `to`; returns whether anything was sent. */
  private sendAppend(to: NodeId, allowEmpty = true): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused(this.maxInflight)) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.termAt(prevIndex);
    if (prevTerm === undefined) {
      if (prevIndex > this.lastIndex()) {
        pr.becomeProbe();
        return this.sendAppend(to, allowEmpty);
      }
      pr.state = 'snapshot';
      pr.pendingSnapshot = this.snap.meta.index;
      pr.snapshotSentAt = this.ticks;
      pr.inflight = [];
      this.send({ type: 'snapshot', to, term: this.term, snapshot: this.snap });
      return true;
    }
    const entries: Entry[] = [];
    let bytes = 0;
    for (let i = pr.next; i <= this.lastIndex() && entries.length < this.maxEntriesPerMsg; i++) {
      const e = this.entryAt(i)!;
      if (entries.length > 0 && bytes + e.data.length > this.maxBytesPerMsg) break;
      bytes += e.data.length;
      entries.push(e);
    }
    if (entries.length === 0 && !allowEmpty) return false;
    this.send({ type: 'append', to, term: this.term, prevIndex, prevTerm, entries, commit: this.commit });
    if (pr.state === 'replicate') {
      if (entries.length > 0) {
        const last = entries[entries.length - 1].index;
        pr.next = last + 1;
        pr.inflight.push(last);
      }
    } else {
      pr.paused = true;
    }
    return true;
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appendResp':
        this.handleAppendResp(m);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResp(m);
        return;
      default:
        return;
    }
  }

  private handleAppendResp(m: AppendRespMsg): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.reject) {
      if (pr.state === 'replicate') {
        if (m.index <= pr.match) return; // stale
        pr.becomeProbe();
        pr.next = Math.max(pr.match + 1, Math.min(pr.next, m.hint + 1));
      } else if (pr.state === 'probe') {
        if (m.index !== pr.next - 1) return; // stale
        pr.next = Math.max(pr.match + 1, Math.min(m.index, m.hint + 1));
        pr.paused = false;
      } else {
        return;
      }
      this.sendAppend(m.from);
      return;
    }
    const old = pr.match;
    if (m.index > pr.match) {
      pr.match = m.index;
      pr.progressed = true;
    }
    if (pr.next <= m.index) pr.next = m.index + 1;
    pr.freeTo(m.index);
    if (pr.state === 'probe') {
      if (m.index >= pr.match) pr.becomeReplicate();
    } else if (pr.state === 'snapshot') {
      if (pr.match >= pr.pendingSnapshot || pr.match + 1 > this.snap.meta.index) pr.becomeReplicate();
    }
    if (pr.match > old && this.maybeCommit()) {
      if (this.role !== 'leader') return;
      this.bcastAppend();
    } else {
      while (this.sendAppend(m.from, false)) {
        /* fill the pipeline */
      }
    }
    if (this.role === 'leader' && m.from === this.leadTransferee && pr.match === this.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from, term: this.term });
    }
    this.maybePromote(m.from, pr);
  }

  /**
   * Promotes learner `id` to voter once it has just answered and caught up: it holds the membership in force (so
   * it knows it is a member) and its log is within `promoteLagEntries` of the commit index. Measured against the
   * commit index, not our last index: under steady load every follower trails the last index by the appends in
   * flight, so a learner as fast as the voters might never be that close to it. Only when no other change is
   * pending, so promotions stay one-at-a-time changes through the log. A learner that never answers (an
   * unreachable address) is never promoted, so adding one cannot take the quorum away.
   */
  private maybePromote(id: NodeId, pr: Progress): void {
    if (this.role !== 'leader' || this.leadTransferee !== '' || this.pendingConfIndex > this.commit) return;
    const member = this.conf().members.find((m) => m.id === id);
    if (!member?.learner) return;
    if (pr.match < this.confIndex() || this.commit - pr.match > this.promoteLagEntries) return;
    this.proposeConfChange({ op: 'promote', id });
  }

  private handleHeartbeatResp(m: HeartbeatRespMsg): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (pr.state === 'probe') pr.paused = false;
    else if (pr.state === 'snapshot') {
      if (this.ticks - pr.snapshotSentAt >= this.electionTicks) pr.becomeProbe();
    } else if (pr.state === 'replicate' && pr.match < this.lastIndex() && !pr.progressed) {
      // Nothing acknowledged since the last heartbeat: assume the in-flight appends were lost.
      pr.becomeProbe();
    }
    if (pr.match < this.lastIndex()) this.sendAppend(m.from);
    if (m.ctx !== '') this.ackRead(m.ctx, m.from);
    this.maybePromote(m.from, pr);
  }

  private ackRead(ctx: string, from: NodeId): void {
    const at = this.reads.findIndex((r) => r.ctx === ctx);
    if (at < 0) return;
    const r = this.reads[at];
    r.acks.add(from);
    let n = 0;
    for (const mem of voters(this.conf())) if (r.acks.has(mem.id)) n++;
    if (n < this.quorum()) return;
    const done = this.reads.splice(0, at + 1);
    for (const d of done) this.readStates.push({ index: d.index, ctx: d.ctx });
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role && a.term === b.term;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Outgoing = DistributiveOmit<Message, 'from'>;
