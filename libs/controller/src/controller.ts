// The controller's I/O shell: the lease, then rounds of list nodes → ping workers → decide() → conditional write.
import { type MetadataClient, Precondition } from '@stead/metadata';
import type { Logger } from '@stead/observability';
import { type ClusterConfig, readClusterConfig } from './config.ts';
import { DEFAULT_MAX_MOVES_PER_ROUND, decide } from './decide.ts';
import { assert, ControllerError } from './errors.ts';
import { type LeaseHandle, type LeaseStatus, runLease } from './lease.ts';
import { isPreconditionFailed, readNodeIndex, readNodeRecord, readPartitionTable, sortedRecords } from './nodes.ts';
import { CLUSTER_KEYS, encodePartitionTable, type NodeRecord, type PartitionTable, type Versioned } from './records.ts';
import { type ClusterRequest, readRequests, removeRequests } from './requests.ts';
import { type Clock, systemClock, systemTimers, type Timers, withTimeout } from './time.ts';
import type { Change, NodeView, OperatorRequest, PartitionPlacement, RequestOutcome } from './types.ts';

/** How old the node index a round works with may be (a node registered meanwhile is seen within it). */
const NODE_LIST_MAX_AGE_MS = 1_000;
/**
 * How old a node's record, or the partition table, a round works with may be. Both are read again sooner when
 * they may have changed: a record when its node does not answer as registered (it may have restarted elsewhere),
 * the table after a write of it lost.
 */
const RECORD_MAX_AGE_MS = 10_000;
/**
 * How old the cluster config and the operator requests a round works with may be: what `stead ctl config set`
 * or `partitions move` wrote applies within about this long.
 */
const SETTINGS_MAX_AGE_MS = 1_000;

/** What a node may say when it answers a ping, beyond "alive". */
export interface PingInfo {
  /** The node is shutting down: it gets no new replica or leadership, and hands its own over. */
  draining?: boolean;
  /** The answering process; when it differs from the registered instance the answer does not count. */
  instance?: string;
  /**
   * Not an answer: the node's address refused the connection, so no process listens there (it died, or a new
   * one is starting). The node counts as failed at once rather than after `nodeFailureTimeoutMs` of silence,
   * which remains the rule for a node that is merely silent (paused, cut off, overloaded).
   */
  refused?: boolean;
}

export interface ControllerShellConfig {
  /** Partitions of a new table; an existing table keeps its count (a warning says when they differ). */
  partitions: number;
  /** Replicas per partition while the metadata store has no cluster config (`cluster/config`); it wins when present. */
  partitionReplication: number;
  /** See ControllerConfig.partitionReplicationScope; also overridden by the cluster config. */
  partitionReplicationScope?: 'node' | 'zone';
  /** A worker that has not answered a ping for this long is dead. */
  nodeFailureTimeoutMs: number;
  /** See ControllerConfig.replicaReplacementDelayMs. */
  replicaReplacementDelayMs?: number;
  /** Time between rounds while active. */
  roundMs: number;
  /** How long a ping may take (default: roundMs). */
  pingTimeoutMs?: number;
  maxMovesPerRound?: number;
  /** Lease timing (defaults: renew every 1 s, timeout 5 s); see `runLease`. */
  leaseRenewMs?: number;
  leaseTimeoutMs?: number;
}

export interface ControllerOptions {
  client: MetadataClient;
  nodeId: string;
  /** Random per process start. */
  instance: string;
  config: ControllerShellConfig;
  /** Asks a node whether it is alive (the app calls the worker over gRPC); a rejection counts as no answer. */
  ping: (node: NodeRecord) => Promise<boolean | PingInfo>;
  /** Nodes leaving for good (scaled away, see `planScaling`): replaced without the replacement delay once failed. */
  scaledAway?: () => ReadonlySet<string>;
  clock?: Clock;
  timers?: Timers;
  log?: Logger;
}

/** One node as the active controller sees it. */
export interface NodeHealth {
  id: string;
  roles: NodeRecord['roles'];
  address: string;
  alive: boolean;
  draining: boolean;
  /** Failure domain the node registered with (its --location), when it has one. */
  location?: string;
  /** Last answered ping (this controller's clock); undefined when none answered during this tenure. */
  lastHeartbeatMs?: number;
}

/** What the controller last decided, for a status endpoint. */
export interface RoundReport {
  atMs: number;
  term: number;
  nodes: NodeHealth[];
  /** The table after the round, and its version in the store (undefined when the write lost). */
  table: PartitionTable;
  tableVersion: number | undefined;
  /** The changes of this round (empty at the fixpoint, or when the write lost). */
  changes: Change[];
  unavailable: number[];
  /** Operator requests done or dropped (with why) by this round. */
  requests: RequestOutcome[];
}

export interface ControllerStatus {
  nodeId: string;
  instance: string;
  /** This process holds the lease and runs rounds. */
  active: boolean;
  term?: number;
  /** The node id holding the lease as last seen, when it is not this one. */
  leaseHolder?: string;
  lastRound?: RoundReport;
}

export interface ControllerHandle {
  status(): ControllerStatus;
  /** Stops rounds and releases the lease (so another admin takes over at once). */
  stop(): Promise<void>;
}

/** A tenure: the heartbeats this controller has seen since it got the lease. */
interface Tenure {
  term: number;
  startedAtMs: number;
  heartbeats: Map<string, number>;
  /** Nodes whose last ping was refused (see PingInfo.refused): failed until they answer again. */
  refused: Set<string>;
  /**
   * The table as this controller last read or wrote it. Only the lease holder writes the table and every write is
   * conditional on the version, so a stale copy can make a write lose, never make it wrong; a lost write drops it.
   */
  table?: { current: Versioned<PartitionTable> | undefined; atMs: number };
}

/**
 * The cluster controller. Every admin process runs one; the one holding the lease (see `runLease`) runs a round
 * every `roundMs`: it lists the registered nodes, pings the workers (in parallel, each bounded by
 * `pingTimeoutMs`), feeds `decide()` and, when the table changes, writes it conditional on the version it read.
 * A lost write changes nothing; the next round reads again.
 *
 * Heartbeats live in memory. A new tenure treats the replicas of the current table as alive for one failure
 * timeout (they get a real heartbeat as soon as they answer), so a controller failover evicts nobody; a node the
 * table does not use gets replicas only once it has answered.
 *
 * Invariants asserted before every write: the table's term never goes back (a controller that reads a table from
 * a higher term stops writing), and no partition's epoch decreases.
 */
export class Controller {
  private readonly opts: ControllerOptions;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly log: Logger;
  private lease: LeaseHandle | undefined;
  private tenure: Tenure | undefined;
  private lastRound: RoundReport | undefined;
  private roundTimer: unknown;
  private round: Promise<void> | undefined;
  private stopped = false;
  private warnedPartitions = false;
  private nodeList: { nodes: NodeRecord[]; atMs: number } | undefined;
  /** Node records by id, with when each was read. */
  private readonly records = new Map<string, { record: NodeRecord; atMs: number }>();
  /** Nodes whose last ping went unanswered, or was answered by another instance: their records are read again. */
  private readonly suspects = new Set<string>();
  /** The cluster config and the operator requests, with when they were read (see SETTINGS_MAX_AGE_MS). */
  private settings: { config: ClusterConfig | undefined; requests: ClusterRequest[]; atMs: number } | undefined;

  constructor(opts: ControllerOptions) {
    const c = opts.config;
    if (!(c.roundMs > 0) || !(c.nodeFailureTimeoutMs > 0) || !(c.partitions >= 1) || !(c.partitionReplication >= 1))
      throw new ControllerError(
        'invalid-config',
        'controller config: roundMs, nodeFailureTimeoutMs, partitions and partitionReplication must be positive',
      );
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? systemTimers;
    this.log = opts.log ?? (() => {});
  }

  run(): ControllerHandle {
    if (this.lease) throw new ControllerError('invalid-config', 'Controller.run() called twice');
    const lease = runLease({
      client: this.opts.client,
      nodeId: this.opts.nodeId,
      instance: this.opts.instance,
      renewMs: this.opts.config.leaseRenewMs,
      leaseTimeoutMs: this.opts.config.leaseTimeoutMs,
      clock: this.clock,
      timers: this.timers,
      log: this.log,
    });
    this.lease = lease;
    lease.onChange((s) => this.onLease(s));
    return { status: () => this.status(), stop: () => this.stop() };
  }

  private status(): ControllerStatus {
    const s = this.lease?.status() ?? { holding: false };
    const out: ControllerStatus = { nodeId: this.opts.nodeId, instance: this.opts.instance, active: s.holding };
    if (s.holding) out.term = s.term;
    else if (s.holder !== undefined && s.holder !== this.opts.nodeId) out.leaseHolder = s.holder;
    if (this.lastRound) out.lastRound = this.lastRound;
    return out;
  }

  private async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.clearTimeout(this.roundTimer);
    await this.round;
    await this.lease?.stop({ release: true });
  }

  private onLease(s: LeaseStatus): void {
    if (this.stopped) return;
    this.timers.clearTimeout(this.roundTimer);
    if (!s.holding) {
      this.tenure = undefined;
      return;
    }
    this.tenure = { term: s.term, startedAtMs: this.clock.now(), heartbeats: new Map(), refused: new Set() };
    this.log('info', 'controller active', { term: s.term });
    this.scheduleRound(0);
  }

  private scheduleRound(delayMs: number): void {
    if (this.stopped) return;
    this.roundTimer = this.timers.setTimeout(() => {
      if (this.round) return; // the running round schedules the next one
      const started = this.clock.now();
      this.round = this.runRound()
        .catch((e) => this.roundFailed(e))
        .finally(() => {
          this.round = undefined;
          if (this.tenure) this.scheduleRound(Math.max(0, this.opts.config.roundMs - (this.clock.now() - started)));
        });
    }, delayMs);
  }

  private roundFailed(e: unknown): void {
    if (e instanceof ControllerError && e.code === 'invariant') {
      // Loudly: stop acting and let another admin take over rather than write something broken.
      this.log('error', 'controller invariant broken; stopping', { error: e.message });
      void this.stop();
      return;
    }
    this.log('warn', 'controller round failed', { error: (e as Error).message });
  }

  /** Whether `tenure` is still the current one and the lease still holds. */
  private acting(tenure: Tenure): boolean {
    return !this.stopped && this.tenure === tenure && this.lease?.term() === tenure.term;
  }

  private async runRound(): Promise<void> {
    const tenure = this.tenure;
    if (!tenure || !this.acting(tenure)) return;
    const { config } = this.opts;
    // Settings first: a node-changed notice among the requests makes nodes() read that node's record again.
    const settings = await this.readSettings();
    const [nodes, current] = await Promise.all([this.nodes(), this.table(tenure)]);
    if (current && current.value.controllerTerm > tenure.term) {
      this.log('warn', 'the partition table was written by a newer controller; not writing', {
        term: tenure.term,
        tableTerm: current.value.controllerTerm,
      });
      return;
    }
    const draining = await this.pingWorkers(tenure, nodes);
    if (!this.acting(tenure)) return;

    const nowMs = this.clock.now();
    const partitions = current?.value.partitions ?? config.partitions;
    if (partitions !== config.partitions && !this.warnedPartitions) {
      this.warnedPartitions = true;
      this.log('warn', 'the partition table keeps its partition count; the configured one differs', {
        table: partitions,
        configured: config.partitions,
      });
    }
    const inTable = new Set(current?.value.placements.flatMap((p) => p.replicas) ?? []);
    const leaving = this.opts.scaledAway?.() ?? new Set<string>();
    const views: NodeView[] = nodes.map((n) => ({
      id: n.id,
      roles: n.roles,
      location: n.location,
      draining: n.draining || draining.has(n.id),
      lastHeartbeatMs:
        tenure.heartbeats.get(n.id) ?? (inTable.has(n.id) ? tenure.startedAtMs : Number.NEGATIVE_INFINITY),
      failed: tenure.refused.has(n.id),
      scaledAway: leaving.has(n.id),
    }));
    const replication = settings.config?.partitionReplication ?? {
      scope: config.partitionReplicationScope ?? 'node',
      count: config.partitionReplication,
    };
    const decideConfig = {
      partitions,
      partitionReplication: replication.count,
      partitionReplicationScope: replication.scope,
      nodeFailureTimeoutMs: config.nodeFailureTimeoutMs,
      replicaReplacementDelayMs: config.replicaReplacementDelayMs,
      maxMovesPerRound: config.maxMovesPerRound ?? DEFAULT_MAX_MOVES_PER_ROUND,
    };
    const requests = settings.requests.filter((r): r is OperatorRequest => r.kind !== 'node-changed');
    const decision = decide({
      nowMs,
      nodes: views,
      table: current?.value.placements ?? [],
      config: decideConfig,
      requests,
    });
    const table: PartitionTable = {
      partitions,
      replication: replication.count,
      placements: decision.table,
      controllerTerm: tenure.term,
      controller: this.opts.nodeId,
    };
    const report: RoundReport = {
      atMs: nowMs,
      term: tenure.term,
      nodes: nodes.map((n, i) => health(n, views[i], nowMs, config.nodeFailureTimeoutMs, tenure)),
      table: current?.value ?? table,
      tableVersion: current?.version,
      changes: [],
      unavailable: decision.unavailable,
      requests: [],
    };
    const changed = !current || decision.changes.length > 0 || current.value.replication !== replication.count;
    let written = !changed;
    if (changed) {
      const version = await this.write(tenure, current, table, decision.changes);
      written = version !== undefined;
      if (version !== undefined) {
        Object.assign(report, { table, tableVersion: version, changes: decision.changes });
        tenure.table = { current: { value: table, version }, atMs: this.clock.now() };
      } else tenure.table = undefined;
    }
    // Requests are settled only once the table that settles them is stored (a lost write retries them).
    if (written) report.requests = await this.settleRequests(tenure, settings.requests, decision.requests);
    if (decision.unavailable.length > 0 && !sameNumbers(decision.unavailable, this.lastRound?.unavailable ?? []))
      this.log('warn', 'partitions without a live replica', { partitions: decision.unavailable });
    this.lastRound = report;
  }

  /**
   * The cluster config and the operator requests, read again when older than SETTINGS_MAX_AGE_MS. A notice that
   * a node's record changed makes the next node list read that record.
   */
  private async readSettings(): Promise<NonNullable<Controller['settings']>> {
    const now = this.clock.now();
    if (this.settings && now - this.settings.atMs < SETTINGS_MAX_AGE_MS) return this.settings;
    const [config, { requests }] = await Promise.all([
      readClusterConfig(this.opts.client),
      readRequests(this.opts.client),
    ]);
    for (const r of requests) if (r.kind === 'node-changed') this.suspects.add(r.node);
    this.settings = { config: config?.value, requests, atMs: now };
    return this.settings;
  }

  /**
   * Removes from the store the requests done or dropped this round, and the node-changed notices (read by now);
   * logs each. Returns the outcomes that settled.
   */
  private async settleRequests(
    tenure: Tenure,
    all: readonly ClusterRequest[],
    outcomes: readonly RequestOutcome[],
  ): Promise<RequestOutcome[]> {
    const settled = outcomes.filter((o) => o.status !== 'pending');
    const ids = new Set([
      ...settled.map((o) => o.request.id),
      ...all.filter((r) => r.kind === 'node-changed').map((r) => r.id),
    ]);
    if (ids.size === 0 || !this.acting(tenure)) return [];
    await removeRequests(this.opts.client, ids);
    this.settings = undefined;
    for (const o of settled) this.log('info', `operator request ${o.status}`, { request: o.request, reason: o.reason });
    return settled;
  }

  /** The partition table: this tenure's copy while it is younger than RECORD_MAX_AGE_MS, else read. */
  private async table(tenure: Tenure): Promise<Versioned<PartitionTable> | undefined> {
    const now = this.clock.now();
    if (tenure.table && now - tenure.table.atMs < RECORD_MAX_AGE_MS) return tenure.table.current;
    const current = await readPartitionTable(this.opts.client);
    if (this.tenure === tenure) tenure.table = { current, atMs: now };
    return current;
  }

  /**
   * The registered nodes. Every read is a round of the metadata store's Raft group and rounds run every few
   * hundred ms, while nodes register rarely: the index is read again at most every `NODE_LIST_MAX_AGE_MS` (a
   * node registered meanwhile is seen within that age), and a record only when it is new to this controller,
   * older than RECORD_MAX_AGE_MS, or its node did not answer its last ping as registered.
   */
  private async nodes(): Promise<NodeRecord[]> {
    const now = this.clock.now();
    if (this.nodeList && now - this.nodeList.atMs < NODE_LIST_MAX_AGE_MS && this.suspects.size === 0)
      return this.nodeList.nodes;
    const { client } = this.opts;
    const ids = await readNodeIndex(client);
    const records = await Promise.all(
      ids.map(async (id) => {
        const have = this.records.get(id);
        if (have && now - have.atMs < RECORD_MAX_AGE_MS && !this.suspects.has(id)) return have.record;
        const record = await readNodeRecord(client, id);
        if (record) this.records.set(id, { record, atMs: now });
        else this.records.delete(id);
        return record;
      }),
    );
    for (const id of this.records.keys()) if (!ids.includes(id)) this.records.delete(id);
    this.suspects.clear();
    const nodes = sortedRecords(records);
    this.nodeList = { nodes, atMs: now };
    return nodes;
  }

  /** Pings every registered worker at once; records the answers as heartbeats. Returns who said it is draining. */
  private async pingWorkers(tenure: Tenure, nodes: NodeRecord[]): Promise<Set<string>> {
    const timeoutMs = this.opts.config.pingTimeoutMs ?? this.opts.config.roundMs;
    const draining = new Set<string>();
    await Promise.all(
      nodes
        .filter((n) => n.roles.includes('worker'))
        .map(async (n) => {
          const sentAtMs = this.clock.now();
          const answer = await withTimeout(
            this.opts.ping(n).catch(() => false as const),
            timeoutMs,
            this.timers,
            () => false as const,
          );
          const info = typeof answer === 'object' ? answer : undefined;
          if (info?.refused) tenure.refused.add(n.id);
          if (answer === false || info?.refused || (info?.instance !== undefined && info.instance !== n.instance)) {
            this.suspects.add(n.id);
            return;
          }
          tenure.refused.delete(n.id);
          // The time the ping was sent: the node was alive at least until then.
          tenure.heartbeats.set(n.id, Math.max(tenure.heartbeats.get(n.id) ?? sentAtMs, sentAtMs));
          if (answer !== true && answer.draining) draining.add(n.id);
        }),
    );
    return draining;
  }

  /** Writes the table conditional on the version read; undefined when the write lost (or the lease did). */
  private async write(
    tenure: Tenure,
    current: Versioned<PartitionTable> | undefined,
    table: PartitionTable,
    changes: Change[],
  ): Promise<number | undefined> {
    assertEpochsGrow(current?.value.placements ?? [], table.placements);
    assert(
      !current || current.value.controllerTerm <= table.controllerTerm,
      `partition table term would go back from ${current?.value.controllerTerm} to ${table.controllerTerm}`,
    );
    if (!this.acting(tenure)) return undefined;
    let version: number;
    try {
      version = await this.opts.client.put(
        CLUSTER_KEYS.partitionTable,
        encodePartitionTable(table),
        current ? Precondition.matchesVersion(current.version) : Precondition.doesNotExist,
      );
    } catch (e) {
      if (!isPreconditionFailed(e)) throw e;
      this.log('info', 'the partition table changed since it was read; reading it again next round', {
        readVersion: current?.version,
      });
      return undefined;
    }
    this.log('info', current ? 'partition table changed' : 'partition table created', {
      version,
      term: tenure.term,
      changes,
    });
    return version;
  }
}

/** An epoch never decreases; a leader change adds exactly one. */
function assertEpochsGrow(before: readonly PartitionPlacement[], after: readonly PartitionPlacement[]): void {
  const old = new Map(before.map((p) => [p.partition, p]));
  for (const p of after) {
    const o = old.get(p.partition);
    if (!o) continue;
    assert(p.epoch >= o.epoch, `epoch of partition ${p.partition} would go back from ${o.epoch} to ${p.epoch}`);
    if (p.leader !== o.leader)
      assert(p.epoch === o.epoch + 1, `partition ${p.partition} changes leader without its epoch growing by one`);
  }
}

function health(n: NodeRecord, v: NodeView, nowMs: number, timeoutMs: number, tenure: Tenure): NodeHealth {
  const h: NodeHealth = {
    id: n.id,
    roles: n.roles,
    address: n.address,
    alive: n.roles.includes('worker') && !v.failed && nowMs - v.lastHeartbeatMs <= timeoutMs,
    draining: v.draining === true,
  };
  if (n.location !== undefined) h.location = n.location;
  const hb = tenure.heartbeats.get(n.id);
  if (hb !== undefined) h.lastHeartbeatMs = hb;
  return h;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
