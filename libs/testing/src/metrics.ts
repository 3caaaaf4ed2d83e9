/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of Prometheus text (comment lines skipped). */
export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(LABEL)) labels[k!] = v!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** What one process's `/metrics` answered, with look-ups that name what is there when a series is missing. */
export class MetricsScrape {
  readonly samples: MetricSample[];
  /** Where it was scraped (for failure messages). */
  readonly url: string;

  constructor(url: string, samples: MetricSample[]) {
    this.url = url;
    this.samples = samples;
  }

  /** The samples of `name` whose labels include `labels`. */
  all(name: string, labels: Record<string, string> = {}): MetricSample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** The sum of the samples of `name` with `labels`; throws (listing the metric's samples) when there is none. */
  value(name: string, labels: Record<string, string> = {}): number {
    const found = this.all(name, labels);
    if (found.length === 0) {
      const same = this.all(name).map((s) => JSON.stringify(s.labels));
      throw new Error(
        `${this.url}: no sample ${name}${JSON.stringify(labels)}; ${same.length === 0 ? 'the metric is absent' : `its samples: ${same.join(' ')}`}`,
      );
    }
    return found.reduce((n, s) => n + s.value, 0);
  }
}

/** Scrapes `${metricsUrl}/metrics` (e.g. `http://127.0.0.1:5123`). */
export async function scrapeMetrics(metricsUrl: string): Promise<MetricsScrape> {
  const url = `${metricsUrl}/metrics`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return new MetricsScrape(url, parseMetrics(await res.text()));
}
