/**
 * The ingress reports every request it answers (status and duration, HTTP/1.1 and h2c alike) to its metrics
 * sink, and registerIngressMetrics turns those reports into the Prometheus series.
 */
import { createRegistry } from '@stead/observability';
import { type IngressMetrics, registerIngressMetrics, startIngressServer } from '../src/index.ts';
import { RecordingBackend, request, requestH2, SERVICES, StaticSchema } from './helpers.ts';

describe('ingress metrics', () => {
  test('every answered request is reported with its status and duration', async () => {
    const answered: Array<[number, number]> = [];
    const metrics: IngressMetrics = { answered: (status, seconds) => answered.push([status, seconds]) };
    const backend = new RecordingBackend();
    const server = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend,
      schema: new StaticSchema(SERVICES),
      onError: () => {},
      metrics,
    });
    try {
      const json = { 'content-type': 'application/json' };
      expect((await request(server.port, { path: '/Greeter/greet', headers: json, body: '"a"' })).status).toBe(200);
      expect((await requestH2(server.port, { path: '/Greeter/greet', headers: json, body: '"b"' })).status).toBe(200);
      expect((await request(server.port, { path: '/Nope/run', body: '' })).status).toBe(404);
      expect((await request(server.port, { method: 'GET', path: '/restate/health' })).status).toBe(200);
      backend.failWith = new Error('boom');
      expect((await request(server.port, { path: '/Greeter/greet', headers: json, body: '"c"' })).status).toBe(500);
    } finally {
      await server.close();
    }
    expect(answered.map(([status]) => status)).toEqual([200, 200, 404, 200, 500]);
    for (const [, seconds] of answered) expect(seconds).toBeGreaterThanOrEqual(0);
  });

  test('registerIngressMetrics counts answers by status and times them', async () => {
    const registry = createRegistry({ component: 'ingress', node: 'i1' });
    const metrics = registerIngressMetrics(registry);
    metrics.answered(200, 0.002);
    metrics.answered(200, 0.2);
    metrics.answered(503, 0.001);
    const text = await registry.metrics();
    expect(text).toContain('stead_ingress_requests_total{status="200",component="ingress",node="i1"} 2');
    expect(text).toContain('stead_ingress_requests_total{status="503",component="ingress",node="i1"} 1');
    expect(text).toContain('stead_ingress_request_duration_seconds_count{component="ingress",node="i1"} 3');
    expect(text).toContain(
      'stead_ingress_request_duration_seconds_bucket{le="0.0025",component="ingress",node="i1"} 2',
    );
  });
});
