/**
 * Deterministic simulation of a Raft cluster on the shared toolkit (`@stead/testing/sim`): a seeded PRNG, a
 * simulated clock and a simulated network (loss, duplication, reordering, one-way and two-way partitions), crashes (with and without loss of the writes in flight), restarts,
 * membership changes (new members join as learners that may be slow to start, crash often or never be reachable
 * at all; the leader promotes them once caught up) and leadership transfers, with a small versioned key-value store on top driven by
 * concurrent clients. Raft invariants are checked at every step; the client history is checked for
 * linearizability at the end. A failing run throws a {@link SimFailure} naming its seed.
 */
import { Prng, SimClock, SimNetwork } from '@stead/testing/sim';
import {
  checkLinearizable,
  HistoryRecorder,
  type KvInput,
  type KvOutput,
  kvModel,
  type Precondition,
} from '../linearizability.ts';
import { Raft } from '../raft.ts';
import {
  type ConfState,
  decodeConf,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
  voters,
} from '../types.ts';

export interface SimOptions {
  readonly seed: number;
  /** Initial cluster size (default: 3 or 5 depending on the seed). */
  readonly members?: 3 | 5;
  /** Steps with faults (default 250). */
  readonly steps?: number;
  /** Most fault-free steps to converge afterwards (default 400). */
  readonly settleSteps?: number;
  /**
   * Deliberate bug, to show that the checks catch it: `forget-vote` does not persist votes; `promote-at-once`
   * has the operator promote every learner as soon as it can, caught up or not.
   */
  readonly bug?: 'forget-vote' | 'promote-at-once';
  /** Collects a trace of events (slow; for debugging one seed). */
  readonly trace?: boolean;
}

export interface SimResult {
  readonly seed: number;
  readonly members: number;
  readonly steps: number;
  readonly maxTerm: number;
  readonly committed: number;
  readonly ops: number;
  readonly okOps: number;
  readonly crashes: number;
  readonly partitions: number;
  readonly confChanges: number;
  /** Learners added whose address never answers (they must never become voters). */
  readonly unreachableLearners: number;
  /** Learners the leader promoted to voters. */
  readonly promotions: number;
  readonly transfers: number;
  readonly snapshotsSent: number;
  readonly checkSteps: number;
}

export class SimFailure extends Error {
  override name = 'SimFailure';
  readonly seed: number;
  readonly step: number;
  readonly trace: string[];
  constructor(seed: number, step: number, message: string, trace: string[]) {
    super(`simulation seed ${seed} failed at step ${step}: ${message}\n  reproduce: runSimulation({ seed: ${seed} })`);
    this.seed = seed;
    this.step = step;
    this.trace = trace;
  }
}

interface Disk {
  hard: HardState | undefined;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

type Done = (out: KvOutput | undefined) => void;

interface KvValue {
  value: string;
  version: string;
}

/**
 * How an added member behaves: `normal` starts at once; `slow` starts many ticks later; `flaky` crashes often;
 * `unreachable` never starts (an address nobody answers at).
 */
type Reach = 'normal' | 'slow' | 'flaky' | 'unreachable';

class SimNode {
  readonly id: NodeId;
  readonly bootstrap: ConfState | undefined;
  /** Index of the conf entry that made this node a member (1 for bootstrap members). */
  addedAt: number;
  readonly disk: Disk = { hard: undefined, snapshot: undefined, entries: [] };
  raft: Raft | undefined;
  readonly rng: Prng;
  restartAt = -1;
  retired = false;
  kv = new Map<string, KvValue>();
  applied = 0;
  pendingWrites = new Map<number, { term: number; done: Done }>();
  pendingReads = new Map<string, { key: string; done: Done }>();
  readyReads: { index: number; key: string; done: Done }[] = [];
  readonly compactEvery: number;
  readonly reach: Reach;
  constructor(id: NodeId, bootstrap: ConfState | undefined, addedAt: number, rng: Prng, reach: Reach = 'normal') {
    this.id = id;
    this.bootstrap = bootstrap;
    this.addedAt = addedAt;
    this.rng = rng;
    this.compactEvery = rng.int(4, 40);
    this.reach = reach;
  }
}

interface Client {
  readonly id: number;
  busy: boolean;
  leaderHint: NodeId;
  seq: number;
  /** Last version seen per key (for matches-version preconditions). */
  seen: Map<string, string>;
}

const dec = new TextDecoder();
const enc = new TextEncoder();

export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

class Simulation {
  private readonly seed: number;
  private readonly rng: Prng;
  /** One simulated millisecond per step: the network's deliveries are timers on this clock. */
  private readonly clock = new SimClock();
  private readonly net: SimNetwork;
  /** Messages that arrived during this step's clock advance, in order of arrival. */
  private arrived: Message[] = [];
  private readonly opts: SimOptions;
  private readonly nodes = new Map<NodeId, SimNode>();
  private now = 0;
  private nextNodeId: number;
  private healTimer: unknown;
  private faults = true;
  // fault parameters, drawn from the seed
  private readonly crashRate: number;
  private readonly midReadyCrash: number;
  private readonly partitionRate: number;
  private readonly confRate: number;
  private readonly transferRate: number;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  // invariants
  private readonly entryReg = new Map<string, { data: string; prevTerm: number }>();
  private readonly committedReg: { term: number; data: string }[] = [];
  private readonly smAt = new Map<number, string>();
  private readonly leaders = new Map<number, NodeId>();
  private maxConfIndex = 0;
  private committedConf: ConfState;
  private readonly dataKeys = new WeakMap<Uint8Array, string>();
  // clients
  private readonly clients: Client[] = [];
  private readonly history = new HistoryRecorder<KvInput, KvOutput>();
  private okOps = 0;
  private readonly keys = ['a', 'b', 'c'];
  // stats
  private crashes = 0;
  private partitions = 0;
  private confChanges = 0;
  private unreachableLearners = 0;
  private promotions = 0;
  private transfers = 0;
  private snapshotsSent = 0;
  private readonly trace: string[] = [];

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.seed = opts.seed;
    this.rng = new Prng(opts.seed);
    const netRng = this.rng.fork();
    const size = opts.members ?? (opts.seed % 2 === 0 ? 3 : 5);
    const loss = this.rng.pick([0, 0.01, 0.05, 0.15]);
    const duplicate = this.rng.pick([0, 0.02, 0.08]);
    const maxLatency = this.rng.int(1, 4);
    // A message sent in step s arrives in step s + int(1, maxLatency); the fraction orders arrivals within a step.
    // Messages are sent after the step's clock advance, so the delay is one less than the step count.
    this.net = new SimNetwork({
      clock: this.clock,
      random: netRng,
      loss,
      duplicate,
      delayMs: (r) => r.int(1, maxLatency) - 1 + r.next() * 0.99,
    });
    this.crashRate = this.rng.pick([0, 0.002, 0.006, 0.03]);
    this.preVote = this.rng.chance(0.75);
    this.checkQuorum = this.rng.chance(0.75);
    this.midReadyCrash = this.rng.pick([0, 0.002, 0.01]);
    this.partitionRate = this.rng.pick([0, 0.005, 0.02]);
    this.confRate = this.rng.pick([0, 0.01, 0.03]);
    this.transferRate = this.rng.pick([0, 0.005, 0.02]);
    this.electionTicks = this.rng.int(6, 12);
    this.heartbeatTicks = this.rng.int(1, 3);
    const members = Array.from({ length: size }, (_, i) => ({ id: `n${i + 1}`, addr: `sim://n${i + 1}` }));
    this.committedConf = { members };
    this.nextNodeId = size + 1;
    for (const m of members) {
      const node = new SimNode(m.id, { members }, 1, this.rng.fork());
      this.nodes.set(m.id, node);
      this.start(node);
    }
    for (let i = 0; i < 3; i++) {
      this.clients.push({ id: i, busy: false, leaderHint: '', seq: 0, seen: new Map() });
    }
  }

  private log(msg: string): void {
    if (this.opts.trace) this.trace.push(`[${this.now}] ${msg}`);
  }

  private fail(msg: string): never {
    throw new SimFailure(this.seed, this.now, msg, this.trace);
  }

  run(): SimResult {
    const steps = this.opts.steps ?? 250;
    const settle = this.opts.settleSteps ?? 400;
    for (; this.now < steps; this.now++) this.step();
    // Settle: no more faults; everything heals and restarts; the cluster must converge and accept a write.
    this.faults = false;
    this.heal();
    this.net.loss = 0;
    this.net.duplicate = 0;
    for (const n of this.nodes.values()) {
      if (!n.retired && !n.raft && n.reach !== 'unreachable' && this.isMemberOfCommitted(n.id)) this.start(n);
    }
    let probe: { index: number; term: number; node: SimNode } | undefined;
    let converged = false;
    const end = this.now + settle;
    for (; this.now < end; this.now++) {
      this.step();
      const leader = this.currentLeader();
      if (!leader) continue;
      if (probe && leader.raft!.softState().term > probe.term && leader.raft!.termAt(probe.index) !== probe.term) {
        probe = undefined; // the probe entry was lost with its leader's term: propose it again
      }
      if (!probe) {
        const r = leader.raft!.propose([enc.encode(JSON.stringify({ kind: 'probe' }))]);
        if (r.ok) {
          probe = { index: r.index, term: r.term, node: leader };
          this.clientsStopped = true;
        }
        continue;
      }
      if (this.isConverged(leader, probe.index)) {
        converged = true;
        break;
      }
    }
    if (!converged) {
      const st = [...this.nodes.values()].map((n) =>
        n.raft
          ? JSON.stringify({ ...n.raft.status(), applied: n.applied, members: n.raft.conf().members.map((m) => m.id) })
          : `${n.id} down${n.retired ? ' (retired)' : ''}`,
      );
      const cl = this.clients.map((c) => `client ${c.id} busy=${c.busy}`);
      this.fail(
        `cluster did not converge after faults stopped (liveness); probe ${JSON.stringify(probe?.index)}\n    ${[...st, ...cl].join('\n    ')}`,
      );
    }
    const check = checkLinearizable(kvModel(this.history.history()), this.history.history(), { maxSteps: 2_000_000 });
    if (check.result === 'illegal') {
      this.fail(`history not linearizable (key partition ${check.partition}):\n    ${check.ops.join('\n    ')}`);
    }
    if (check.result === 'unknown') this.fail('linearizability check ran out of budget');
    let maxTerm = 0;
    for (const t of this.leaders.keys()) maxTerm = Math.max(maxTerm, t);
    return {
      seed: this.seed,
      members: this.committedConf.members.length,
      steps: this.now,
      maxTerm,
      committed: this.committedReg.length - 1,
      ops: this.history.size,
      okOps: this.okOps,
      crashes: this.crashes,
      partitions: this.partitions,
      confChanges: this.confChanges,
      unreachableLearners: this.unreachableLearners,
      promotions: this.promotions,
      transfers: this.transfers,
      snapshotsSent: this.snapshotsSent,
      checkSteps: check.steps,
    };
  }

  private isConverged(leader: SimNode, probeIndex: number): boolean {
    const r = leader.raft!;
    if (r.status().commit < probeIndex) return false;
    const commit = r.status().commit;
    for (const m of r.conf().members) {
      const n = this.nodes.get(m.id);
      if (n?.reach === 'unreachable') continue; // a learner (checked at every new conf entry) nobody can reach
      if (!n?.raft || n.applied < commit) return false;
    }
    return this.clients.every((c) => !c.busy);
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      const s = n.raft?.softState();
      if (s?.role === 'leader' && (!best || s.term > best.raft!.softState().term)) best = n;
    }
    return best;
  }

  private isMemberOfCommitted(id: NodeId): boolean {
    return this.committedConf.members.some((m) => m.id === id);
  }

  // ------------------------------------------------------------------ one step

  private step(): void {
    // Messages due in this step arrive (in order of arrival) and partitions heal.
    this.clock.advance(1);
    const due = this.arrived;
    this.arrived = [];
    if (this.faults) this.injectFaults();
    // restarts
    for (const n of this.nodes.values()) {
      if (!n.raft && !n.retired && n.restartAt >= 0 && n.restartAt <= this.now) this.start(n);
    }
    for (const m of due) {
      if (this.net.blocked(m.from, m.to)) continue; // a partition that started this step
      const n = this.nodes.get(m.to);
      if (!n?.raft) continue;
      if (m.type === 'snapshot') this.snapshotsSent++;
      n.raft.step(m);
      this.process(n);
    }
    // ticks
    for (const n of this.nodes.values()) {
      if (!n.raft) continue;
      n.raft.tick();
      this.process(n);
    }
    this.drive();
    this.operate();
    this.retire();
  }

  private injectFaults(): void {
    const r = this.rng;
    if (this.healTimer === undefined && r.chance(this.partitionRate)) {
      const ids = [...this.nodes.keys()];
      const side = new Set(ids.filter(() => r.chance(0.4)));
      if (side.size === 0) side.add(r.pick(ids));
      const oneWay = r.chance(0.2);
      for (const a of ids) {
        for (const b of ids) {
          if (side.has(a) !== side.has(b) && (!oneWay || side.has(a))) this.net.cut(a, b);
        }
      }
      this.healTimer = this.clock.setTimeout(
        () => {
          this.heal();
          this.log('partition healed');
        },
        r.int(10, 80),
      );
      this.partitions++;
      this.log(`partition ${[...side].join(',')}${oneWay ? ' (one way)' : ''}`);
    }
    for (const n of this.nodes.values()) {
      if (n.raft && r.chance(n.reach === 'flaky' ? Math.max(0.05, this.crashRate * 5) : this.crashRate)) {
        this.crash(n, r.chance(0.5) ? r.int(1, 5) : r.int(5, 60));
      }
    }
  }

  private heal(): void {
    this.clock.clearTimeout(this.healTimer);
    this.healTimer = undefined;
    this.net.heal();
  }

  private crash(n: SimNode, downFor: number): void {
    this.log(`crash ${n.id}`);
    this.crashes++;
    n.raft = undefined;
    n.restartAt = this.now + downFor;
    for (const p of n.pendingWrites.values()) p.done(undefined);
    for (const d of n.pendingReads.values()) d.done(undefined);
    for (const rr of n.readyReads) rr.done(undefined);
    n.pendingWrites.clear();
    n.pendingReads.clear();
    n.readyReads = [];
  }

  private start(n: SimNode): void {
    this.log(`start ${n.id}`);
    const d = n.disk;
    n.raft = new Raft({
      id: n.id,
      electionTicks: this.electionTicks,
      heartbeatTicks: this.heartbeatTicks,
      random: () => n.rng.next(),
      preVote: this.preVote,
      checkQuorum: this.checkQuorum,
      maxEntriesPerMsg: 4,
      maxInflight: 3,
      storage: { hardState: d.hard, snapshot: d.snapshot, entries: d.entries.slice() },
      bootstrap: n.bootstrap,
    });
    n.kv = d.snapshot ? decodeKv(d.snapshot.data) : new Map();
    n.applied = d.snapshot?.meta.index ?? 0;
    this.process(n);
  }

  // ------------------------------------------------------------------ a node's Ready loop

  private process(n: SimNode): void {
    while (n.raft?.hasReady()) {
      const raft = n.raft;
      const rd = raft.ready();
      // Like the metadata store, a leader's appends leave before its own write (thesis §10.2.1).
      const early = rd.messages.filter((m) => m.type === 'append');
      for (const m of early) this.send(m);
      if ((rd.entries.length > 0 || rd.hardState || rd.snapshot) && this.faults && n.rng.chance(this.midReadyCrash)) {
        // Crash while the write is in flight: either it reached the disk (without fsync but survived) or not.
        const kept = n.rng.chance(0.5);
        if (kept) this.write(n, rd);
        this.log(`crash ${n.id} during write (${kept ? 'kept' : 'lost'})`);
        this.crash(n, n.rng.int(3, 40));
        return;
      }
      this.write(n, rd);
      this.checkNewEntries(n, rd);
      if (rd.softState) this.onSoftState(n);
      for (const m of rd.messages) if (m.type !== 'append') this.send(m);
      if (rd.snapshot) this.installSnapshot(n, rd.snapshot);
      for (const e of rd.committed) this.apply(n, e);
      for (const rs of rd.readStates) {
        const pr = n.pendingReads.get(rs.ctx);
        if (pr) {
          n.pendingReads.delete(rs.ctx);
          n.readyReads.push({ index: rs.index, key: pr.key, done: pr.done });
        }
      }
      raft.advance();
      this.serveReads(n);
      this.maybeCompact(n);
    }
  }

  private write(n: SimNode, rd: Ready): void {
    const d = n.disk;
    if (rd.snapshot) {
      d.snapshot = rd.snapshot;
      d.entries = [];
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      const base = d.entries.length > 0 ? d.entries[0].index : first;
      if (first < base) this.fail(`${n.id}: Ready entries start at ${first} below the stored log at ${base}`);
      d.entries.length = Math.min(d.entries.length, first - base);
      for (const e of rd.entries) d.entries.push(e);
    }
    if (rd.hardState) {
      d.hard = this.opts.bug === 'forget-vote' ? { ...rd.hardState, vote: '' } : rd.hardState;
    }
  }

  private dataKey(e: Entry): string {
    let k = this.dataKeys.get(e.data);
    if (k === undefined) {
      k = `${e.type}:${dec.decode(e.data)}`;
      this.dataKeys.set(e.data, k);
    }
    return k;
  }

  /**
   * Log matching: an entry (term, index) is the same everywhere, and so is the term of the entry before it.
   * Membership: a conf entry changes the voter set by at most one member (single-server changes), and a member
   * nobody can reach is never made a voter.
   */
  private checkNewEntries(n: SimNode, rd: Ready): void {
    const raft = n.raft!;
    for (const e of rd.entries) {
      const prevTerm = raft.termAt(e.index - 1);
      if (prevTerm === undefined) this.fail(`${n.id}: entry ${e.index} has no predecessor`);
      if (e.type === 'conf') this.checkConfEntry(n, e);
      const key = `${e.term}:${e.index}`;
      const data = this.dataKey(e);
      const seen = this.entryReg.get(key);
      if (!seen) this.entryReg.set(key, { data, prevTerm });
      else if (seen.data !== data || seen.prevTerm !== prevTerm) {
        this.fail(`log matching: ${n.id} has a different entry (${key}) or predecessor term than another log`);
      }
    }
  }

  private checkConfEntry(n: SimNode, e: Entry): void {
    const next = voters(decodeConf(e.data)).map((m) => m.id);
    const prev = voters(n.raft!.confAt(e.index - 1)).map((m) => m.id);
    const changed = next.filter((id) => !prev.includes(id)).length + prev.filter((id) => !next.includes(id)).length;
    if (changed > 1 && e.index > 1) {
      this.fail(`membership: conf entry ${e.index} changes voters [${prev}] to [${next}] (more than one at a time)`);
    }
    for (const id of next) {
      if (this.nodes.get(id)?.reach === 'unreachable') {
        this.fail(`membership: unreachable learner ${id} became a voter at entry ${e.index} (on ${n.id})`);
      }
    }
    if (changed === 1 && next.length > prev.length && !this.entryReg.has(`${e.term}:${e.index}`)) {
      this.promotions++;
      this.log(`promote ${next.filter((id) => !prev.includes(id))} at ${e.index}`);
    }
  }

  private onSoftState(n: SimNode): void {
    const s = n.raft!.softState();
    if (s.role !== 'leader') {
      for (const d of n.pendingReads.values()) d.done(undefined);
      n.pendingReads.clear();
      return;
    }
    // Election safety: one leader per term.
    const other = this.leaders.get(s.term);
    if (other !== undefined && other !== n.id)
      this.fail(`election safety: ${other} and ${n.id} both lead term ${s.term}`);
    this.leaders.set(s.term, n.id);
    this.log(`${n.id} leads term ${s.term}`);
    // Leader completeness: the new leader has every committed entry.
    const raft = n.raft!;
    const snap = raft.snapshot().meta;
    for (let i = snap.index + 1; i < this.committedReg.length; i++) {
      const c = this.committedReg[i];
      if (c && raft.termAt(i) !== c.term) {
        this.fail(`leader completeness: ${n.id} (term ${s.term}) lacks committed entry ${i} of term ${c.term}`);
      }
    }
    const c = this.committedReg[snap.index];
    if (c && c.term !== snap.term) this.fail(`leader completeness: ${n.id} snapshot ${snap.index} has a wrong term`);
  }

  private send(m: Message): void {
    this.net.send(m.from, m.to, () => this.arrived.push(m));
  }

  private installSnapshot(n: SimNode, s: Snapshot): void {
    const c = this.committedReg[s.meta.index];
    if (c && c.term !== s.meta.term) this.fail(`${n.id} installed a snapshot at ${s.meta.index} of a wrong term`);
    const data = dec.decode(s.data);
    const seen = this.smAt.get(s.meta.index);
    if (seen !== undefined && seen !== data) this.fail(`state machine safety: snapshot at ${s.meta.index} differs`);
    this.smAt.set(s.meta.index, data);
    n.kv = decodeKv(s.data);
    n.applied = s.meta.index;
    this.log(`${n.id} installed snapshot ${s.meta.index}`);
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index !== n.applied + 1) this.fail(`${n.id} applies ${e.index} after ${n.applied}`);
    // State machine safety: every node applies the same entry at an index.
    const data = this.dataKey(e);
    const c = this.committedReg[e.index];
    if (!c) {
      this.committedReg[e.index] = { term: e.term, data };
    } else if (c.term !== e.term || c.data !== data) {
      this.fail(`state machine safety: ${n.id} applies a different entry at ${e.index}`);
    }
    n.applied = e.index;
    let out: KvOutput | undefined;
    if (e.type === 'conf') {
      if (e.index > this.maxConfIndex) {
        this.maxConfIndex = e.index;
        this.committedConf = n.raft!.confAt(e.index);
      }
    } else if (e.data.length > 0) {
      const op = JSON.parse(dec.decode(e.data)) as KvInput | { kind: 'probe' };
      if (op.kind === 'put' || op.kind === 'delete') out = applyKv(n.kv, op, String(e.index));
    }
    const p = n.pendingWrites.get(e.index);
    if (p) {
      n.pendingWrites.delete(e.index);
      p.done(p.term === e.term ? out : undefined);
    }
  }

  private serveReads(n: SimNode): void {
    if (n.readyReads.length === 0) return;
    const waiting: { index: number; key: string; done: Done }[] = [];
    for (const r of n.readyReads) {
      if (n.applied >= r.index) r.done(readKv(n.kv, r.key));
      else waiting.push(r);
    }
    n.readyReads = waiting;
  }

  private maybeCompact(n: SimNode): void {
    const raft = n.raft;
    if (!raft) return;
    const snapIndex = raft.snapshot().meta.index;
    if (n.applied - snapIndex < n.compactEvery) return;
    const data = encodeKv(n.kv);
    const text = dec.decode(data);
    const seen = this.smAt.get(n.applied);
    if (seen !== undefined && seen !== text) this.fail(`state machine safety: state at ${n.applied} differs`);
    this.smAt.set(n.applied, text);
    const snap = raft.compact(n.applied, data);
    n.disk.snapshot = snap;
    n.disk.entries = n.disk.entries.filter((e) => e.index > snap.meta.index);
  }

  // ------------------------------------------------------------------ clients and operator

  private drive(): void {
    for (const c of this.clients) {
      if (c.busy || this.clientsStopped || !this.rng.chance(0.3)) continue;
      const members = this.committedConf.members.map((m) => m.id);
      const target = this.nodes.get(c.leaderHint)?.raft ? c.leaderHint : this.rng.pick(members);
      const n = this.nodes.get(target);
      if (!n?.raft) {
        c.leaderHint = '';
        continue;
      }
      const raft = n.raft;
      const s = raft.softState();
      if (s.role !== 'leader') {
        c.leaderHint = s.leader !== target ? s.leader : '';
        continue;
      }
      const key = this.rng.pick(this.keys);
      const kind = this.rng.next();
      if (kind < 0.35) {
        const ctx = raft.readIndex();
        if (ctx === undefined) continue;
        n.pendingReads.set(ctx, { key, done: this.begin(c, { kind: 'get', key }) });
        this.process(n);
        continue;
      }
      const seen = c.seen.get(key);
      let input: KvInput;
      if (kind < 0.85) {
        const r = this.rng.next();
        const pre: Precondition =
          r < 0.3 ? { kind: 'none' } : r < 0.55 || !seen ? { kind: 'absent' } : { kind: 'version', version: seen };
        input = { kind: 'put', key, value: `c${c.id}.${++c.seq}`, pre };
      } else {
        const pre: Precondition = seen && this.rng.chance(0.5) ? { kind: 'version', version: seen } : { kind: 'none' };
        input = { kind: 'delete', key, pre };
      }
      const res = raft.propose([enc.encode(JSON.stringify(input))]);
      if (!res.ok) continue;
      n.pendingWrites.set(res.index, { term: res.term, done: this.begin(c, input) });
      this.process(n);
    }
  }

  private clientsStopped = false;

  private begin(c: Client, input: KvInput): Done {
    const record = this.history.begin(c.id, input);
    c.busy = true;
    let settled = false;
    // The client gives up after 80 steps: the outcome stays unknown.
    const giveUp = this.clock.setTimeout(() => done(undefined), 80);
    const done: Done = (out) => {
      if (settled) return;
      settled = true;
      this.clock.clearTimeout(giveUp);
      record(out);
      c.busy = false;
      if (!out) return;
      this.okOps++;
      if (out.kind === 'get' && out.version) c.seen.set(input.key, out.version);
      if (out.kind === 'write' && out.ok && out.version) c.seen.set(input.key, out.version);
    };
    return done;
  }

  private operate(): void {
    if (!this.faults) return;
    const leader = this.currentLeader();
    if (!leader) return;
    const raft = leader.raft!;
    if (this.rng.chance(this.transferRate)) {
      const others = voters(raft.conf()).filter((m) => m.id !== leader.id);
      if (others.length > 0) {
        const to = this.rng.pick(others).id;
        if (raft.transferLeadership(to).ok) {
          this.transfers++;
          this.log(`transfer ${leader.id} -> ${to}`);
        }
        this.process(leader);
      }
    }
    if (this.opts.bug === 'promote-at-once') {
      const learner = raft.conf().members.find((m) => m.learner);
      if (learner && raft.proposeConfChange({ op: 'promote', id: learner.id }).ok) this.process(leader);
    }
    if (this.rng.chance(this.confRate)) {
      const members = raft.conf().members;
      const size = members.length;
      const voterCount = voters(raft.conf()).length;
      const min = 3;
      const max = (this.opts.members ?? 3) === 5 || size > 3 ? 5 : 4;
      // Up to one extra learner beyond the usual size, so that a learner stuck forever does not block additions.
      const add = size > max ? false : voterCount <= min ? true : size >= max ? false : this.rng.chance(0.5);
      if (add) {
        const id = `n${this.nextNodeId++}`;
        const res = raft.proposeConfChange({ op: 'add', id, addr: `sim://${id}` });
        if (res.ok) {
          const r = this.rng.next();
          const reach: Reach = r < 0.55 ? 'normal' : r < 0.7 ? 'slow' : r < 0.85 ? 'flaky' : 'unreachable';
          const node = new SimNode(id, undefined, res.index, this.rng.fork(), reach);
          this.nodes.set(id, node);
          if (reach === 'normal' || reach === 'flaky') this.start(node);
          else if (reach === 'slow') node.restartAt = this.now + this.rng.int(20, 150);
          else this.unreachableLearners++;
          this.confChanges++;
          this.log(`propose add ${id} (${reach}) at ${res.index}`);
        }
      } else {
        // Keep at least `min` voters unless a learner goes: remove a learner when voters are few.
        const learners = members.filter((m) => m.learner);
        const pool = voterCount <= min && learners.length > 0 ? learners : members;
        const victim = this.rng.pick(pool).id;
        const res = raft.proposeConfChange({ op: 'remove', id: victim });
        if (res.ok) {
          this.confChanges++;
          this.log(`propose remove ${victim} at ${res.index}`);
        }
      }
      this.process(leader);
    }
  }

  /** Stops nodes that the committed membership no longer includes (some steps later). */
  private retire(): void {
    for (const n of this.nodes.values()) {
      if (n.retired) continue;
      if (!this.isMemberOfCommitted(n.id) && this.maxConfIndex > n.addedAt) {
        if (n.restartAt < 0 || n.raft) {
          n.retired = true;
          if (n.raft) this.crash(n, 0);
          n.restartAt = -1;
          this.log(`retire ${n.id}`);
        }
      }
    }
  }
}

function holds(kv: Map<string, KvValue>, key: string, pre: Precondition): boolean {
  const cur = kv.get(key);
  if (pre.kind === 'none') return true;
  if (pre.kind === 'absent') return cur === undefined;
  return cur !== undefined && cur.version === pre.version;
}

function applyKv(
  kv: Map<string, KvValue>,
  op: Extract<KvInput, { kind: 'put' | 'delete' }>,
  version: string,
): KvOutput {
  if (!holds(kv, op.key, op.pre)) return { kind: 'write', ok: false };
  if (op.kind === 'put') {
    kv.set(op.key, { value: op.value, version });
    return { kind: 'write', ok: true, version };
  }
  kv.delete(op.key);
  return { kind: 'write', ok: true };
}

function readKv(kv: Map<string, KvValue>, key: string): KvOutput {
  const cur = kv.get(key);
  return { kind: 'get', value: cur?.value ?? null, version: cur?.version ?? null };
}

function encodeKv(kv: Map<string, KvValue>): Uint8Array {
  return enc.encode(JSON.stringify([...kv].sort((a, b) => (a[0] < b[0] ? -1 : 1))));
}

function decodeKv(data: Uint8Array): Map<string, KvValue> {
  if (data.length === 0) return new Map();
  return new Map(JSON.parse(dec.decode(data)) as [string, KvValue][]);
}
