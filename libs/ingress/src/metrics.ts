import { type createRegistry, histogram, readLabeledCounter } from '@stead/observability';

type Registry = ReturnType<typeof createRegistry>;

/** What the ingress reports about the requests it answers (an app feeds its registry with it). */
export interface IngressMetrics {
  /** A request was answered with `status`, `seconds` after it arrived. */
  answered(status: number, seconds: number): void;
}

/**
 * The ingress figures of a process (`stead_ingress_requests_total{status}`,
 * `stead_ingress_request_duration_seconds`) in `registry`, and the sink that feeds them. The counts per status
 * are plain numbers read at scrape time; the few status codes an ingress answers keep the label set small.
 */
export function registerIngressMetrics(registry: Registry): IngressMetrics {
  const byStatus = new Map<number, number>();
  readLabeledCounter(
    registry,
    'stead_ingress_requests_total',
    'Ingress HTTP requests answered, by status code',
    'status',
    () => [...byStatus].map(([status, n]): [string, number] => [String(status), n]),
  );
  const duration = histogram(
    registry,
    'stead_ingress_request_duration_seconds',
    'Time from an ingress HTTP request to its answer',
  );
  return {
    answered(status, seconds) {
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      duration.observe(seconds);
    },
  };
}
