import { waitFor } from './process.ts';

/**
 * The exactly-once checker: clients send increments with idempotency keys to many object keys while faults
 * happen; a request that fails (connection cut, 5xx, timeout) is sent again with the same idempotency key until
 * it succeeds. At the end every counter must equal the increments acknowledged for it: one less means an
 * acknowledged increment was lost, one more means one was applied twice.
 *
 * The service is any virtual object with a handler `add(n: number): number` and a shared `get(): number`
 * (e2e/services/main.ts `Counter`).
 */
export interface ExactlyOnceOptions {
  ingressUrl: string;
  /** Virtual object name (default `Counter`). */
  object?: string;
  /** Object keys the increments spread over (default 32). */
  keys?: number;
  /** Concurrent clients (default 8). */
  clients?: number;
  /** Per-attempt timeout (default 10 s). */
  attemptTimeoutMs?: number;
  /** A request still failing after this long counts as unacknowledged and is reported (default 60 s). */
  requestDeadlineMs?: number;
  /** Prefix of the keys, so that runs on one server do not share counters (default random). */
  keyPrefix?: string;
  /** Sent with every request (e.g. `authorization` when the ingress wants a token). */
  headers?: Record<string, string>;
}

export interface ExactlyOnceReport {
  /** Increments acknowledged (each after one or more attempts). */
  acknowledged: number;
  /** Attempts that failed and were sent again with the same idempotency key. */
  retriedAttempts: number;
  /** Increments never acknowledged within the request deadline (each may or may not have been applied). */
  unacknowledged: number;
  /** Keys whose counter differs from what was acknowledged, beyond what unacknowledged ones explain. */
  mismatches: { key: string; acknowledged: number; unacknowledged: number; value: number }[];
  keys: number;
  /** Longest time without any acknowledgement while running (ms), and the slowest acknowledged increment. */
  longestGapMs: number;
  slowestMs: number;
}

export class ExactlyOnceChecker {
  private readonly o: Required<ExactlyOnceOptions>;
  private readonly acked = new Map<string, number>();
  private readonly unknown = new Map<string, number>();
  private retried = 0;
  private stopRequested = false;
  private running: Promise<void>[] = [];
  private lastAckAt = 0;
  private longestGapMs = 0;
  private slowestMs = 0;

  constructor(opts: ExactlyOnceOptions) {
    this.o = {
      object: 'Counter',
      keys: 32,
      clients: 8,
      attemptTimeoutMs: 10_000,
      requestDeadlineMs: 60_000,
      keyPrefix: `eo${Math.random().toString(36).slice(2, 8)}`,
      headers: {},
      ...opts,
    };
  }

  private key(i: number): string {
    return `${this.o.keyPrefix}-${i}`;
  }

  /** Starts the clients; they run until `stop()`. */
  start(): void {
    this.lastAckAt = Date.now();
    for (let c = 0; c < this.o.clients; c++) this.running.push(this.client(c));
  }

  /** Acknowledged increments so far. */
  get acknowledged(): number {
    let n = 0;
    for (const v of this.acked.values()) n += v;
    return n;
  }

  private async client(c: number): Promise<void> {
    for (let seq = 0; !this.stopRequested; seq++) {
      const key = this.key((c * 7919 + seq) % this.o.keys);
      const started = Date.now();
      const ok = await this.increment(key, `${this.o.keyPrefix}-c${c}-${seq}`);
      const now = Date.now();
      if (ok) {
        this.acked.set(key, (this.acked.get(key) ?? 0) + 1);
        this.longestGapMs = Math.max(this.longestGapMs, now - this.lastAckAt);
        this.lastAckAt = now;
        this.slowestMs = Math.max(this.slowestMs, now - started);
      } else {
        this.unknown.set(key, (this.unknown.get(key) ?? 0) + 1);
      }
    }
  }

  /** One increment, sent until acknowledged or past its deadline; true when acknowledged. */
  private async increment(key: string, idempotencyKey: string): Promise<boolean> {
    const deadline = Date.now() + this.o.requestDeadlineMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(`${this.o.ingressUrl}/${this.o.object}/${encodeURIComponent(key)}/add`, {
          method: 'POST',
          headers: { ...this.o.headers, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
          body: '1',
          signal: AbortSignal.timeout(this.o.attemptTimeoutMs),
        });
        await res.arrayBuffer();
        if (res.status === 200) return true;
      } catch {
        // connection refused or reset, timeout: send again
      }
      if (Date.now() > deadline) return false;
      this.retried++;
      await new Promise((r) => setTimeout(r, Math.min(200, 10 * 2 ** attempt)));
    }
  }

  /** Stops the clients (each finishes its increment in flight) and compares every counter. */
  async stop(): Promise<ExactlyOnceReport> {
    this.stopRequested = true;
    await Promise.all(this.running);
    const mismatches: ExactlyOnceReport['mismatches'] = [];
    let unacknowledged = 0;
    for (const n of this.unknown.values()) unacknowledged += n;
    for (let i = 0; i < this.o.keys; i++) {
      const key = this.key(i);
      const value = await this.read(key);
      const acknowledged = this.acked.get(key) ?? 0;
      const unack = this.unknown.get(key) ?? 0;
      if (value < acknowledged || value > acknowledged + unack)
        mismatches.push({ key, acknowledged, unacknowledged: unack, value });
    }
    return {
      acknowledged: this.acknowledged,
      retriedAttempts: this.retried,
      unacknowledged,
      mismatches,
      keys: this.o.keys,
      longestGapMs: this.longestGapMs,
      slowestMs: this.slowestMs,
    };
  }

  private async read(key: string): Promise<number> {
    const deadline = Date.now() + this.o.requestDeadlineMs;
    for (;;) {
      try {
        const res = await fetch(`${this.o.ingressUrl}/${this.o.object}/${encodeURIComponent(key)}/get`, {
          method: 'POST',
          headers: { ...this.o.headers, 'content-type': 'application/json' },
          body: 'null',
          signal: AbortSignal.timeout(this.o.attemptTimeoutMs),
        });
        if (res.status === 200) return Number(await res.json());
        await res.arrayBuffer();
      } catch {
        // retry
      }
      if (Date.now() > deadline) throw new Error(`cannot read counter ${key}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export interface UnderLoadOptions extends ExactlyOnceOptions {
  /** How long the increments before the step (50) and after it (100 more) may take (default 30 s and 60 s). */
  beforeTimeoutMs?: number;
  afterTimeoutMs?: number;
  /** Named in the timeout message of the increments after the step. */
  name?: string;
}

/**
 * Runs `step` while the checker's clients send increments: 50 acknowledged before it, 100 more after it, then
 * the checker's verdict. The clients never outlive the call, also when the step or a wait fails.
 */
export async function checkUnderLoad(step: () => Promise<void>, o: UnderLoadOptions): Promise<ExactlyOnceReport> {
  const checker = new ExactlyOnceChecker(o);
  checker.start();
  try {
    await waitFor(() => checker.acknowledged >= 50, {
      timeoutMs: o.beforeTimeoutMs ?? 30_000,
      what: 'increments before the step',
    });
    await step();
    const after = checker.acknowledged;
    await waitFor(() => checker.acknowledged >= after + 100, {
      timeoutMs: o.afterTimeoutMs ?? 60_000,
      what: `increments after the step${o.name ? ` (${o.name})` : ''}`,
    });
  } catch (e) {
    await checker.stop();
    throw e;
  }
  return checker.stop();
}
