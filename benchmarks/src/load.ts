// Closed-loop HTTP load: C workers, each sends one request, waits for its answer, sends the next.
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** How a client reaches a server that asks for more than plain HTTP: the CA it trusts (HTTPS), extra headers. */
export interface ClientOptions {
  /** PEM of the CA that issued the server's certificate (https:// URLs). */
  ca?: string | Buffer;
  /** Sent with every request (e.g. `authorization: Bearer …`). */
  headers?: Record<string, string>;
}

/** A keep-alive agent for `url`'s scheme (HTTPS trusts `client.ca`). */
export function agentFor(url: URL, maxSockets: number, client: ClientOptions = {}): Agent {
  const o = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
  return url.protocol === 'https:' ? (new HttpsAgent({ ...o, ca: client.ca }) as unknown as Agent) : new Agent(o);
}

export interface LoadResult {
  /** Latencies (ms) of the successful requests, sorted ascending. */
  latencies: number[];
  errors: number;
  /** First error seen (status and body, or the exception), for the report. */
  firstError?: string;
  /** Wall time of the measured run (s): from the first send to the last answer. */
  seconds: number;
}

export interface Summary {
  requests: number;
  errors: number;
  throughput: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(r: LoadResult): Summary {
  const n = r.latencies.length;
  let sum = 0;
  for (const x of r.latencies) sum += x;
  return {
    requests: n,
    errors: r.errors,
    throughput: r.seconds > 0 ? n / r.seconds : Number.NaN,
    p50: percentile(r.latencies, 50),
    p90: percentile(r.latencies, 90),
    p99: percentile(r.latencies, 99),
    max: n > 0 ? r.latencies[n - 1]! : Number.NaN,
    mean: n > 0 ? sum / n : Number.NaN,
  };
}

/** One POST; resolves with the status and the body (as text). */
export function post(
  agent: Agent,
  url: URL,
  body: string,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : request;
    const req = send(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface LoadOptions extends LoopOptions {
  url: URL;
  body: string;
  /** Expected response body; any other answer counts as an error. */
  expect: string;
  timeoutMs?: number;
  client?: ClientOptions;
}

/** How long a closed loop runs and what it calls between its warm-up and its measured run. */
export interface LoopOptions {
  concurrency: number;
  warmupRequests: number;
  durationMs: number;
  /** Called between the warm-up and the measured run (to sample process counters). */
  onMeasureStart?: () => void;
}

/**
 * Warm-up (`warmupRequests` requests spread over the workers, not recorded), then a measured closed-loop run of
 * `durationMs`: workers stop sending once the duration has passed, and the run ends with the last answer.
 * `send` makes one request and resolves with undefined when it succeeded, else with what was wrong.
 */
export async function closedLoop(send: () => Promise<string | undefined>, o: LoopOptions): Promise<LoadResult> {
  let warm = o.warmupRequests;
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (warm-- > 0) await send().catch(() => undefined);
    }),
  );
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const fail = (what: string) => {
    errors++;
    firstError ??= what;
  };
  o.onMeasureStart?.();
  const start = performance.now();
  const end = start + o.durationMs;
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const problem = await send();
          const t1 = performance.now();
          if (problem === undefined) latencies.push(t1 - t0);
          else fail(problem);
        } catch (err) {
          fail(String(err));
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { latencies, errors, firstError, seconds };
}

/** The closed loop of `closedLoop` over HTTP POSTs of `body` to `url`, each expected to answer 200 `expect`. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = agentFor(o.url, o.concurrency, o.client);
  const headers = o.client?.headers ?? {};
  const timeoutMs = o.timeoutMs ?? 30_000;
  try {
    return await closedLoop(async () => {
      const res = await post(agent, o.url, o.body, timeoutMs, headers);
      return res.status === 200 && res.body === o.expect ? undefined : `${res.status} ${res.body.slice(0, 300)}`;
    }, o);
  } finally {
    agent.destroy();
  }
}
