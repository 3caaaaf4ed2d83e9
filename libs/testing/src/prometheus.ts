/**
 * A real Prometheus (Debian's `prometheus` package, `/usr/bin/prometheus`) for tests: it scrapes the targets
 * the test names (a file-based service discovery file the test rewrites as processes come and go) every
 * `scrapeIntervalS` seconds, keeps its TSDB in a temp directory, and answers PromQL through its HTTP API.
 */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cleanup, freePort, Proc } from './process.ts';
import { ManagedProcess } from './servers.ts';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';

export interface PromTarget {
  /** `host:port` of a `/metrics` endpoint. */
  address: string;
  labels?: Record<string, string>;
}

export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

export class PrometheusServer extends ManagedProcess {
  readonly port: number;
  readonly host: string;
  private readonly dir: string;

  private constructor(dir: string, host: string, port: number) {
    super();
    this.dir = dir;
    this.host = host;
    this.port = port;
  }

  /** Starts Prometheus listening on `host` (a free port), scraping what `setTargets` names. */
  static async start(
    cleanup: Cleanup,
    opts: { host?: string; scrapeIntervalS?: number } = {},
  ): Promise<PrometheusServer> {
    if (!existsSync(PROMETHEUS_BIN))
      throw new Error(`${PROMETHEUS_BIN} is missing: install Debian's prometheus package (.ci/run does)`);
    const p = new PrometheusServer(cleanup.tempDir('stead-prometheus-'), opts.host ?? '127.0.0.1', await freePort());
    cleanup.add(() => p.stop());
    const interval = `${opts.scrapeIntervalS ?? 2}s`;
    writeFileSync(join(p.dir, 'targets.json'), '[]');
    writeFileSync(
      join(p.dir, 'prometheus.yml'),
      [
        'global:',
        `  scrape_interval: ${interval}`,
        `  evaluation_interval: ${interval}`,
        'scrape_configs:',
        '  - job_name: stead',
        `    scrape_timeout: ${interval}`,
        '    file_sd_configs:',
        `      - files: ['${join(p.dir, 'targets.json')}']`,
        '        refresh_interval: 1s',
        '',
      ].join('\n'),
    );
    const proc = new Proc('prometheus', PROMETHEUS_BIN, [
      `--config.file=${join(p.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(p.dir, 'data')}`,
      `--web.listen-address=${p.host}:${p.port}`,
      '--storage.tsdb.retention.time=1d',
      '--log.level=warn',
    ]);
    await p.launch(proc, () => p.healthy(), {
      timeoutMs: 30_000,
      what: 'Prometheus to be ready',
      exited: 'Prometheus exited during start',
    });
    return p;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Replaces the scrape targets (written atomically; Prometheus picks the file up within a second or two). */
  setTargets(targets: PromTarget[]): void {
    const groups = targets.map((t) => ({ targets: [t.address], labels: t.labels ?? {} }));
    const file = join(this.dir, 'targets.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(groups));
    renameSync(`${file}.tmp`, file);
  }

  /** The result of an instant query; throws with Prometheus' message when the query is bad. */
  async query(promql: string): Promise<PromSeries[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: PromSeries[] | [number, string] };
    };
    if (body.status !== 'success') throw new Error(`query ${promql}: ${body.error ?? res.status}`);
    const r = body.data?.result;
    if (body.data?.resultType === 'scalar' && r) return [{ metric: {}, value: r as [number, string] }];
    return (r as PromSeries[]) ?? [];
  }

  /** Targets and whether their last scrape worked. */
  async targets(): Promise<Array<{ address: string; health: string; lastError: string }>> {
    const res = await fetch(`${this.url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as {
      data: { activeTargets: Array<{ scrapeUrl: string; health: string; lastError: string; labels: object }> };
    };
    return body.data.activeTargets.map((t) => ({
      address: new URL(t.scrapeUrl).host,
      health: t.health,
      lastError: t.lastError,
    }));
  }

  private async healthy(): Promise<boolean> {
    try {
      const res = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }
}
