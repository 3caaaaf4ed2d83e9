import { createHash } from 'node:crypto';
import {
  type InvocationDefaults,
  type InvocationOptions,
  invocationRetention,
  parseInvocationId,
  resolveInvocationOptions,
  type SchemaView,
} from '@stead/core';
import { type InvocationStream, type InvocationStreamClient, MessageType, REQUESTED_ACK } from '@stead/invoker';
import { type Clock, clockOf, sleep, systemTimers, type TimerHandle, type Timers } from './clock.ts';
import * as J from './journal.ts';
import type { Invoker, PartitionLeader } from './leader.ts';
import type { AttemptOutcome, InvocationMetrics } from './metrics.ts';
import type { InvocationStatus, InvokerEffect, JournalEntry } from './types.ts';
import { AttemptChecker, type CheckedMessage, PROTOCOL_VIOLATION, ProtocolViolation } from './validate.ts';

export interface InvokerOptions {
  schema: SchemaView;
  client: InvocationStreamClient;
  /**
   * Server defaults of the retry policy, the inactivity timeout (no message from the endpoint for this long:
   * ask it to suspend) and the abort timeout (abort an attempt that has not finished that long after being asked
   * to suspend); a service or handler of the schema overrides them.
   */
  defaults: InvocationDefaults;
  /** Largest state value a handler may write; a larger one fails the invocation with 413. */
  maxStateValueBytes?: number;
  /** Object state up to this many bytes is sent eagerly in the Start message; beyond, the SDK reads lazily. */
  eagerStateLimitBytes?: number;
  /** Highest service protocol version we speak. */
  maxProtocolVersion: number;
  minProtocolVersion: number;
  /**
   * Most attempts running at once (default: unlimited). Further invocations wait in one FIFO queue and start as
   * running attempts end, suspend, fail (a retry queues again at the tail) or are stopped.
   */
  maxConcurrent?: number;
  /** Reads the time (default: the system clock). */
  clock?: Clock;
  /** The older form of `clock`: a bare function; `clock` wins when both are given. */
  now?: () => number;
  /** Arms the inactivity, abort and retry timers (default: the system's). */
  timers?: Timers;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Told of first attempts, retries and how long each attempt ran. */
  metrics?: InvocationMetrics;
}

interface Attempt {
  invocationId: string;
  /** The invocation's attempt number in the partition store when this attempt started (fences its effects). */
  fence: number | undefined;
  leader: PartitionLeader;
  /** Journal length the attempt was started with: later notifications are forwarded. */
  startLength: number;
  write: ((entry: JournalEntry) => void) | undefined;
  abort: AbortController;
  retryCount: number;
  /** The last log offset appended by this attempt (retries wait until it is applied). */
  lastAppend: Promise<bigint | undefined>;
  /** Notifications that arrived before the stream was open. */
  pending: { index: number; entry: JournalEntry }[];
  stopped: boolean;
  /** Holds one of the `maxConcurrent` slots (from its start until it ends, fails or is stopped). */
  slot: boolean;
  /** The run has begun (it reads the journal itself: notifications before that need no forwarding). */
  started: boolean;
  /** The invocation's effective retry policy and timeouts (read at the start of the attempt). */
  options: InvocationOptions;
  /** A RunCommand not appended yet (see HOLD_RUN_MS), with the timer that appends it at the latest. */
  held: { effect: InvokerEffect; timer: TimerHandle } | undefined;
  /** When the run began (`performance.now()`): for the attempt duration metric only, it decides nothing. */
  startedMs: number;
  /** The service protocol version of this attempt (the invocation's pinned one). */
  protocolVersion: number;
  /**
   * Runs whose completion this attempt proposed asking for an ack (v7, REQUESTED_ACK): once the completion is
   * durable, the endpoint gets a ProposeRunCompletionAck in its place instead of the whole notification.
   */
  acks: Set<number>;
}

/**
 * A RunCommand waits this long at most for the attempt's next effect, normally its ProposeRunCompletion a moment
 * later, and leaves in the same append: one log write per `ctx.run` step instead of two. Nothing waits for a
 * RunCommand to be durable (the SDK runs the step at once; only the completion is awaited), so holding it costs
 * no latency; should the attempt fail meanwhile, the step is run again, as when its completion was not durable.
 */
const HOLD_RUN_MS = 20;

/** Journal entry type of a RunCommand (service protocol). */
const RUN_COMMAND = 0x0411;

/** The longest delay setTimeout holds (longer ones fire immediately). */
const MAX_TIMER_MS = 2 ** 31 - 1;

class AttemptError extends Error {
  override name = 'AttemptError';
  readonly retryDelayMs: number | undefined;
  readonly terminal: { code: number; message: string } | undefined;
  /** The endpoint asked to pause the invocation instead of retrying it. */
  readonly pause: boolean;
  /** What introspection shows of this failure (default: the message alone). */
  readonly failure: AttemptFailure;
  constructor(
    message: string,
    opts: {
      retryDelayMs?: number;
      terminal?: { code: number; message: string };
      pause?: boolean;
      failure?: AttemptFailure;
    } = {},
  ) {
    super(message);
    this.retryDelayMs = opts.retryDelayMs;
    this.terminal = opts.terminal;
    this.pause = opts.pause ?? false;
    this.failure = opts.failure ?? { message };
  }
}

/** Why an attempt failed, as sys_invocation_state shows it (last_failure*). */
export interface AttemptFailure {
  message: string;
  /** The endpoint's error code; absent when the attempt failed on this side (connection, timeout). */
  code?: number;
  /** The command the SDK named as the cause: index among the invocation's commands (Input is 0), name, type. */
  relatedCommand?: { index?: number; name?: string; type?: number };
}

/**
 * What this invoker knows of an invocation it runs for a leader (Restate's sys_invocation_state): kept in memory
 * while the invocation has an attempt here (running, waiting for a slot, or waiting to retry), as in Restate.
 */
export interface AttemptReport {
  invocationId: string;
  /** An attempt runs now. */
  inFlight: boolean;
  /** Failed attempts retried since the invocation last ran here without failing. */
  retryCount: number;
  /** When the latest attempt began (epoch ms). */
  lastStartAt?: number;
  /** While waiting to retry: when the next attempt starts (epoch ms). */
  nextRetryAt?: number;
  /** The deployment the latest attempt went to. */
  lastDeploymentId?: string;
  lastFailure?: AttemptFailure;
}

/** The part of an AttemptReport that outlives one attempt (a retry starts a new Attempt). */
type AttemptHistory = Omit<AttemptReport, 'invocationId' | 'inFlight'>;

/**
 * Runs invocation attempts against deployments: sends the journal, turns what the SDK sends back into
 * effects appended to the partition log, forwards notifications once they are durable, and retries failed
 * attempts with exponential backoff.
 */
export class InvokerDriver implements Invoker {
  private readonly opts: InvokerOptions;
  /** Every attempt this driver knows: running, waiting for a slot, or between retries. */
  private readonly attempts = new Map<string, Attempt>();
  /** Attempts waiting for a slot, oldest first (Map keeps insertion order). Invariant: none holds a slot. */
  private readonly queue = new Map<string, Attempt>();
  /** Attempts holding a slot; invariant: slots <= maxConcurrent. */
  private slots = 0;
  private readonly maxConcurrent: number;
  /**
   * Retry counts, failures and start times survive between attempts of the same invocation (not durable, like
   * Restate's); dropped when the invocation stops running here.
   */
  private readonly history = new Map<string, AttemptHistory>();
  private readonly clock: Clock;
  private readonly timers: Timers;

  constructor(opts: InvokerOptions) {
    this.opts = opts;
    this.clock = clockOf(opts);
    this.timers = opts.timers ?? systemTimers;
    this.maxConcurrent = opts.maxConcurrent ?? Number.POSITIVE_INFINITY;
    if (!(this.maxConcurrent >= 1)) throw new Error(`maxConcurrent must be at least 1, got ${opts.maxConcurrent}`);
  }

  /** Attempts running now (each holds a slot). */
  get running(): number {
    return this.slots;
  }

  /** Invocations waiting for a slot to start. */
  get waiting(): number {
    return this.queue.size;
  }

  invoke(leader: PartitionLeader, invocationId: string): void {
    if (this.attempts.has(invocationId)) return;
    const attempt: Attempt = {
      invocationId,
      fence: undefined,
      leader,
      startLength: 0,
      write: undefined,
      abort: new AbortController(),
      retryCount: this.history.get(invocationId)?.retryCount ?? 0,
      lastAppend: Promise.resolve(undefined),
      pending: [],
      stopped: false,
      slot: false,
      started: false,
      options: this.opts.defaults,
      held: undefined,
      startedMs: 0,
      protocolVersion: 0,
      acks: new Set(),
    };
    this.attempts.set(invocationId, attempt);
    if (this.slots < this.maxConcurrent && this.queue.size === 0) this.begin(attempt);
    else this.queue.set(invocationId, attempt);
  }

  private begin(a: Attempt): void {
    a.slot = true;
    a.started = true;
    const h = this.historyOf(a.invocationId);
    h.lastStartAt = this.clock.now();
    h.nextRetryAt = undefined;
    if (this.opts.metrics) a.startedMs = performance.now();
    this.slots++;
    void this.run(a);
  }

  /** Gives back the attempt's slot (once) and starts the oldest waiting invocation. */
  private release(a: Attempt): void {
    this.appendHeld(a);
    if (!a.slot) return;
    a.slot = false;
    this.slots--;
    while (this.slots < this.maxConcurrent && this.queue.size > 0) {
      const [id, next] = this.queue.entries().next().value as [string, Attempt];
      this.queue.delete(id);
      this.begin(next);
    }
  }

  notify(invocationId: string, index: number, entry: JournalEntry): void {
    const a = this.attempts.get(invocationId);
    // Not started yet: the attempt reads the journal, with this entry, when it starts.
    if (!a || a.stopped || !a.started) return;
    if (a.write) {
      if (index >= a.startLength) a.write(this.forAttempt(a, entry));
    } else {
      a.pending.push({ index, entry });
    }
  }

  /**
   * What the attempt gets for a notification: the notification itself, or for a run whose completion it proposed
   * asking for an ack, the ack, at the same place among the notifications (v7: on replay the completion takes it).
   */
  private forAttempt(a: Attempt, entry: JournalEntry): JournalEntry {
    if (entry.type !== J.T.RunN || a.acks.size === 0) return entry;
    const nid = J.notificationId(entry);
    if (!('completionId' in nid) || !a.acks.delete(nid.completionId)) return entry;
    const id = nid.completionId;
    return { type: MessageType.ProposeRunCompletionAck, bytes: J.proposeRunCompletionAck(id) };
  }

  stop(invocationId: string): void {
    const a = this.attempts.get(invocationId);
    this.history.delete(invocationId);
    if (!a) return;
    a.stopped = true;
    a.abort.abort();
    this.attempts.delete(invocationId);
    this.queue.delete(invocationId);
    this.release(a);
  }

  stopAll(): void {
    for (const id of [...this.attempts.keys()]) this.stop(id);
  }

  stopLeader(leader: PartitionLeader): void {
    for (const [id, a] of [...this.attempts]) if (a.leader === leader) this.stop(id);
  }

  /** What this invoker knows of the invocations it runs for `leader` (see AttemptReport). */
  reports(leader: PartitionLeader): AttemptReport[] {
    const out: AttemptReport[] = [];
    for (const a of this.attempts.values()) {
      if (a.leader !== leader || a.stopped) continue;
      const h = this.history.get(a.invocationId);
      out.push({ invocationId: a.invocationId, inFlight: a.slot, retryCount: a.retryCount, ...h });
    }
    return out;
  }

  private historyOf(invocationId: string): AttemptHistory {
    let h = this.history.get(invocationId);
    if (!h) {
      h = { retryCount: 0 };
      this.history.set(invocationId, h);
    }
    return h;
  }

  /** Appends an effect of the attempt, after its held RunCommand if there is one (in one append). */
  private append(a: Attempt, effect: InvokerEffect): void {
    const effects = [effect];
    if (a.held) {
      effects.unshift(a.held.effect);
      this.timers.clearTimeout(a.held.timer);
      a.held = undefined;
    }
    const leader = a.leader;
    const ts = this.clock.now();
    const p = leader.processor.appendMany(
      effects.map((e) => ({
        kind: 'Effect' as const,
        ts,
        epoch: leader.epoch,
        invocationId: a.invocationId,
        effect: e,
        attempt: a.fence,
      })),
    );
    a.lastAppend = p.then((first) => first + BigInt(effects.length - 1));
    p.catch((err) => this.opts.log('warn', 'failed to append invoker effect', { error: String(err) }));
  }

  /** Keeps a RunCommand back until the attempt's next effect (or HOLD_RUN_MS). */
  private hold(a: Attempt, effect: InvokerEffect): void {
    this.appendHeld(a);
    a.held = { effect, timer: this.timers.setTimeout(() => this.appendHeld(a), HOLD_RUN_MS) };
  }

  private appendHeld(a: Attempt): void {
    const held = a.held;
    if (!held) return;
    a.held = undefined;
    this.timers.clearTimeout(held.timer);
    this.append(a, held.effect);
  }

  private async run(a: Attempt): Promise<void> {
    let outcome: 'done' | AttemptError;
    try {
      outcome = await this.attempt(a);
    } catch (err) {
      outcome = err instanceof AttemptError ? err : new AttemptError(err instanceof Error ? err.message : String(err));
    } finally {
      // Ended, suspended, failed or stopped: the slot goes to the next waiting invocation (a retry queues again).
      this.release(a);
    }
    if (a.stopped) return;
    if (outcome === 'done') {
      this.attempts.delete(a.invocationId);
      this.history.delete(a.invocationId);
      return;
    }
    const err = outcome;
    const retryCount = a.retryCount + 1;
    const policy = a.options.retry;
    if (err.terminal) {
      this.ended(a, 'failed');
      this.giveUp(a, { kind: 'fail', failure: err.terminal });
      return;
    }
    if (err.pause) {
      // The endpoint asked to pause (ErrorMessage behavior PAUSE, e.g. a PauseError in a run): no retry;
      // the invocation waits for a resume through the admin API.
      this.ended(a, 'failed');
      this.giveUp(a, { kind: 'pause', reason: err.message });
      return;
    }
    if (policy.maxAttempts !== undefined && retryCount >= policy.maxAttempts) {
      this.ended(a, 'failed');
      const message = `gave up after ${retryCount} attempts: ${err.message}`;
      // Restate: on max attempts the invocation pauses (resumable through the admin API) or is killed.
      this.giveUp(
        a,
        policy.onMaxAttempts === 'PAUSE'
          ? { kind: 'pause', reason: message }
          : { kind: 'fail', failure: { code: 500, message } },
      );
      return;
    }
    this.ended(a, 'retry');
    this.opts.metrics?.retried();
    await this.retryLater(a, err, retryCount);
  }

  /** Reports how the attempt ended and how long it ran. */
  private ended(a: Attempt, outcome: AttemptOutcome): void {
    this.opts.metrics?.attempt(outcome, (performance.now() - a.startedMs) / 1000);
  }

  /** Waits out the backoff (after what the failed attempt appended is applied), then invokes again. */
  private async retryLater(a: Attempt, err: AttemptError, retryCount: number): Promise<void> {
    const policy = a.options.retry;
    const delay =
      err.retryDelayMs ??
      Math.min(
        policy.maxIntervalMs ?? Number.POSITIVE_INFINITY,
        policy.initialIntervalMs * policy.factor ** Math.min(a.retryCount, 50),
      );
    this.opts.log('warn', 'invocation attempt failed; retrying', {
      invocationId: a.invocationId,
      attempt: retryCount,
      retryInMs: delay,
      error: err.message,
    });
    const h = this.historyOf(a.invocationId);
    h.retryCount = retryCount;
    h.lastFailure = err.failure;
    // Wait until everything this attempt appended is applied, so that the next attempt sees it.
    try {
      const last = await a.lastAppend;
      if (last !== undefined) await a.leader.processor.waitApplied(last);
    } catch {
      // the append failed; the next attempt replays what is durable
    }
    h.nextRetryAt = this.clock.now() + delay;
    await sleep(this.timers, delay);
    if (a.stopped || this.attempts.get(a.invocationId) !== a) return;
    this.attempts.delete(a.invocationId);
    this.invoke(a.leader, a.invocationId);
  }

  /** The attempts ran out or failed terminally: the invocation fails or pauses; no more attempts. */
  private giveUp(a: Attempt, effect: Extract<InvokerEffect, { kind: 'fail' | 'pause' }>): void {
    const error = effect.kind === 'fail' ? effect.failure.message : effect.reason;
    this.opts.log('warn', effect.kind === 'fail' ? 'invocation failed' : 'invocation paused', {
      invocationId: a.invocationId,
      error,
    });
    this.append(a, effect);
    this.attempts.delete(a.invocationId);
    this.history.delete(a.invocationId);
  }

  /** One attempt: prepare it from the store, open the stream with the journal, follow what the endpoint sends. */
  private async attempt(a: Attempt): Promise<'done'> {
    const st = await a.leader.reader.status(a.invocationId);
    if (!st || st.phase !== 'invoked') return 'done';
    // The invocation's first attempt (the state machine's first start, and not a retry of it).
    if ((st.attempt ?? 0) <= 1 && a.retryCount === 0) this.opts.metrics?.started();
    const { stream, checker } = await this.open(a, st);
    const idle = new IdleTimer(this.timers, stream, a.abort, a.options);
    try {
      for await (const frame of stream.frames()) {
        idle.activity();
        const m = this.checkFrame(checker, frame.type, frame.payload, stream);
        if (this.onMessage(a, m, frame, stream) === 'done') return 'done';
      }
      throw new AttemptError('the endpoint closed the stream without End, Suspension or Error');
    } finally {
      idle.clear();
    }
  }

  /**
   * Fences the attempt, resolves its options and deployment (pinning it the first time), then opens the stream
   * and sends Start, the journal and the notifications that arrived meanwhile.
   */
  private async open(a: Attempt, st: InvocationStatus): Promise<{ stream: InvocationStream; checker: AttemptChecker }> {
    const reader = a.leader.reader;
    a.fence = st.attempt ?? 0;
    const svc = this.opts.schema.service(st.target.service);
    a.options = resolveInvocationOptions(
      svc,
      svc?.handlers.find((h) => h.name === st.target.handler),
      this.opts.defaults,
    );
    const dep = this.pickDeployment(st);
    a.protocolVersion = dep.protocolVersion;
    this.historyOf(a.invocationId).lastDeploymentId = dep.deploymentId;
    if (st.deploymentId === undefined) {
      this.append(a, { kind: 'pin', deploymentId: dep.deploymentId, protocolVersion: dep.protocolVersion });
    }
    const journal = await reader.journal(st);
    a.startLength = journal.length;
    const checker = new AttemptChecker(journal);
    let state = await reader.stateOf(st.target);
    const stateBytes = state.reduce((n, [k, v]) => n + k.length + v.length, 0);
    const partialState = stateBytes > (this.opts.eagerStateLimitBytes ?? 1024 * 1024);
    if (partialState) state = [];
    const stream = this.opts.client.open({
      uri: dep.uri,
      service: st.target.service,
      handler: st.target.handler,
      protocolVersion: dep.protocolVersion,
      headers: dep.headers,
      useHttp11: dep.useHttp11,
      signal: a.abort.signal,
    });
    stream.write(
      MessageType.Start,
      J.startMessage({
        idBytes: parseInvocationId(st.id).bytes,
        debugId: st.id,
        key: st.target.key,
        partialState,
        randomSeed: createHash('sha256').update(st.id).digest().readBigUInt64BE(0),
        knownEntries: journal.length,
        state,
        retryCount: a.retryCount,
        durationSinceLastStoredEntryMs: Math.max(0, this.clock.now() - st.modifiedAt),
        // Older protocol versions have no such field.
        idempotencyKey: dep.protocolVersion >= 7 ? st.idempotencyKey : undefined,
      }),
    );
    for (const e of journal) stream.write(e.type, e.bytes);
    this.connect(a, stream, dep.requestResponse);
    return { stream, checker };
  }

  /** Where later notifications of the attempt go: into the open stream, or nowhere for request/response. */
  private connect(a: Attempt, stream: InvocationStream, requestResponse: boolean): void {
    if (requestResponse) {
      // Request/response deployment: the whole journal is the request; the endpoint runs until it ends or
      // suspends. Notifications that arrive meanwhile are in the journal; a suspension waiting on one of them
      // starts a new request at once (state machine, `suspend`).
      stream.end();
      a.write = () => {};
    } else {
      const write = (entry: JournalEntry) => stream.write(entry.type, entry.bytes);
      a.write = write;
      for (const p of a.pending) if (p.index >= a.startLength) write(this.forAttempt(a, p.entry));
    }
    a.pending = [];
  }

  /** Turns one checked message of the endpoint into an effect; 'done' when the attempt ends with it. */
  private onMessage(
    a: Attempt,
    m: CheckedMessage,
    frame: { flags: number; payload: Uint8Array },
    stream: InvocationStream,
  ): 'done' | undefined {
    const payload = frame.payload;
    switch (m.kind) {
      case 'command': {
        refuseScoped(m.entry, stream);
        const cmd = this.interpret(m.entry);
        if (cmd) this.checkCommand(cmd);
        const effect: InvokerEffect = { kind: 'command', entry: m.entry, ...(cmd && this.enrich(cmd)) };
        if (m.entry.type === RUN_COMMAND) this.hold(a, effect);
        else this.append(a, effect);
        return;
      }
      case 'proposeRun':
        // v7: the endpoint may ask for an ack instead of the completion (it keeps the result itself). The ack
        // goes out when the completion is applied, that is durable in the log (see forAttempt).
        if (a.protocolVersion >= 7 && (frame.flags & REQUESTED_ACK) !== 0) a.acks.add(m.completionId);
        this.append(a, { kind: 'runCompletion', ...J.decodeProposeRun(payload) });
        return;
      case 'suspension':
        return this.finish(a, { kind: 'suspend', waiting: J.decodeSuspension(payload) }, stream);
      case 'end':
        return this.finish(a, { kind: 'end' }, stream);
      case 'error': {
        const e = J.decodeError(payload);
        stream.close();
        throw endpointError(e);
      }
      case 'hint':
        return; // AwaitingOn needs no action.
    }
  }

  /** The attempt ended (End) or suspended: no retry follows. */
  private finish(a: Attempt, effect: InvokerEffect, stream: InvocationStream): 'done' {
    this.ended(a, effect.kind === 'end' ? 'completed' : 'suspended');
    a.stopped = true;
    this.attempts.delete(a.invocationId);
    this.append(a, effect);
    stream.finish();
    return 'done';
  }

  /**
   * Parses and checks a frame before anything of it reaches the log: a frame that breaks the protocol ends the
   * attempt and fails the invocation for good (retrying would get the same frame again).
   */
  private checkFrame(checker: AttemptChecker, type: number, payload: Uint8Array, stream: { close(): void }) {
    try {
      return checker.check(type, payload);
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) throw err;
      stream.close();
      const message = `protocol violation: ${err.message}`;
      throw new AttemptError(message, { terminal: { code: PROTOCOL_VIOLATION, message } });
    }
  }

  /** The commands the invoker reads (calls to enrich, state values to limit), decoded; the others pass as bytes. */
  private interpret(entry: JournalEntry): J.DecodedCommand | undefined {
    const t = entry.type;
    if (t === J.T.Call || t === J.T.OneWayCall || (t === J.T.SetState && this.opts.maxStateValueBytes !== undefined))
      return J.decodeCommand(entry);
    return undefined;
  }

  /** Refuses commands that break a limit; the invocation fails with the reason. */
  private checkCommand(cmd: J.DecodedCommand): void {
    const limit = this.opts.maxStateValueBytes;
    if (limit === undefined || cmd.kind !== 'setState' || cmd.value.length <= limit) return;
    const message = `state value for key '${Buffer.from(cmd.key).toString()}' is ${cmd.value.length} bytes; the limit is ${limit}`;
    throw new AttemptError(message, { terminal: { code: 413, message } });
  }

  /**
   * Service and handler types of a call's target, and the callee's retention, as registered (the state machine
   * has no schema).
   */
  private enrich(cmd: J.DecodedCommand): Pick<Extract<InvokerEffect, { kind: 'command' }>, 'target' | 'retention'> {
    if (cmd.kind !== 'call' && cmd.kind !== 'oneWayCall') return {};
    const t = cmd.target;
    const svc = this.opts.schema.service(t.service);
    const handler = svc?.handlers.find((h) => h.name === t.handler);
    const r = invocationRetention(svc, handler, this.opts.defaults, { key: t.key, idempotencyKey: cmd.idempotencyKey });
    return {
      target: { serviceType: svc?.ty, handlerType: handler?.ty },
      retention: { retentionMs: r.retentionMs, journalRetentionMs: r.journalRetentionMs },
    };
  }

  private pickDeployment(st: InvocationStatus) {
    const schema = this.opts.schema;
    let deploymentId = st.deploymentId;
    if (deploymentId === undefined) {
      const svc = schema.service(st.target.service);
      if (!svc) throw new AttemptError(`service '${st.target.service}' is not registered`);
      deploymentId = svc.deploymentId;
    }
    const dep = schema.deployment(deploymentId);
    if (!dep) throw new AttemptError(`deployment ${deploymentId} is not registered`);
    const protocolVersion = st.protocolVersion ?? Math.min(dep.maxProtocolVersion, this.opts.maxProtocolVersion);
    if (!speaks(dep, protocolVersion, this.opts)) {
      throw new AttemptError(
        `deployment ${dep.id} speaks service protocol ${dep.minProtocolVersion}..${dep.maxProtocolVersion}; this server speaks ${this.opts.minProtocolVersion}..${this.opts.maxProtocolVersion}`,
        { terminal: { code: 500, message: 'no common service protocol version with the deployment' } },
      );
    }
    return {
      uri: dep.uri,
      deploymentId,
      protocolVersion,
      headers: dep.additionalHeaders,
      useHttp11: dep.useHttp11,
      requestResponse: dep.protocolType === 'RequestResponse' || dep.useHttp11,
    };
  }
}

/**
 * Scopes and limit keys (v7: `ctx.scope(...)`) are not supported yet: a command that names one ends the attempt
 * with a retryable error (the invocation retries, then pauses, until the handler or the server changes), as
 * restate-server 1.7 does without its flow-control feature. Dropping the scope would address another target.
 */
function refuseScoped(entry: JournalEntry, stream: { close(): void }): void {
  const scoped = J.scopeOf(entry);
  if (!scoped) return;
  stream.close();
  const what = scoped.scope === undefined ? `limit key '${scoped.limitKey}'` : `scope '${scoped.scope}'`;
  const message = `the handler calls with ${what}: scopes and limit keys are not supported by this server yet`;
  throw new AttemptError(message, { failure: { message, code: 501 } });
}

/**
 * An Error message of the endpoint as the error that ends the attempt: terminal, a pause, or retried (maybe after
 * its delay).
 */
function endpointError(e: J.DecodedError): AttemptError {
  // `behavior` came with v7, but SDK 1.17 sets it on v5/v6 too and restate-server 1.7 honours it there (a
  // PauseError pauses a v6 invocation): so does Stead, whatever the version.
  if (e.behavior === 'fail') return new AttemptError(e.message, { terminal: { code: e.code, message: e.message } });
  // The endpoint's delay replaces the policy's for the next attempt (as in Restate); a delay beyond what a timer
  // can hold would otherwise fire at once, so it is capped there.
  const retryDelayMs = e.nextRetryDelayMs === undefined ? undefined : Math.min(e.nextRetryDelayMs, MAX_TIMER_MS);
  const failure: AttemptFailure = { message: e.message, code: e.code };
  if (e.relatedCommand) failure.relatedCommand = e.relatedCommand;
  return new AttemptError(`endpoint error ${e.code}: ${e.message}`, {
    retryDelayMs,
    failure,
    pause: e.behavior === 'pause',
  });
}

/**
 * The inactivity and abort timeouts of one attempt: no message from the endpoint for `inactivityTimeoutMs`
 * asks it to suspend (our side ends); no message for `abortTimeoutMs` more aborts the attempt.
 */
class IdleTimer {
  private readonly timers: Timers;
  private readonly stream: InvocationStream;
  private readonly abort: AbortController;
  private readonly inactivityTimeoutMs: number;
  private readonly abortTimeoutMs: number;
  private inactivity: TimerHandle | undefined;
  private abortTimer: TimerHandle | undefined;
  /** Bound once: re-arming on every message allocates no closure. */
  private readonly onIdle = () => this.askToSuspend();

  constructor(
    timers: Timers,
    stream: InvocationStream,
    abort: AbortController,
    o: { inactivityTimeoutMs: number; abortTimeoutMs: number },
  ) {
    this.timers = timers;
    this.stream = stream;
    this.abort = abort;
    this.inactivityTimeoutMs = o.inactivityTimeoutMs;
    this.abortTimeoutMs = o.abortTimeoutMs;
    this.arm();
  }

  /** A message arrived: the endpoint is alive; start the inactivity timeout again. */
  activity(): void {
    this.arm();
    if (this.abortTimer !== undefined) {
      this.timers.clearTimeout(this.abortTimer);
      this.abortTimer = undefined;
    }
  }

  clear(): void {
    if (this.inactivity !== undefined) this.timers.clearTimeout(this.inactivity);
    if (this.abortTimer !== undefined) this.timers.clearTimeout(this.abortTimer);
  }

  private arm(): void {
    if (this.inactivity !== undefined) this.timers.clearTimeout(this.inactivity);
    this.inactivity = this.timers.setTimeout(this.onIdle, this.inactivityTimeoutMs);
  }

  private askToSuspend(): void {
    this.stream.end(); // ask the endpoint to suspend
    this.abortTimer = this.timers.setTimeout(
      () => this.abort.abort(new Error('abort timeout: the endpoint did not finish after being asked to suspend')),
      this.abortTimeoutMs,
    );
  }
}

type DeploymentOf = NonNullable<ReturnType<SchemaView['deployment']>>;

/** Whether `dep` and this server both speak `version`. */
function speaks(dep: DeploymentOf, version: number, range: { minProtocolVersion: number }): boolean {
  return version >= Math.max(dep.minProtocolVersion, range.minProtocolVersion);
}

/**
 * The deployment a new invocation of `service` would be pinned to now, and the protocol version: what the
 * invoker picks when the invocation starts. Undefined when there is none to pick (the invoker then reports why
 * when it starts); a leader puts it in the Invoke record so that an invocation that starts at once needs no
 * pin record of its own.
 */
export function pinFor(
  schema: SchemaView,
  service: string,
  range: { minProtocolVersion: number; maxProtocolVersion: number },
): { deploymentId: string; protocolVersion: number } | undefined {
  const deploymentId = schema.service(service)?.deploymentId;
  const dep = deploymentId === undefined ? undefined : schema.deployment(deploymentId);
  if (!dep || deploymentId === undefined) return undefined;
  const protocolVersion = Math.min(dep.maxProtocolVersion, range.maxProtocolVersion);
  return speaks(dep, protocolVersion, range) ? { deploymentId, protocolVersion } : undefined;
}
