// The admin's replication and Kubernetes settings as a process reads them: the replication parser's forms are
// accepted, and a bad value is refused at start (exit 2) with the parser's message.
import { execFile } from 'node:child_process';
import { NODE, REPO } from '@stead/testing';

const MAIN = `${REPO}apps/admin/src/main.ts`;

function admin(args: string[]): Promise<{ code: number; err: string }> {
  return new Promise((resolve) => {
    execFile(NODE, [MAIN, ...args], { timeout: 20_000, env: { PATH: process.env.PATH } }, (error, _out, err) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, err }),
    );
  });
}

test('bad replication values and StatefulSet lists are refused with the reason', async () => {
  const r = await admin([
    '--partition-replication=three',
    '--log-replication=zone:0',
    '--kubernetes-statefulsets=stead-worker',
  ]);
  expect(r.code).toBe(2);
  expect(r.err).toContain(
    "flag --partition-replication: replication 'three': expected a count 1..16, or {node: N} or {zone: N}",
  );
  expect(r.err).toContain("flag --log-replication: replication 'zone:0'");
  expect(r.err).toContain("flag --kubernetes-statefulsets: 'stead-worker' is not namespace/name");
});

test.each([
  ['2', 'node:3'],
  ['{zone: 2}', 'zone:2'],
])('replication %s / %s passes the settings check', async (partition, log) => {
  // Accepted settings get as far as the start, which then stops for want of a metadata store (exit 1).
  const r = await admin([
    `--partition-replication=${partition}`,
    `--log-replication=${log}`,
    '--kubernetes-statefulsets=ns/stead-worker,ns/stead-log-server',
    '--metadata-address=,',
  ]);
  expect(r.err).not.toContain('replication');
  expect(r.err).toContain('no metadata store address given');
  expect(r.code).toBe(1);
});
