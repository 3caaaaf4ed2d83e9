import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

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
 * A gauge with one label whose samples are all read (by `read`, label value → value) when the registry is
 * scraped; a label value `read` no longer returns disappears.
 */
export function readLabelledGauge(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  read: () => ReadonlyMap<string, number>,
): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [value, n] of read()) this.set({ [label]: value }, n);
    },
  });
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
