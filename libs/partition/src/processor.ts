import { randomBytes } from 'node:crypto';
import { type Loglet, LogTrimmedError } from '@stead/log';
import type { PartitionStore } from '@stead/storage';
import { assert } from './assert.ts';
import { type Clock, systemClock, systemTimers, type Timers } from './clock.ts';
import { decodeCommand, encodeCommand } from './codec.ts';
import { PartitionStateMachine, type StateMachineOptions } from './state-machine.ts';
import { PartitionTables } from './tables.ts';
import type { Command, Dedup, Effect } from './types.ts';

export { decodeCommand, encodeCommand };

/** What a leader does with effects; the processor calls it only after the commands are applied. */
export interface EffectSink {
  /** Called when this processor has replayed its log up to its AnnounceLeader, and that epoch is the latest. */
  activate(epoch: number): Promise<void>;
  execute(effects: Effect[]): void;
  deactivate(): Promise<void>;
}

export interface ProcessorOptions extends StateMachineOptions {
  loglet: Loglet;
  store: PartitionStore;
  /** Stamps the AnnounceLeader record (default: the system clock). */
  clock?: Clock;
  /** Called with fatal errors of the apply loop (the process should stop: the store may be inconsistent). */
  onFatal: (err: unknown) => void;
  /**
   * Syncs the store every this many applied records (default 10 000; 0: never), in the background: what it
   * synced survives a machine crash, so a restart never needs the log below `durableOffset` (see the trims).
   */
  syncEveryRecords?: number;
  /**
   * Trims the log behind the store, after a sync, every this many applied records (default 0: never, as other
   * replicas and snapshots may still need the log; the one-process engine, the only reader of its logs, trims):
   * without it the log (the local loglet there) grows for as long as the server runs, and so do its compactions.
   */
  trimEveryRecords?: number;
  /** A trim waits this long after the records it drops were synced (default 0). */
  trimDelayMs?: number;
  /**
   * The log is trimmed below the processor's applied offset (another replica's trim, a trim behind a snapshot):
   * this replica can no longer follow it and must be rebuilt from a snapshot. Without it the error is fatal.
   */
  onLogTrimmed?: (err: LogTrimmedError) => void;
  /**
   * Group commit: applied records stay in the store's write overlay (which reads see) and reach LevelDB
   * together at most this long after the first of them (default 200 ms)...
   */
  commitIntervalMs?: number;
  /** ...or as soon as the overlay holds this many keys (default 4096). */
  commitMaxKeys?: number;
  /** Arms the commit deadline (default: the system's timers). */
  timers?: Timers;
  /**
   * Names this process run (never reused after a restart). When set, every record appended through this
   * processor without a producer tag gets one: producer `leader/<partition>/<epoch>/<producer>` and a growing
   * sequence number, so that a record the log stores twice (a retried append) is applied once.
   */
  producer?: string;
  /**
   * A later epoch was applied while this processor led or waited to lead (another leader took over): it has
   * stepped down and goes on following. Default: a warning in the log.
   */
  onSuperseded?: (epoch: number, supersededBy: number) => void;
}

/** What a processor does with its partition: follows the log, waits for its announcement to lead, or leads. */
export type ProcessorRole = 'follower' | 'candidate' | 'leader';

/** A candidacy (or leadership) ended by a later epoch in the log. */
export class SupersededError extends Error {
  override name = 'SupersededError';
  readonly partition: number;
  readonly epoch: number;
  readonly supersededBy: number;
  constructor(partition: number, epoch: number, supersededBy: number) {
    super(`partition ${partition}: leader epoch ${epoch} was superseded by epoch ${supersededBy}`);
    this.partition = partition;
    this.epoch = epoch;
    this.supersededBy = supersededBy;
  }
}

const DEFAULT_SYNC_EVERY_RECORDS = 10_000;
/**
 * Why group commits: a LevelDB write is kept in every version until a compaction drops the old ones, and an
 * invocation rewrites its status with nearly every record. Committing the overlay once per interval collapses
 * those versions (and puts that are deleted again, like inbox and lock entries) before LevelDB sees them, so
 * less is written and far less is compacted. The log stays the source of truth: after a crash the processor
 * replays from the last committed applied offset.
 */
const DEFAULT_COMMIT_INTERVAL_MS = 200;
/** The reason of the idle wait's aborts: given, so that no DOMException is built at each (a measurable cost). */
const WAKE_REASON = new Error('the idle wait ended');
const DEFAULT_COMMIT_MAX_KEYS = 4096;

/**
 * Follows a partition's log: applies every record in order to the partition store through the state
 * machine, persists the applied offset with each batch, and hands effects to the leader once it leads.
 */
export class PartitionProcessor {
  readonly partitionId: number;
  readonly loglet: Loglet;
  readonly store: PartitionStore;
  private readonly sm: PartitionStateMachine;
  private readonly tables: PartitionTables;
  /** Log records that did not decode and were skipped (every replica skips the same ones). */
  skippedRecords = 0;
  private readonly opts: ProcessorOptions;
  private sink: EffectSink | undefined;
  /**
   * The epoch of the current (or last) candidacy; 0 before any. Role changes run one at a time (`transition`):
   * follower → candidate (lead) → leader (its announcement applied, and still the latest epoch) → follower
   * (stepDown, a later epoch applied, close).
   */
  private leaderEpoch = 0;
  private role: ProcessorRole = 'follower';
  /** Settles when the candidacy of `leaderEpoch` leads (resolves) or ends without leading (rejects). */
  private candidacy: PromiseWithResolvers<void> | undefined;
  private transitions: Promise<void> = Promise.resolve();
  /** Sequence number of the last record tagged with this processor's producer (see ProcessorOptions.producer). */
  private producerSeq = 0;
  /** The producer name of this processor's announcements when no `producer` is configured. */
  private readonly runId = randomBytes(6).toString('base64url');
  /** The tag of the candidacy's AnnounceLeader record: that record, once applied, makes it the leader. */
  private announcement: Dedup | undefined;
  /** The sync (and trim) in progress, and the offset below which this processor last trimmed the log. */
  private syncing: Promise<void> | undefined;
  private trimmedUpTo = 0n;
  /** The last applied offset whose store writes were synced (-1: none): `durable <= committed`. */
  private durable = -1n;
  /** Synced offsets not yet trimmed below, with when they were synced (for `trimDelayMs`), oldest first. */
  private syncedPoints: { atMs: number; offset: bigint }[] = [];
  /** Trims held back (see `holdTrims`). */
  private trimsHeld = false;
  /** Set while a snapshot is being taken: no commit starts (see `snapshot`). */
  private commitGate: Promise<void> | undefined;
  /** Applied to the store (overlay included); `committed <= applied`, and only `committed` is in LevelDB. */
  private applied = -1n;
  private committed = -1n;
  /** The applied offset of the last commit handed to the store, and the write of it (never rejects). */
  private commitStarted = -1n;
  private writing: Promise<void> = Promise.resolve();
  /** When the overlay must be committed (clock ms), set by the first record applied after a commit. */
  private commitDueAt: number | undefined;
  /** The log's tail (exclusive) as far as this processor knows: its own durable appends and the tails it read. */
  private knownTail = 0n;
  /** Records handed to the loglet and not yet durable. */
  private appendsInFlight = 0;
  private readonly stop = new AbortController();
  /** The apply loop stopped on an error. */
  private failed = false;
  private loop: Promise<void> | undefined;
  private appliedWaiters: { offset: bigint; resolve: () => void }[] = [];
  private committedWaiters: { offset: bigint; resolve: () => void }[] = [];

  constructor(opts: ProcessorOptions) {
    this.opts = opts;
    this.partitionId = opts.partitionId;
    this.loglet = opts.loglet;
    this.store = opts.store;
    this.sm = new PartitionStateMachine(opts.store, opts);
    this.tables = new PartitionTables(opts.store);
  }

  get appliedOffset(): bigint {
    return this.applied;
  }

  /** The last applied offset written to LevelDB (what a snapshot taken now holds; -1: none). */
  get committedOffset(): bigint {
    return this.committed;
  }

  /** The last applied offset that survives a machine crash (-1: none): a restart replays the log after it. */
  get durableOffset(): bigint {
    return this.durable;
  }

  /**
   * A consistent view of the store, and the applied offset it holds: taken between two commits, with every
   * earlier commit written and no later one started (applying goes on meanwhile, into the overlay). `take` runs
   * synchronously at that instant (StorageEngine.snapshotPartition).
   */
  async snapshot<V>(take: () => V): Promise<{ appliedOffset: bigint; view: V }> {
    if (this.loop === undefined) throw new Error(`partition ${this.partitionId}: snapshot before follow()`);
    while (this.commitGate) await this.commitGate;
    const gate = Promise.withResolvers<void>();
    this.commitGate = gate.promise;
    try {
      // Commits start only past the gate; the one in flight (if any) is this.writing.
      await this.writing;
      await this.store.flushed();
      assert(
        this.committed <= this.applied,
        `partition ${this.partitionId}: committed ${this.committed} > applied ${this.applied}`,
      );
      return { appliedOffset: this.committed, view: take() };
    } finally {
      this.commitGate = undefined;
      gate.resolve();
    }
  }

  /**
   * Resolves once this processor leads (at once if it does); rejects when its candidacy ends without leading
   * (a later epoch, stepDown, close) or when it is not a candidate.
   */
  whenLeading(): Promise<void> {
    if (this.role === 'leader') return Promise.resolve();
    if (this.candidacy) return this.candidacy.promise;
    return Promise.reject(new Error(`partition ${this.partitionId}: not a leader nor a candidate`));
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get currentRole(): ProcessorRole {
    return this.role;
  }

  /** The epoch this processor leads with, waits to lead with, or last led with (0 before any). */
  get epoch(): number {
    return this.leaderEpoch;
  }

  /** The one-process start: follows the log and leads it with `epoch` (see `whenLeading`). */
  async start(epoch: number, sink: EffectSink): Promise<void> {
    await this.follow();
    this.lead(epoch, sink).catch(() => {}); // whenLeading() reports it
  }

  /** Starts the apply loop from the store's applied offset: records are applied, and no effect is performed. */
  async follow(): Promise<void> {
    if (this.loop !== undefined) return;
    await this.tables.upgradeLayout();
    const persisted = await this.tables.appliedOffset();
    this.applied = persisted ?? -1n;
    this.committed = this.applied;
    this.commitStarted = this.applied;
    // What the last run left in LevelDB may sit in the page cache only: synced, it is durable.
    if (persisted !== undefined) await this.store.sync();
    this.durable = this.applied;
    if (this.loop !== undefined) return;
    this.loop = this.run().catch((err) => {
      this.failed = true;
      if (this.stop.signal.aborted) return;
      if (err instanceof LogTrimmedError && this.opts.onLogTrimmed) this.opts.onLogTrimmed(err);
      else this.opts.onFatal(err);
    });
  }

  /**
   * Leads with `epoch` (from the cluster's metadata: epochs of a partition only grow): appends
   * AnnounceLeader{epoch} and resolves once it is applied with `epoch` still the latest, when `sink.activate`
   * has run (the log before it is replayed). Rejects with SupersededError when a later epoch is applied first,
   * or when the candidacy ends otherwise (stepDown, close, the append failed). Leading already with another
   * epoch steps down first.
   */
  lead(epoch: number, sink: EffectSink): Promise<void> {
    assert(Number.isSafeInteger(epoch) && epoch > 0, `partition ${this.partitionId}: bad leader epoch ${epoch}`);
    if (this.loop === undefined)
      return Promise.reject(new Error(`partition ${this.partitionId}: lead() before follow()`));
    if (this.stop.signal.aborted)
      return Promise.reject(new Error(`partition ${this.partitionId}: the processor is closed`));
    if (this.role !== 'follower') {
      if (epoch === this.leaderEpoch && sink === this.sink) return this.whenLeading();
      return this.stepDown().then(() => this.lead(epoch, sink));
    }
    // A candidate from here on (synchronously: whenLeading() sees it at once).
    const candidacy = Promise.withResolvers<void>();
    candidacy.promise.catch(() => {});
    this.role = 'candidate';
    this.leaderEpoch = epoch;
    this.sink = sink;
    this.candidacy = candidacy;
    // Always tagged: the tag tells this announcement from any other of the same epoch (an earlier run's).
    const announcement = this.tag({ kind: 'AnnounceLeader', ts: this.clock.now(), epoch }, true);
    this.announcement = announcement.dedup;
    this.append(announcement).catch((err: unknown) => this.transition(async () => this.endCandidacy(candidacy, err)));
    return candidacy.promise;
  }

  /** Stops leading (or waiting to lead): the sink is deactivated, the log is still followed. */
  stepDown(): Promise<void> {
    return this.transition(() =>
      this.resign(
        new Error(`partition ${this.partitionId}: stepped down before leading with epoch ${this.leaderEpoch}`),
      ),
    );
  }

  /** Runs role changes one after the other (the apply loop's and the owner's). */
  private transition<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.transitions.then(fn);
    this.transitions = next.then(
      () => {},
      () => {},
    );
    return next;
  }

  /** Back to follower: deactivates the sink if leading, ends a pending candidacy with `reason`. */
  private async resign(reason: Error): Promise<void> {
    const wasLeader = this.role === 'leader';
    if (this.role === 'follower') return;
    this.role = 'follower';
    if (this.candidacy) this.endCandidacy(this.candidacy, reason);
    if (wasLeader) await this.sink?.deactivate();
  }

  private endCandidacy(c: PromiseWithResolvers<void>, reason: unknown): void {
    if (this.candidacy !== c) return;
    this.candidacy = undefined;
    if (this.role === 'candidate') this.role = 'follower';
    c.reject(reason);
  }

  /**
   * An AnnounceLeader record (tagged `tag`) was applied: a candidate whose own announcement it is (and whose
   * epoch is still the latest) starts leading; a leader or candidate that sees a later epoch steps down and
   * says so.
   */
  private async announced(tag: Dedup | undefined): Promise<void> {
    if (this.role === 'follower') return;
    const latest = await this.sm.epoch();
    const mine = this.leaderEpoch;
    if (latest > mine) {
      await this.resign(new SupersededError(this.partitionId, mine, latest));
      if (this.opts.onSuperseded) this.opts.onSuperseded(mine, latest);
      else this.opts.log?.('warn', 'partition leader superseded', { partition: this.partitionId, epoch: mine, latest });
      return;
    }
    const own = tag !== undefined && tag.producer === this.announcement?.producer && tag.seq === this.announcement.seq;
    if (this.role !== 'candidate' || !own || latest !== mine) return;
    this.role = 'leader';
    await this.sink!.activate(mine);
    const c = this.candidacy;
    this.candidacy = undefined;
    c?.resolve();
  }

  /** Appends a record (tagged with this processor's producer, see ProcessorOptions.producer). */
  append(cmd: Command): Promise<bigint> {
    return this.track([encodeCommand(this.tag(cmd))]);
  }

  appendMany(cmds: Command[]): Promise<bigint> {
    return this.track(cmds.map((c) => encodeCommand(this.tag(c))));
  }

  /**
   * The record with this processor's producer tag, unless it has one (outbox messages keep their partition's) or
   * no producer is configured. Numbered in the order of the calls, which is the order of the appends: the log
   * keeps one producer's appends in order, and the state machine drops a number at or below one it applied.
   */
  private tag(cmd: Command, always = false): Command {
    const producer = this.opts.producer ?? (always ? this.runId : undefined);
    if (producer === undefined || cmd.dedup !== undefined || this.leaderEpoch === 0) return cmd;
    const name = `leader/${this.partitionId}/${this.leaderEpoch}/${producer}`;
    return { ...cmd, dedup: { producer: name, seq: ++this.producerSeq } };
  }

  /** Appends and keeps count of what is in flight and of the durable tail (for `backlog`). */
  private async track(payloads: Uint8Array[]): Promise<bigint> {
    this.appendsInFlight += payloads.length;
    try {
      const first = await this.loglet.append(payloads);
      this.sawTail(first + BigInt(payloads.length));
      return first;
    } finally {
      this.appendsInFlight -= payloads.length;
    }
  }

  private sawTail(tail: bigint): void {
    if (tail > this.knownTail) this.knownTail = tail;
  }

  /**
   * Records of this partition not applied yet: durable but behind the apply loop (as far as this processor has
   * seen the log's tail), plus its appends in flight (admission control refuses new work above a limit instead
   * of letting this grow without bound).
   */
  get backlog(): number {
    const behind = this.knownTail - 1n > this.applied ? Number(this.knownTail - 1n - this.applied) : 0;
    return behind + this.appendsInFlight;
  }

  /**
   * Records in the log not applied here yet, as far as this processor and its loglet know the tail (0 when caught
   * up): how far this replica is behind its log. Unlike `backlog`, appends in flight are not counted.
   */
  get lag(): number {
    const known = this.loglet.knownTail ?? 0n;
    const tail = known > this.knownTail ? known : this.knownTail;
    return tail - 1n > this.applied ? Number(tail - 1n - this.applied) : 0;
  }

  /** Resolves once the record at `offset` is applied and written to LevelDB (or the processor closes). */
  waitCommitted(offset: bigint): Promise<void> {
    if (this.committed >= offset) return Promise.resolve();
    return new Promise((resolve) => this.committedWaiters.push({ offset, resolve }));
  }

  /** Resolves once the record at `offset` is applied. */
  waitApplied(offset: bigint): Promise<void> {
    if (this.applied >= offset) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ offset, resolve }));
  }

  private get clock(): Clock {
    return this.opts.clock ?? systemClock;
  }

  /**
   * The apply loop. A batch ends at an AnnounceLeader record, so that a role change (start leading, or step
   * down for a later epoch) happens exactly between the records before it and those after it: a leader performs
   * the effects of the records before a later epoch's announcement, and none after it.
   */
  private async run(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted && !this.failed) {
      const from = this.applied + 1n;
      const records = await this.loglet.read(from, 256);
      if (records.length === 0) {
        await this.idle(from);
        continue;
      }
      const effects: Effect[] = [];
      let last = this.applied;
      let announced: Command | undefined;
      for (const r of records) {
        const cmd = this.decode(r.payload, r.offset);
        if (cmd) effects.push(...(await this.sm.apply(cmd)));
        last = r.offset;
        if (cmd?.kind === 'AnnounceLeader') {
          announced = cmd;
          break;
        }
      }
      assert(
        last > this.applied,
        `partition ${this.partitionId}: applied offset would move from ${this.applied} to ${last}`,
      );
      this.applied = last;
      this.sawTail(last + 1n);
      this.commitDueAt ??= this.clock.now() + (this.opts.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS);
      if (
        this.store.pendingWrites >= (this.opts.commitMaxKeys ?? DEFAULT_COMMIT_MAX_KEYS) ||
        this.clock.now() >= this.commitDueAt
      ) {
        await this.commit();
      }
      if (this.appliedWaiters.length > 0) {
        const ready = this.appliedWaiters.filter((w) => w.offset <= last);
        this.appliedWaiters = this.appliedWaiters.filter((w) => w.offset > last);
        for (const w of ready) w.resolve();
      }
      if (this.role === 'leader') this.sink!.execute(effects);
      if (announced !== undefined) {
        const record = announced;
        await this.transition(() => this.announced(record.dedup));
      }
    }
  }

  /**
   * Caught up with the log: wait for the next record, but with applied records uncommitted no longer than
   * their commit deadline (then commit them and go on waiting).
   */
  private async idle(from: bigint): Promise<void> {
    const signal = this.stop.signal;
    if (signal.aborted) return;
    const dueInMs = this.commitDueAt === undefined ? undefined : this.commitDueAt - this.clock.now();
    if (dueInMs !== undefined && dueInMs <= 0) {
      await this.commit();
      return;
    }
    if (dueInMs === undefined) {
      try {
        this.sawTail(await this.loglet.waitForTail(from, signal));
      } catch (err) {
        if (!signal.aborted) throw err;
      }
      return;
    }
    // One signal for both the deadline and the stop (AbortSignal.any would register a dependent signal on the
    // long-lived stop signal at every wait: measurable on this path).
    const wake = new AbortController();
    let deadlinePassed = false;
    const onStop = () => wake.abort(WAKE_REASON);
    signal.addEventListener('abort', onStop, { once: true });
    const timers = this.opts.timers ?? systemTimers;
    const timer = timers.setTimeout(() => {
      deadlinePassed = true;
      wake.abort(WAKE_REASON);
    }, dueInMs);
    try {
      this.sawTail(await this.loglet.waitForTail(from, wake.signal));
    } catch (err) {
      if (signal.aborted) return;
      if (!deadlinePassed) throw err;
      await this.commit();
    } finally {
      timers.clearTimeout(timer);
      signal.removeEventListener('abort', onStop);
    }
  }

  /**
   * Hands what is applied to LevelDB with its applied offset (one batch) and goes on without waiting for the
   * write, so that applying continues meanwhile (a record never waits for LevelDB); it waits only while the
   * previous commit is still being written (one queued at most). Once written, the committed offset moves and
   * the log is trimmed when due. A failed write is fatal: the store no longer follows the log.
   */
  private async commit(): Promise<void> {
    this.commitDueAt = undefined;
    if (this.commitStarted === this.applied && !this.store.dirty) return;
    await this.writing;
    while (this.commitGate) await this.commitGate;
    // Only the apply loop applies, and it is here: nothing was applied while waiting.
    const upTo = this.applied;
    this.commitStarted = upTo;
    this.tables.putAppliedOffset(upTo);
    this.writing = this.store.commit().then(
      () => {
        this.committed = upTo;
        if (this.committedWaiters.length > 0) {
          for (const w of this.committedWaiters) if (w.offset <= upTo) w.resolve();
          this.committedWaiters = this.committedWaiters.filter((w) => w.offset > upTo);
        }
        this.maybeSync();
      },
      (err: unknown) => {
        this.failed = true;
        if (!this.stop.signal.aborted) this.opts.onFatal(err);
      },
    );
  }

  /**
   * Every `syncEveryRecords` applied records, in the background (one at a time): sync the store, so that the
   * offset committed before the sync is durable; then, when due, trim the log below it. A failed sync or trim
   * only postpones them (a failed trim of the local log stops the log store, which reports it as fatal).
   */
  private maybeSync(): void {
    // A trim needs a sync first: trims every N records sync at least as often.
    const syncEvery = BigInt(this.opts.syncEveryRecords ?? DEFAULT_SYNC_EVERY_RECORDS);
    const trimEvery = BigInt(this.opts.trimEveryRecords ?? 0);
    const every = trimEvery > 0n && (syncEvery <= 0n || trimEvery < syncEvery) ? trimEvery : syncEvery;
    if (every <= 0n || this.syncing || this.committed - this.durable < every) return;
    const upTo = this.committed;
    let synced = false;
    this.syncing = (async () => {
      try {
        await this.store.sync();
        synced = true;
        if (upTo > this.durable) this.durable = upTo;
        if (trimEvery <= 0n || this.trimsHeld) return;
        const now = this.clock.now();
        this.syncedPoints.push({ atMs: now, offset: upTo });
        // The newest synced offset that has waited the delay; the points up to it are used up by its trim.
        const waited = this.syncedPoints.findLastIndex((p) => now - p.atMs >= (this.opts.trimDelayMs ?? 0));
        const due = waited < 0 ? undefined : this.syncedPoints[waited]!.offset;
        if (due !== undefined && due + 1n - this.trimmedUpTo >= trimEvery) {
          await this.loglet.trim(due + 1n);
          this.trimmedUpTo = due + 1n;
          this.syncedPoints = this.syncedPoints.slice(waited + 1);
        }
      } catch (err) {
        if (!this.stop.signal.aborted) {
          this.opts.log?.('warn', 'store sync or log trim postponed', {
            partition: this.partitionId,
            upTo: upTo.toString(),
            error: err instanceof Error ? err.message : String(err),
          });
        }
      } finally {
        this.syncing = undefined;
        // Records applied while this sync ran did not start one: look again now, or the last of a burst would
        // wait for the next record to become durable (a failed sync waits for the next record, not a loop).
        if (synced && !this.stop.signal.aborted) this.maybeSync();
      }
    })();
  }

  /**
   * Holds the trims of `trimEveryRecords` back (the stores still sync), or lets them go on: while held, the log
   * keeps every record above its current trim point (a snapshot about to be taken must cover the trim point).
   */
  holdTrims(hold: boolean): void {
    this.trimsHeld = hold;
  }

  /** Commands that could not be applied (their invocations failed instead). */
  get rejectedCommands(): number {
    return this.sm.rejectedCommands;
  }

  /** The command of a record, or undefined for a record that does not decode (logged and skipped). */
  private decode(payload: Uint8Array, offset: bigint): Command | undefined {
    try {
      return decodeCommand(payload);
    } catch (err) {
      this.skippedRecords++;
      this.opts.log?.('error', 'skipping a log record that does not decode', {
        partition: this.partitionId,
        offset: offset.toString(),
        bytes: payload.length,
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
    // What the loop applied goes to LevelDB now, so that a clean restart replays nothing (after a failure the
    // overlay may hold half a command: it is dropped, and a restart replays from the last commit).
    if (this.loop !== undefined && !this.failed) await this.commit();
    await this.writing;
    await this.syncing;
    await this.transition(() => this.resign(new Error(`partition ${this.partitionId}: the processor is closed`)));
    for (const w of this.appliedWaiters) w.resolve();
    this.appliedWaiters = [];
    for (const w of this.committedWaiters) w.resolve();
    this.committedWaiters = [];
  }
}
