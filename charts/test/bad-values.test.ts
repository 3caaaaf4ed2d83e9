// Bad values fail `helm template` (and so `helm install`) with a message that names the value and what is wrong.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { templateRaw } from './k8s.ts';

const dir = mkdtempSync(join(tmpdir(), 'stead-values-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A values file with `yaml` in it. */
function valuesFile(name: string, yaml: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

const SCHEMA = "values don't meet the specifications of the schema";

describe('values.schema.json and the chart refuse bad values', () => {
  it.each([
    ['metadataStore.replicas=2', SCHEMA, "at '/metadataStore/replicas': value must be one of 1, 3, 5"],
    ['partitions=0', SCHEMA, "at '/partitions': minimum: got 0, want 1"],
    ['logReplication=zone=2', SCHEMA, "at '/logReplication': 'zone=2' does not match pattern"],
    ['logReplication=region:2', SCHEMA, "at '/logReplication': 'region:2' does not match pattern"],
    ['partitionReplication=17', SCHEMA, "at '/partitionReplication': maximum: got 17, want 16"],
    ['partitionReplication=0', SCHEMA, "at '/partitionReplication': minimum: got 0, want 1"],
    ['bogus=1', SCHEMA, "additional properties 'bogus' not allowed"],
    ['worker.replica=4', SCHEMA, "at '/worker': additional properties 'replica' not allowed"],
    ['image.pullPolicy=Sometimes', SCHEMA, "at '/image/pullPolicy': value must be one of"],
    ['location=eu west', SCHEMA, "at '/location': 'eu west' does not match pattern"],
    ['worker.persistence.size=lots', SCHEMA, "at '/worker/persistence/size': 'lots' does not match pattern"],
    [
      'logServer.replicas=1',
      'execution error',
      'logServer.replicas (1) must be at least the copies of logReplication (2): each copy of a record goes to a distinct log server',
    ],
    [
      'snapshots.existingSecret=creds',
      'execution error',
      'snapshots.existingSecret is set but snapshots.bucket is empty',
    ],
  ])('%s', (set, kind, message) => {
    const r = templateRaw({ set: [set] });
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain(kind);
    expect(r.stderr).toContain(message);
  });

  it('counts the copies of a zone replication: {zone: 3} needs 3 workers', () => {
    const r = templateRaw({
      values: [
        valuesFile(
          'zone3',
          'partitionReplication: "{zone: 3}"\nworker:\n  replicas: 2\n  shutdownTimeoutSeconds: 30\n',
        ),
      ],
    });
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain(
      'worker.replicas (2) must be at least the copies of partitionReplication ({zone: 3}): each copy of a partition goes to a distinct worker',
    );
  });

  it('refuses a replication map written without quotes (YAML reads {zone: 2} as a map)', () => {
    const r = templateRaw({ values: [valuesFile('map', 'logReplication: {zone: 2}\n')] });
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain("at '/logReplication': 'oneOf' failed, none matched");
  });

  it('accepts the replication forms of the admin: 3, node:2, zone:2, {zone: 2}, {"zone": 2}', () => {
    for (const form of ['3', '"node:2"', '"zone:2"', '"{zone: 2}"', `'{"zone": 2}'`, '"{node: 3}"']) {
      const r = templateRaw({ values: [valuesFile('ok', `logReplication: ${form}\n`)] });
      expect([form, r.stderr]).toEqual([form, '']);
    }
  });
});
