import type { Loglet } from '@stead/log';
import type { PartitionStore } from '@stead/storage';
import { assert } from './assert.ts';
import { type Clock, systemClock, systemTimers, type Timers } from './clock.ts';
import { decodeCommand, encodeCommand } from './codec.ts';
import { PartitionStateMachine, type StateMachineOptions } from './state-machine.ts';
import { PartitionTables } from './tables.ts';
import type { Command, Effect } from './types.ts';

export { decodeCommand, encodeCommand };

/** What a leader does with effects; the processor calls it only after the commands are applied. */
export interface EffectSink {
  /** Called once, when this processor has replayed its log and its AnnounceLeader is applied. */
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
   * Trims the log behind the store every this many applied records (default 10 000; 0: never): the store is
   * synced first, so the trimmed records are applied in a durable store and no restart needs them. Without
   * it the log (the local loglet here) grows for as long as the server runs, and so do its compactions.
   */
  trimEveryRecords?: number;
  /**
   * Group commit: applied records stay in the store's write overlay (which reads see) and reach LevelDB
   * together at most this long after the first of them (default 200 ms)...
   */
  commitIntervalMs?: number;
  /** ...or as soon as the overlay holds this many keys (default 4096). */
  commitMaxKeys?: number;
  /** Arms the commit deadline (default: the system's timers). */
  timers?: Timers;
}

const DEFAULT_TRIM_EVERY_RECORDS = 10_000;
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
  private leaderEpoch = 0;
  private announceOffset: bigint | undefined;
  private leading = false;
  /** The log trim in progress, and the offset below which this processor last trimmed the log. */
  private trimming: Promise<void> | undefined;
  private trimmedUpTo = 0n;
  /** Applied to the store (overlay included); `committed <= applied`, and only `committed` is in LevelDB. */
  private applied = -1n;
  private committed = -1n;
  /** The applied offset of the last commit handed to the store, and the write of it (never rejects). */
  private commitStarted = -1n;
  private writing: Promise<void> = Promise.resolve();
  /** When the overlay must be committed (clock ms), set by the first record applied after a commit. */
  private commitDueAt: number | undefined;
  /** Offset of the last record appended through this processor and durable (-1 before any); may pass `applied`. */
  private appendedTail = -1n;
  /** Records handed to the loglet and not yet durable. */
  private appendsInFlight = 0;
  private readonly stop = new AbortController();
  /** The apply loop stopped on an error. */
  private failed = false;
  private loop: Promise<void> | undefined;
  private appliedWaiters: { offset: bigint; resolve: () => void }[] = [];
  private readonly leadingSignal = Promise.withResolvers<void>();

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

  /** Resolves once the log is replayed and this processor leads. */
  whenLeading(): Promise<void> {
    return this.leadingSignal.promise;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Starts following the log; once caught up, leads with `epoch` and hands effects to `sink`. */
  async start(epoch: number, sink: EffectSink): Promise<void> {
    this.sink = sink;
    this.leaderEpoch = epoch;
    await this.tables.upgradeLayout();
    const persisted = await this.tables.appliedOffset();
    this.applied = persisted ?? -1n;
    this.committed = this.applied;
    this.commitStarted = this.applied;
    this.announceOffset = await this.append({
      kind: 'AnnounceLeader',
      ts: (this.opts.clock ?? systemClock).now(),
      epoch,
    });
    this.loop = this.run().catch((err) => {
      this.failed = true;
      if (!this.stop.signal.aborted) this.opts.onFatal(err);
    });
  }

  get epoch(): number {
    return this.leaderEpoch;
  }

  append(cmd: Command): Promise<bigint> {
    return this.track([encodeCommand(cmd)]);
  }

  appendMany(cmds: Command[]): Promise<bigint> {
    return this.track(cmds.map(encodeCommand));
  }

  /** Appends and keeps count of what is in flight and of the durable tail (for `backlog`). */
  private async track(payloads: Uint8Array[]): Promise<bigint> {
    this.appendsInFlight += payloads.length;
    try {
      const first = await this.loglet.append(payloads);
      const last = first + BigInt(payloads.length - 1);
      if (last > this.appendedTail) this.appendedTail = last;
      return first;
    } finally {
      this.appendsInFlight -= payloads.length;
    }
  }

  /**
   * Records of this partition not applied yet: appended and durable but behind the apply loop, plus appends in
   * flight (admission control refuses new work above a limit instead of letting this grow without bound).
   */
  get backlog(): number {
    const behind = this.appendedTail > this.applied ? Number(this.appendedTail - this.applied) : 0;
    return behind + this.appendsInFlight;
  }

  /** Resolves once the record at `offset` is applied. */
  waitApplied(offset: bigint): Promise<void> {
    if (this.applied >= offset) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ offset, resolve }));
  }

  private get clock(): Clock {
    return this.opts.clock ?? systemClock;
  }

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
      for (const r of records) {
        const cmd = this.decode(r.payload, r.offset);
        if (cmd) effects.push(...(await this.sm.apply(cmd)));
      }
      const last = records[records.length - 1].offset;
      assert(
        last > this.applied,
        `partition ${this.partitionId}: applied offset would move from ${this.applied} to ${last}`,
      );
      this.applied = last;
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
      if (this.leading) {
        this.sink!.execute(effects);
      } else if (this.announceOffset !== undefined && last >= this.announceOffset) {
        // Lead only if our announcement won: a later epoch in the log means another leader took over.
        const announced = await this.sm.epoch();
        if (announced !== this.leaderEpoch) {
          throw new Error(
            `partition ${this.partitionId}: leader epoch ${this.leaderEpoch} was superseded by epoch ${announced}`,
          );
        }
        this.leading = true;
        await this.sink!.activate(this.leaderEpoch);
        this.leadingSignal.resolve();
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
        await this.loglet.waitForTail(from, signal);
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
      await this.loglet.waitForTail(from, wake.signal);
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
    // Only the apply loop applies, and it is here: nothing was applied while waiting.
    const upTo = this.applied;
    this.commitStarted = upTo;
    this.tables.putAppliedOffset(upTo);
    this.writing = this.store.commit().then(
      () => {
        this.committed = upTo;
        this.maybeTrim();
      },
      (err: unknown) => {
        this.failed = true;
        if (!this.stop.signal.aborted) this.opts.onFatal(err);
      },
    );
  }

  /**
   * Every `trimEveryRecords` applied records, in the background (one at a time): sync the store, then trim the
   * log below the offset applied before the sync. A failed sync only postpones the trim; a failed trim stops
   * the log store, which reports it as fatal.
   */
  private maybeTrim(): void {
    const every = BigInt(this.opts.trimEveryRecords ?? DEFAULT_TRIM_EVERY_RECORDS);
    if (every <= 0n || this.trimming || this.committed + 1n - this.trimmedUpTo < every) return;
    const upTo = this.committed + 1n;
    this.trimming = (async () => {
      try {
        await this.store.sync();
        await this.loglet.trim(upTo);
        this.trimmedUpTo = upTo;
      } catch (err) {
        if (!this.stop.signal.aborted) {
          this.opts.log?.('warn', 'log trim postponed', {
            partition: this.partitionId,
            upTo: upTo.toString(),
            error: err instanceof Error ? err.message : String(err),
          });
        }
      } finally {
        this.trimming = undefined;
      }
    })();
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
    await this.trimming;
    if (this.leading) await this.sink?.deactivate();
    this.leading = false;
    for (const w of this.appliedWaiters) w.resolve();
    this.appliedWaiters = [];
  }
}
