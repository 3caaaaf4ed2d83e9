import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cleanup, freePort, httpOk, NODE, Proc, REPO, steadEnv, waitFor } from '@stead/testing';
import { ROLES } from '../src/roles.ts';

const MAIN = join(REPO, 'apps/cli/src/main.ts');
const exec = promisify(execFile);
const cleanup = new Cleanup();
afterAll(() => cleanup.run());

/** `stead <argv>` as the image runs it: a separate process through the dispatcher. */
function stead(...argv: string[]): Promise<{ stdout: string; stderr: string }> {
  return exec(NODE, ['--disable-warning=ExperimentalWarning', MAIN, ...argv], { env: steadEnv(process.env) });
}

describe('stead <role>: the dispatcher', () => {
  it('lists every role in stead --help', async () => {
    const { stdout } = await stead('--help');
    for (const role of Object.keys(ROLES)) expect(stdout).toMatch(new RegExp(`^  ${role} `, 'm'));
    expect(stdout).toMatch(/ctl/);
  });

  it.each(Object.keys(ROLES))('prints the settings of %s with --help', async (role) => {
    const { stdout } = await stead(role, '--help');
    expect(stdout).toMatch(/Every setting is a flag and an environment variable/);
    expect(stdout).toMatch(/--metrics-port <int> {3}STEAD_METRICS_PORT/);
  });

  it('passes the flags after the role to it (an unknown flag is refused by the role, exit 2)', async () => {
    await expect(stead('sequencer', '--no-such-flag', 'x')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown flag --no-such-flag/),
    });
  });

  it('keeps stead ctl', async () => {
    const { stdout } = await stead('ctl', '--help');
    expect(stdout).toMatch(/partitions/);
  });

  it('starts a metadata-store that becomes ready and stops with exit 0 on SIGTERM', async () => {
    const [nodePort, metricsPort] = [await freePort(), await freePort()];
    const dataDir = cleanup.tempDir('stead-roles-');
    const proc = new Proc(
      'metadata-store',
      NODE,
      ['--disable-warning=ExperimentalWarning', MAIN, 'metadata-store', '--bind-address', '127.0.0.1'],
      {
        env: {
          ...steadEnv(process.env),
          STEAD_NODE_ID: 'm1',
          STEAD_NODE_PORT: String(nodePort),
          STEAD_METRICS_PORT: String(metricsPort),
          STEAD_ADVERTISED_ADDRESS: `127.0.0.1:${nodePort}`,
          STEAD_DATA_DIR: dataDir,
        },
      },
    );
    cleanup.add(() => proc.stop());
    try {
      await waitFor(() => httpOk(`http://127.0.0.1:${metricsPort}/ready`), { timeoutMs: 20_000, what: '/ready' });
      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${proc.output()}`);
    }
  });
});
