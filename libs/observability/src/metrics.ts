import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** A registry with the default process metrics, all names prefixed `stead_`. */
export function createRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, prefix: 'stead_' });
  return registry;
}

/** A gauge whose value is read (by `read`) when the registry is scraped. */
export function readGauge(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/**
 * A gauge with one label whose values are read at each scrape: `read()` gives the value per label value (label
 * values missing from one read are dropped from the export).
 */
export function readLabeledGauge(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  read: () => Iterable<[string, number]>,
): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [v, n] of read()) this.set({ [label]: v }, n);
    },
  });
}

/**
 * A counter whose value is read (by `read`, a count that only grows, e.g. a library's stats field) when the
 * registry is scraped: the hot path increments a plain number and nothing else.
 */
export function readCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * A counter with one label whose values are read at each scrape (see readLabeledGauge); `read` may be async (a
 * count kept in a store), and the scrape waits for it.
 */
export function readLabeledCounter(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  read: () => Iterable<[string, number]> | Promise<Iterable<[string, number]>>,
): Counter {
  return new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      const fill = (values: Iterable<[string, number]>) => {
        this.reset();
        for (const [v, n] of values) this.inc({ [label]: v }, n);
      };
      const values = read();
      if (values instanceof Promise) return values.then(fill);
      fill(values);
    },
  });
}

/** Bucket bounds (seconds) of every Stead latency histogram: 0.5 ms to 10 s. */
export const SECONDS_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Bucket bounds of histograms counting records per batch. */
export const BATCH_RECORDS_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/** A histogram (in seconds unless `buckets` says otherwise), optionally with labels. */
export function histogram<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  opts: { buckets?: readonly number[]; labelNames?: readonly L[] } = {},
): Histogram<L> {
  return new Histogram<L>({
    name,
    help,
    buckets: [...(opts.buckets ?? SECONDS_BUCKETS)],
    labelNames: opts.labelNames ?? [],
    registers: [registry],
  });
}

/** Seconds since `startMs`, a `performance.now()` reading (monotonic, sub-millisecond): for durations measured only to be reported. */
export function secondsSince(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}

export interface ProbeServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` (Prometheus text format), `/health` (the process is up) and `/ready`
 * (200 once `ready()` is true, 503 before and while shutting down).
 */
export async function startProbeServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  ready: () => boolean;
}): Promise<ProbeServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json' }).end('{"message":"method not allowed"}');
      return;
    }
    if (path === '/metrics') {
      opts.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text))
        .catch((err) => res.writeHead(500).end(String(err)));
    } else if (path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/ready') {
      const ok = opts.ready();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: ok ? 'ready' : 'not ready' }));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not found"}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
