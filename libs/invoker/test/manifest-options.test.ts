import { parseManifest } from '../src/discovery.ts';

const manifest = (svc: Record<string, unknown>, handler: Record<string, unknown> = {}) => ({
  minProtocolVersion: 5,
  maxProtocolVersion: 6,
  services: [{ name: 'S', ty: 'SERVICE', handlers: [{ name: 'h', ...handler }], ...svc }],
});

describe('per-service and per-handler options in the endpoint manifest', () => {
  it('reads retentions, timeouts and the flat retryPolicy* fields of services and handlers', () => {
    const { services } = parseManifest(
      manifest(
        { journalRetention: 1000, retryPolicyMaxAttempts: 3, retryPolicyOnMaxAttempts: 'KILL' },
        {
          inactivityTimeout: 200,
          abortTimeout: 300,
          retryPolicyInitialInterval: 10,
          retryPolicyExponentiationFactor: 1.5,
          retryPolicyMaxInterval: 500,
        },
      ),
    );
    expect(services[0]).toMatchObject({
      journalRetentionMs: 1000,
      retryPolicy: { maxAttempts: 3, onMaxAttempts: 'KILL' },
    });
    expect(services[0].handlers[0]).toMatchObject({
      inactivityTimeoutMs: 200,
      abortTimeoutMs: 300,
      retryPolicy: { initialIntervalMs: 10, factor: 1.5, maxIntervalMs: 500 },
    });
    expect(parseManifest(manifest({})).services[0].retryPolicy).toBeUndefined();
  });

  it('refuses bad retry policy values with 400', () => {
    for (const bad of [
      { retryPolicyMaxAttempts: 0 },
      { retryPolicyMaxAttempts: 1.5 },
      { retryPolicyOnMaxAttempts: 'EXPLODE' },
      { retryPolicyExponentiationFactor: 0.5 },
      { retryPolicyInitialInterval: -1 },
    ]) {
      expect(() => parseManifest(manifest({}, bad))).toThrow(expect.objectContaining({ status: 400 }));
    }
  });
});
