// Bounds how many queries run at once and how many wait: beyond both, a query is refused (503 + retry-after)
// rather than queued without end.
import { QueryError } from './errors.ts';

export class QueryGate {
  /** Slots taken; a freed slot passes straight to the first waiter, so running <= maxRunning always. */
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly maxRunning: number;
  private readonly maxWaiting: number;

  constructor(maxRunning: number, maxWaiting: number) {
    this.maxRunning = maxRunning;
    this.maxWaiting = maxWaiting;
  }

  /** Takes a slot, waiting for one (until `signal` aborts) when all are taken; the returned function frees it. */
  async enter(signal: AbortSignal): Promise<() => void> {
    if (this.running < this.maxRunning) this.running++;
    else await this.wait(signal);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    };
  }

  private wait(signal: AbortSignal): Promise<void> {
    if (this.waiting.length >= this.maxWaiting) {
      return Promise.reject(
        new QueryError(503, `too many SQL queries at once (${this.maxRunning} running, ${this.maxWaiting} waiting)`, 1),
      );
    }
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(wake), 1);
        reject(new QueryError(503, 'the SQL engine was busy with other queries for the whole time limit', 1));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(wake);
    });
  }
}
