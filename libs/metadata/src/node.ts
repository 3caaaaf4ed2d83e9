import { randomInt, randomUUID } from 'node:crypto';
import { metadata as pb } from '@stead/proto';
import {
  type ConfState,
  type Entry,
  type Member,
  type Message,
  Raft,
  type Ready,
  type SoftState,
  voters,
} from '@stead/raft';
import { MetadataError } from './errors.ts';
import { type Logger, silentLogger } from './log.ts';
import {
  type ChangeEvent,
  KvStateMachine,
  type Precondition,
  RESULT_PRECONDITION_FAILED,
  RESULT_STALE_REQUEST,
  toPbPrecondition,
  type VersionedValue,
} from './state.ts';
import { RaftLogStore } from './storage.ts';

/** Sends Raft messages to other members. Delivery is best effort: Raft copes with loss. */
export interface RaftTransport {
  send(to: Member, messages: Message[]): void;
  close(): Promise<void>;
}

export interface MetadataNodeOptions {
  readonly nodeId: string;
  readonly dataDir: string;
  /** Name of the cluster; stored in the data dir, which then refuses members of other clusters. */
  readonly clusterName?: string;
  /** Initial membership (including this member), used only on the first start of a bootstrapping member. */
  readonly peers?: readonly Member[];
  /** Start without membership and wait to be added by the leader (for members added to a running cluster). */
  readonly join?: boolean;
  /** Address other members reach this one at (sent along with Raft traffic). */
  readonly address?: string;
  readonly transport?: RaftTransport;
  /** Length of a Raft tick (default 50 ms). */
  readonly tickMs?: number;
  /** Election timeout in ticks (randomised in [n, 2n); default 10). */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Take a snapshot and compact the log every this many applied entries (default 5000). */
  readonly snapshotEvery?: number;
  /** Largest value accepted (default 1 MiB). */
  readonly maxValueBytes?: number;
  /** Longest key accepted in bytes (default 1024). */
  readonly maxKeyBytes?: number;
  /** How long a write may wait for its commit before failing with unknown-outcome (default 10 s). */
  readonly writeTimeoutMs?: number;
  readonly logger?: Logger;
  readonly random?: () => number;
  /**
   * Called at start with the cluster id stored in the data dir (if any), before the member joins in; throwing
   * refuses the start (used to check the data dir against the cluster the peers belong to).
   */
  readonly verifyClusterId?: (storedClusterId: string) => Promise<void>;
  /** Told of every write this member committed (see MetadataMetrics). */
  readonly metrics?: MetadataMetrics;
}

/** What a member reports about the writes it serves (an app feeds its registry with it). */
export interface MetadataMetrics {
  /** A write was committed and applied (its precondition held or not) `seconds` after it arrived. */
  committed(seconds: number): void;
}

export interface WriteOutcome {
  readonly version: number;
  readonly existed: boolean;
}

export interface RequestIdentity {
  readonly clientId: string;
  readonly seq: number;
  readonly ackedBelow: number;
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly clusterName: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: string;
  readonly leaderAddress: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly clusterId: string;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly members: readonly Member[];
}

export interface NodeStats {
  writes: number;
  writeFailures: number;
  reads: number;
  applied: number;
  fsyncs: number;
  fsyncMs: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  leaderChanges: number;
  messagesSent: number;
  messagesReceived: number;
  keys: number;
}

interface PendingWrite {
  term: number;
  resolve: (r: pb.StoredResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface PendingRead {
  resolve: (index: number) => void;
  reject: (e: Error) => void;
}

/**
 * One member of the metadata store: Raft + LevelDB storage + the key-value state machine, driven by a timer and
 * by messages from a transport. All Raft input goes through one queue, so `ready()`/`advance()` never interleave
 * with steps; everything proposed while a batch is being persisted lands in the next batch (group commit).
 */
export class MetadataNode {
  readonly nodeId: string;
  readonly clusterName: string;
  readonly address: string;
  readonly stats: NodeStats = {
    writes: 0,
    writeFailures: 0,
    reads: 0,
    applied: 0,
    fsyncs: 0,
    fsyncMs: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    leaderChanges: 0,
    messagesSent: 0,
    messagesReceived: 0,
    keys: 0,
  };
  private readonly opts: MetadataNodeOptions;
  private readonly log: Logger;
  private readonly store: RaftLogStore;
  private raft: Raft;
  private sm: KvStateMachine;
  private readonly transport: RaftTransport | undefined;
  private readonly addresses = new Map<string, string>();
  private inbox: (() => void)[] = [];
  private running = false;
  private closed = false;
  private failed: Error | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private soft: SoftState;
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private readonly pendingReads = new Map<string, PendingRead>();
  private appliedWaiters: { index: number; resolve: () => void }[] = [];
  private readonly watchers = new Map<string, Set<(e: ChangeEvent) => void>>();
  private readonly softListeners = new Set<(s: SoftState) => void>();
  private readonly closeListeners = new Set<() => void>();
  private idle: (() => void)[] = [];
  private readonly maxValueBytes: number;
  private readonly maxKeyBytes: number;
  private readonly snapshotEvery: number;

  private constructor(opts: MetadataNodeOptions, store: RaftLogStore, raft: Raft, sm: KvStateMachine) {
    this.opts = opts;
    this.nodeId = opts.nodeId;
    this.clusterName = opts.clusterName ?? 'stead';
    this.address = opts.address ?? opts.peers?.find((p) => p.id === opts.nodeId)?.addr ?? '';
    this.log = opts.logger ?? silentLogger;
    this.store = store;
    this.raft = raft;
    this.sm = sm;
    this.transport = opts.transport;
    this.soft = raft.softState();
    this.maxValueBytes = opts.maxValueBytes ?? 1 << 20;
    this.maxKeyBytes = opts.maxKeyBytes ?? 1024;
    this.snapshotEvery = opts.snapshotEvery ?? 5000;
    for (const p of opts.peers ?? []) this.addresses.set(p.id, p.addr);
  }

  /** Opens the data dir, restores state and starts ticking. */
  static async start(opts: MetadataNodeOptions): Promise<MetadataNode> {
    if (!opts.nodeId) throw new MetadataError('invalid-argument', 'node id must not be empty');
    const clusterName = opts.clusterName ?? 'stead';
    const store = await RaftLogStore.open(opts.dataDir, { clusterName, nodeId: opts.nodeId });
    try {
      if (store.identity.clusterId && opts.verifyClusterId) await opts.verifyClusterId(store.identity.clusterId);
      const loaded = await store.load();
      const peers = opts.peers ?? [];
      if (!opts.join && peers.length > 0 && !peers.some((p) => p.id === opts.nodeId)) {
        throw new MetadataError(
          'invalid-argument',
          `the peer list (${peers.map((p) => p.id).join(', ')}) does not include this member (${opts.nodeId})`,
        );
      }
      const bootstrap: ConfState | undefined = opts.join ? undefined : { members: peers.length > 0 ? peers : [] };
      const sm = loaded.snapshot ? KvStateMachine.fromImage(loaded.snapshot.data) : new KvStateMachine();
      const random = opts.random ?? (() => randomInt(0, 2 ** 31) / 2 ** 31);
      const raft = new Raft({
        id: opts.nodeId,
        electionTicks: opts.electionTicks ?? 10,
        heartbeatTicks: opts.heartbeatTicks ?? 2,
        random,
        storage: loaded,
        bootstrap: bootstrap && bootstrap.members.length > 0 ? bootstrap : undefined,
        applied: loaded.snapshot?.meta.index ?? 0,
        maxEntriesPerMsg: 512,
        maxBytesPerMsg: 4 << 20,
        maxInflight: 64,
      });
      const node = new MetadataNode(opts, store, raft, sm);
      if (!sm.clusterId && store.identity.clusterId) sm.clusterId = store.identity.clusterId;
      for (const m of raft.conf().members) node.addresses.set(m.id, m.addr);
      node.stats.keys = sm.size;
      node.log.info('metadata member started', {
        nodeId: opts.nodeId,
        clusterName,
        dataDir: opts.dataDir,
        members: raft.conf().members.map((m) => m.id),
        lastIndex: raft.lastIndex(),
        snapshotIndex: loaded.snapshot?.meta.index ?? 0,
      });
      node.ticker = setInterval(() => node.enqueue(() => node.raft.tick()), opts.tickMs ?? 50);
      node.ticker.unref();
      // A lone voter (learners do not vote) need not wait for an election timeout.
      if (voters(raft.conf()).length === 1 && raft.isVoter()) node.enqueue(() => node.raft.campaignNow());
      node.kick();
      return node;
    } catch (e) {
      await store.close();
      throw e;
    }
  }

  // ------------------------------------------------------------------------------------------------ inputs

  /** Raft messages from another member (through the transport server). */
  receive(messages: readonly Message[], fromAddress?: string, senderClusterId?: string): void {
    if (this.closed) return;
    if (senderClusterId && this.clusterId && senderClusterId !== this.clusterId) {
      throw new MetadataError(
        'data-dir-mismatch',
        `member ${this.nodeId} belongs to cluster id ${this.clusterId}, the sender to ${senderClusterId}`,
      );
    }
    if (fromAddress && messages.length > 0) this.addresses.set(messages[0].from, fromAddress);
    this.stats.messagesReceived += messages.length;
    this.enqueue(() => {
      for (const m of messages) this.raft.step(m);
    });
  }

  private enqueue(f: () => void): void {
    if (this.closed) return;
    this.inbox.push(f);
    this.kick();
  }

  private kick(): void {
    if (this.running || this.closed) return;
    this.running = true;
    setImmediate(() => {
      this.loop().catch((e) => this.fatal(e as Error));
    });
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        if (this.closed) return;
        const work = this.inbox;
        this.inbox = [];
        for (const f of work) f();
        if (!this.raft.hasReady()) {
          if (this.inbox.length > 0) continue;
          break;
        }
        await this.handleReady(this.raft.ready());
      }
    } finally {
      this.running = false;
      const idle = this.idle;
      this.idle = [];
      for (const f of idle) f();
    }
    if (this.inbox.length > 0) this.kick();
  }

  private async handleReady(rd: Ready): Promise<void> {
    // A leader's appends may leave before its own write completes (Raft thesis §10.2.1): its log counts toward
    // a commit only when the next Ready is processed, which is after this write. Everything else (votes,
    // acknowledgements) leaves only once durable.
    const early = rd.messages.filter((m) => m.type === 'append');
    if (early.length > 0) this.sendMessages(early);
    await this.store.save(rd);
    this.stats.fsyncs = this.store.syncs;
    this.stats.fsyncMs = this.store.syncMs;
    this.sendMessages(early.length > 0 ? rd.messages.filter((m) => m.type !== 'append') : rd.messages);
    if (rd.snapshot) this.restore(rd.snapshot.data, rd.snapshot.meta.index);
    for (const e of rd.committed) this.apply(e);
    for (const rs of rd.readStates) {
      const p = this.pendingReads.get(rs.ctx);
      if (p) {
        this.pendingReads.delete(rs.ctx);
        p.resolve(rs.index);
      }
    }
    this.raft.advance();
    if (this.sm.clusterId && this.store.identity.clusterId !== this.sm.clusterId) {
      await this.store.setClusterId(this.sm.clusterId);
      this.log.info('cluster id recorded', { clusterId: this.sm.clusterId });
    }
    if (rd.softState) this.onSoftState(rd.softState);
    this.wakeAppliedWaiters();
    const snapIndex = this.raft.snapshot().meta.index;
    if (this.sm.applied - snapIndex >= this.snapshotEvery) {
      const snap = this.raft.compact(this.sm.applied, this.sm.image());
      await this.store.saveSnapshot(snap);
      this.stats.snapshotsTaken++;
      this.log.info('snapshot taken', { index: snap.meta.index, bytes: snap.data.length });
    }
  }

  private sendMessages(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    if (!this.transport) return;
    const byPeer = new Map<string, Message[]>();
    for (const m of messages) {
      const list = byPeer.get(m.to);
      if (list) list.push(m);
      else byPeer.set(m.to, [m]);
    }
    for (const [to, list] of byPeer) {
      const addr = this.addresses.get(to) ?? this.raft.conf().members.find((m) => m.id === to)?.addr;
      if (!addr) continue;
      this.stats.messagesSent += list.length;
      this.transport.send({ id: to, addr }, list);
    }
  }

  private restore(data: Uint8Array, index: number): void {
    const old = this.sm;
    this.sm = KvStateMachine.fromImage(data);
    this.sm.applied = index;
    this.stats.snapshotsInstalled++;
    this.stats.keys = this.sm.size;
    this.log.info('snapshot installed', { index, bytes: data.length });
    for (const [key, v] of this.sm.values) {
      const before = old.get(key);
      if (!before || before.version !== v.version)
        this.notify({ key, deleted: false, value: v.value, version: v.version });
    }
    for (const key of old.values.keys()) {
      if (!this.sm.values.has(key)) this.notify({ key, deleted: true, value: new Uint8Array(0), version: index });
    }
  }

  private apply(e: Entry): void {
    this.stats.applied++;
    let result: pb.StoredResult | undefined;
    if (e.type === 'conf') {
      this.sm.applied = e.index;
      const conf = this.raft.confAt(e.index);
      for (const m of conf.members) this.addresses.set(m.id, m.addr);
      this.log.info('membership changed', { index: e.index, members: conf.members.map((m) => `${m.id}@${m.addr}`) });
      result = { seq: 0n, code: 0, version: BigInt(e.index), existed: false, currentVersion: 0n };
    } else if (e.data.length === 0) {
      this.sm.applied = e.index;
    } else {
      const out = this.sm.apply(e.index, pb.Command.decode(e.data));
      result = out.result;
      if (out.change) this.notify(out.change);
      this.stats.keys = this.sm.size;
    }
    const p = this.pendingWrites.get(e.index);
    if (p) {
      this.pendingWrites.delete(e.index);
      clearTimeout(p.timer);
      if (p.term === e.term && result) p.resolve(result);
      else p.reject(unknownOutcome());
    }
  }

  private onSoftState(s: SoftState): void {
    const prev = this.soft;
    this.soft = s;
    if (prev.leader !== s.leader) {
      this.stats.leaderChanges++;
      this.log.info('leader changed', { leader: s.leader || null, term: s.term, role: s.role });
    }
    if (s.role !== 'leader') {
      for (const p of this.pendingReads.values()) p.reject(this.notLeader());
      this.pendingReads.clear();
    } else if (!this.clusterId) {
      // The first leader names the cluster; if several try, the first applied wins.
      const init: pb.Command = { requestId: undefined, op: { $case: 'init', value: { clusterId: randomUUID() } } };
      this.enqueue(() => this.raft.propose([pb.Command.encode(init).finish()]));
    }
    for (const l of this.softListeners) l(s);
  }

  private wakeAppliedWaiters(): void {
    if (this.appliedWaiters.length === 0) return;
    const still: { index: number; resolve: () => void }[] = [];
    for (const w of this.appliedWaiters) w.index <= this.sm.applied ? w.resolve() : still.push(w);
    this.appliedWaiters = still;
  }

  private notify(e: ChangeEvent): void {
    const set = this.watchers.get(e.key);
    if (!set) return;
    for (const l of set) {
      try {
        l(e);
      } catch (err) {
        this.log.warn('watch listener failed', { key: e.key, error: String(err) });
      }
    }
  }

  private fatal(e: Error): void {
    if (this.closed) return;
    this.failed = e;
    this.log.error('metadata member failed', { error: e.message, stack: e.stack });
    void this.close();
  }

  // ------------------------------------------------------------------------------------------------ API

  private check(): void {
    if (this.failed) throw new MetadataError('closed', `metadata member failed: ${this.failed.message}`);
    if (this.closed) throw new MetadataError('closed', 'metadata member is shut down');
  }

  private notLeader(): MetadataError {
    const leader = this.soft.leader;
    if (!leader) return new MetadataError('unavailable', `member ${this.nodeId} knows no leader right now`);
    return new MetadataError('not-leader', `member ${this.nodeId} is not the leader; the leader is ${leader}`, {
      leaderId: leader,
      leaderAddress: this.addresses.get(leader) ?? '',
    });
  }

  validateKey(key: string): void {
    if (typeof key !== 'string' || key.length === 0)
      throw new MetadataError('invalid-argument', 'key must not be empty');
    const bytes = Buffer.byteLength(key);
    if (bytes > this.maxKeyBytes) {
      throw new MetadataError('invalid-argument', `key is ${bytes} bytes, more than the limit of ${this.maxKeyBytes}`);
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    if (/[\u0000-\u001f\u007f]/.test(key))
      throw new MetadataError('invalid-argument', 'key must not contain control characters');
  }

  private propose(cmd: pb.Command): Promise<pb.StoredResult> {
    this.check();
    const data = pb.Command.encode(cmd).finish();
    return new Promise((resolve, reject) => {
      this.enqueue(() => {
        const res = this.raft.propose([data]);
        if (!res.ok) {
          reject(res.reason === 'not-leader' ? this.notLeader() : new MetadataError('unavailable', res.message));
          return;
        }
        const timer = setTimeout(() => {
          this.pendingWrites.delete(res.index);
          reject(unknownOutcome());
        }, this.opts.writeTimeoutMs ?? 10_000);
        timer.unref();
        this.pendingWrites.set(res.index, { term: res.term, resolve, reject, timer });
      });
    });
  }

  private async write(cmd: pb.Command, key: string): Promise<WriteOutcome> {
    this.stats.writes++;
    const receivedMs = this.opts.metrics ? performance.now() : 0;
    try {
      const r = await this.propose(cmd);
      this.opts.metrics?.committed((performance.now() - receivedMs) / 1000);
      if (r.code === RESULT_PRECONDITION_FAILED) {
        const cur = Number(r.currentVersion);
        throw new MetadataError(
          'precondition-failed',
          cur === 0
            ? `precondition failed: key '${key}' holds no value`
            : `precondition failed: key '${key}' is at version ${cur}`,
          { currentVersion: cur },
        );
      }
      if (r.code === RESULT_STALE_REQUEST) {
        throw new MetadataError('invalid-argument', `request ${cmd.requestId?.seq} was already acknowledged`);
      }
      return { version: Number(r.version), existed: r.existed };
    } catch (e) {
      this.stats.writeFailures++;
      throw e;
    }
  }

  async put(key: string, value: Uint8Array, pre?: Precondition, rid?: RequestIdentity): Promise<WriteOutcome> {
    this.validateKey(key);
    if (!(value instanceof Uint8Array)) throw new MetadataError('invalid-argument', 'value must be bytes');
    if (value.length > this.maxValueBytes) {
      throw new MetadataError(
        'invalid-argument',
        `value of key '${key}' is ${value.length} bytes, more than the limit of ${this.maxValueBytes}`,
      );
    }
    if (pre?.kind === 'matches-version' && !(Number.isSafeInteger(pre.version) && pre.version > 0)) {
      throw new MetadataError('invalid-argument', `expected version must be a positive integer, got ${pre.version}`);
    }
    return this.write(
      {
        requestId: rid ? toPbRid(rid) : undefined,
        op: {
          $case: 'put',
          value: { key, value: Buffer.from(value), precondition: toPbPrecondition(pre), requestId: undefined },
        },
      },
      key,
    );
  }

  async delete(key: string, pre?: Precondition, rid?: RequestIdentity): Promise<WriteOutcome> {
    this.validateKey(key);
    return this.write(
      {
        requestId: rid ? toPbRid(rid) : undefined,
        op: { $case: 'delete', value: { key, precondition: toPbPrecondition(pre), requestId: undefined } },
      },
      key,
    );
  }

  /** Linearizable read (leader only, confirmed by a quorum) unless `allowStale`. */
  async get(key: string, opts: { allowStale?: boolean } = {}): Promise<VersionedValue | undefined> {
    this.validateKey(key);
    this.check();
    this.stats.reads++;
    if (!opts.allowStale) {
      const index = await new Promise<number>((resolve, reject) => {
        this.enqueue(() => {
          const ctx = this.raft.readIndex();
          if (ctx === undefined) reject(this.notLeader());
          else this.pendingReads.set(ctx, { resolve, reject });
        });
      });
      await this.waitApplied(index);
    }
    return this.sm.get(key);
  }

  private waitApplied(index: number): Promise<void> {
    if (this.sm.applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  /**
   * Calls `listener` with the current value when its version is above `fromVersion` (or with a deletion when
   * the key holds nothing and `fromVersion` > 0), then on every change. Served from this member's state.
   */
  watch(key: string, fromVersion: number, listener: (e: ChangeEvent) => void): () => void {
    this.validateKey(key);
    this.check();
    let set = this.watchers.get(key);
    if (!set) {
      set = new Set();
      this.watchers.set(key, set);
    }
    set.add(listener);
    const cur = this.sm.get(key);
    if (cur && cur.version > fromVersion) listener({ key, deleted: false, value: cur.value, version: cur.version });
    else if (!cur && fromVersion > 0)
      listener({ key, deleted: true, value: new Uint8Array(0), version: this.sm.applied });
    return () => {
      set.delete(listener);
      if (set.size === 0) this.watchers.delete(key);
    };
  }

  /** Called once when the member stops. */
  onClose(listener: () => void): () => void {
    if (this.closed) {
      listener();
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  onLeaderChange(listener: (s: SoftState) => void): () => void {
    this.softListeners.add(listener);
    return () => this.softListeners.delete(listener);
  }

  private async confChange(
    cc: { op: 'add'; id: string; addr: string } | { op: 'remove'; id: string },
  ): Promise<Member[]> {
    this.check();
    const index = await new Promise<number>((resolve, reject) => {
      this.enqueue(() => {
        const res = this.raft.proposeConfChange(cc);
        if (res.ok) {
          const timer = setTimeout(() => {
            this.pendingWrites.delete(res.index);
            reject(unknownOutcome());
          }, this.opts.writeTimeoutMs ?? 10_000);
          timer.unref();
          this.pendingWrites.set(res.index, { term: res.term, resolve: () => resolve(res.index), reject, timer });
          return;
        }
        if (res.reason === 'not-leader') reject(this.notLeader());
        else if (res.reason === 'invalid') reject(new MetadataError('invalid-argument', res.message));
        else reject(new MetadataError('unavailable', res.message));
      });
    });
    return [...this.raft.confAt(index).members];
  }

  /**
   * Adds a member (leader only) as a non-voting learner: it receives the log, and the leader promotes it to a voter
   * by itself once it has caught up, so adding an address that never answers does not change the quorum. The new
   * member must run with `join: true` and an empty data dir. Resolves with the membership once the add commits.
   */
  addMember(id: string, address: string): Promise<Member[]> {
    if (!id) throw new MetadataError('invalid-argument', 'member id must not be empty');
    if (!address) throw new MetadataError('invalid-argument', 'member address must not be empty');
    this.addresses.set(id, address);
    return this.confChange({ op: 'add', id, addr: address });
  }

  /**
   * Removes a learner or a voter (leader only; never the last voter). A leader removing itself steps down once the
   * change commits.
   */
  removeMember(id: string): Promise<Member[]> {
    return this.confChange({ op: 'remove', id });
  }

  /** Hands leadership to `to` (default: the most up-to-date other member) and waits for it to take over. */
  async transferLeadership(to?: string, timeoutMs = 5000): Promise<void> {
    this.check();
    await new Promise<void>((resolve, reject) => {
      this.enqueue(() => {
        const st = this.raft.status();
        if (st.role !== 'leader') return reject(this.notLeader());
        let target = to;
        if (!target) {
          let best = -1;
          for (const [id, p] of Object.entries(st.progress)) {
            if (!p.learner && p.match > best) {
              best = p.match;
              target = id;
            }
          }
        }
        if (!target) return reject(new MetadataError('invalid-argument', 'no other member to hand leadership to'));
        const res = this.raft.transferLeadership(target);
        if (!res.ok)
          reject(new MetadataError(res.reason === 'invalid' ? 'invalid-argument' : 'unavailable', res.message));
        else resolve();
      });
    });
    await this.waitFor(() => this.soft.role !== 'leader', timeoutMs);
    if (this.soft.role === 'leader') throw new MetadataError('unavailable', 'leadership transfer did not complete');
  }

  /** Resolves once some member leads and this one knows it (or rejects after `timeoutMs`). */
  async waitForLeader(timeoutMs = 10_000): Promise<string> {
    await this.waitFor(() => this.soft.leader !== '', timeoutMs);
    if (!this.soft.leader) throw new MetadataError('unavailable', `no leader elected within ${timeoutMs} ms`);
    return this.soft.leader;
  }

  private waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const off = this.onLeaderChange(() => {
        if (cond()) done();
      });
    });
  }

  isLeader(): boolean {
    return this.soft.role === 'leader';
  }

  /** The cluster's random id ('' until the first leader has named it). */
  get clusterId(): string {
    return this.sm.clusterId || this.store.identity.clusterId || '';
  }

  /** Ready to serve: healthy and some leader is known. */
  isReady(): boolean {
    return !this.closed && !this.failed && this.soft.leader !== '';
  }

  isHealthy(): boolean {
    return !this.closed && !this.failed;
  }

  status(): NodeStatus {
    const st = this.raft.status();
    return {
      nodeId: this.nodeId,
      clusterName: this.clusterName,
      role: st.role,
      term: st.term,
      leaderId: st.leader,
      leaderAddress: st.leader ? (this.addresses.get(st.leader) ?? '') : '',
      commitIndex: st.commit,
      appliedIndex: this.sm.applied,
      clusterId: this.clusterId,
      lastIndex: st.lastIndex,
      snapshotIndex: this.raft.snapshot().meta.index,
      members: st.members,
    };
  }

  /**
   * Stops the member. With `handOver` (graceful shutdown), a leader first hands leadership to another member so
   * the cluster does not wait for an election timeout.
   */
  async close(opts: { handOver?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    if (opts.handOver && !this.failed && this.soft.role === 'leader' && voters(this.raft.conf()).length > 1) {
      try {
        await this.transferLeadership(undefined, 3000);
        // let the new leader's first messages flow
        await new Promise((r) => setTimeout(r, 50));
      } catch (e) {
        this.log.warn('leadership hand-over on shutdown failed', { error: (e as Error).message });
      }
    }
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const l of this.closeListeners) l();
    this.closeListeners.clear();
    this.watchers.clear();
    if (this.running) await new Promise<void>((r) => this.idle.push(r));
    const err = new MetadataError('closed', 'metadata member is shut down');
    for (const p of this.pendingWrites.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pendingWrites.clear();
    for (const p of this.pendingReads.values()) p.reject(err);
    this.pendingReads.clear();
    await this.transport?.close();
    await this.store.close();
    this.log.info('metadata member stopped', { nodeId: this.nodeId });
  }
}

function toPbRid(r: RequestIdentity): pb.RequestId {
  return { clientId: r.clientId, seq: BigInt(r.seq), ackedBelow: BigInt(r.ackedBelow) };
}

function unknownOutcome(): MetadataError {
  return new MetadataError(
    'unknown-outcome',
    'the write may or may not have been applied (leadership changed or commit timed out); retry with the same request id',
  );
}
