import { createLogger, type Logger, type LogLevel, type ProbeServer, startProbeServer } from '@stead/observability';
import type { Registry } from 'prom-client';
import { errorMessage, StartupError } from './errors.ts';

/** How a shutdown ended: every close step finished, or the deadline passed first. */
export type ShutdownOutcome = 'stopped' | 'timed-out';

export interface NodeLifecycleOptions {
  /** `component` of every log line. */
  component: string;
  /** Fields added to every log line (e.g. `{ node: id }`). */
  fields?: Record<string, unknown>;
  /** After this long a shutdown stops waiting for its close steps. */
  shutdownTimeoutMs: number;
  /** Where log lines go (default stdout). */
  write?: (line: string) => void;
}

interface CloseStep {
  name: string;
  close: () => Promise<void> | void;
}

/**
 * The start and stop of a node process. Each resource is started through {@link start} and registers its close
 * with {@link onClose}; a failed start step closes what already runs and throws one {@link StartupError}, and
 * {@link shutdown} closes everything in reverse order of start, giving up after the shutdown deadline.
 * Invariant: once `stopping` is true it stays true, and `/ready` (through {@link serveProbes}) answers 503.
 */
export class NodeLifecycle {
  readonly log: Logger;
  private readonly steps: CloseStep[] = [];
  private readonly timeoutMs: number;
  private stopped: Promise<ShutdownOutcome> | undefined;

  constructor(opts: NodeLifecycleOptions) {
    const base = createLogger(opts.component, opts.write ? { write: opts.write } : {});
    const fields = opts.fields ?? {};
    this.log = (level: LogLevel, msg: string, f?: Record<string, unknown>) => base(level, msg, { ...fields, ...f });
    this.timeoutMs = opts.shutdownTimeoutMs;
  }

  get stopping(): boolean {
    return this.stopped !== undefined;
  }

  /** Registers a close step; {@link shutdown} runs them in reverse order of registration. */
  onClose(name: string, close: () => Promise<void> | void): void {
    this.steps.push({ name, close });
  }

  /**
   * Runs one start step. When it throws, the steps already registered are closed (in reverse order) and a
   * StartupError is thrown: the error itself when it is one, else `failure` (a prefix, or a message built from
   * the error).
   */
  async start<T>(run: () => Promise<T>, failure: string | ((e: unknown) => string)): Promise<T> {
    try {
      return await run();
    } catch (e) {
      await this.closeAll();
      if (e instanceof StartupError) throw e;
      throw new StartupError(typeof failure === 'string' ? `${failure}: ${errorMessage(e)}` : failure(e));
    }
  }

  /** Serves `/metrics`, `/health` and `/ready` (ready when `ready()` and not stopping); closed at shutdown. */
  async serveProbes(opts: {
    host: string;
    port: number;
    registry: Registry;
    ready: () => boolean;
  }): Promise<ProbeServer> {
    const probes = await this.start(
      () => startProbeServer({ ...opts, ready: () => !this.stopping && opts.ready() }),
      `cannot serve metrics on ${opts.host}:${opts.port}`,
    );
    this.onClose('probes', () => probes.close());
    return probes;
  }

  /**
   * Stops: logs the reason, closes every step in reverse order of start and resolves `stopped`, or `timed-out`
   * when the deadline passes first (the steps still running are left behind; the caller exits). A second call
   * returns the first one's promise. Rejects when a close step throws.
   */
  shutdown(reason: string): Promise<ShutdownOutcome> {
    if (this.stopped) return this.stopped;
    this.log('info', 'shutting down', { reason });
    this.stopped = withDeadline(this.closeAll(), this.timeoutMs).then((outcome) => {
      if (outcome === 'timed-out') this.log('error', 'shutdown timed out; exiting', { timeoutMs: this.timeoutMs });
      else this.log('info', 'stopped');
      return outcome;
    });
    return this.stopped;
  }

  private async closeAll(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) await step.close();
  }
}

/** `done` resolved → `stopped`; `timeoutMs` passed first → `timed-out`. The timer is cleared once `done` settles. */
async function withDeadline(done: Promise<void>, timeoutMs: number): Promise<ShutdownOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ShutdownOutcome>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), timeoutMs);
  });
  try {
    return await Promise.race([done.then((): ShutdownOutcome => 'stopped'), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
