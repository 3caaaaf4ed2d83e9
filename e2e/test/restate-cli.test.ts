/**
 * Issue 16: the real `restate` CLI 1.7 (the binary of npm `@restatedev/restate`) works unchanged against Stead,
 * the one-process server or a 3-worker cluster (STEAD_E2E_TOPOLOGY=cluster). One Stead and one SDK service process
 * serve every command; the tests run in order (each builds on what the ones before did) and check what each command
 * prints and what it changed. The SQL queries the CLI sends are in libs/admin/test/fixtures/restate-cli-queries.sql.
 */
import { execFile } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { Cleanup, ServiceProcess, type SteadUnderTest, startStead, TOPOLOGY, waitFor } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
/** The CLI's native binary, as its npm launcher finds it (the launcher itself needs a `node` on PATH). */
const RESTATE = createRequire(import.meta.url).resolve(`@restatedev/restate-${platform()}-${arch()}/bin/restate`);

interface CliResult {
  code: number;
  out: string;
  err: string;
}

describe(`the restate CLI (${TOPOLOGY}) against Stead`, () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let svc: ServiceProcess;
  let home: string;
  let deploymentId: string;

  /**
   * Runs the CLI with its own empty config dir (never the user's) against this Stead; `--yes` answers its
   * confirmations, `EDITOR` stands in for the editor of `edit` commands.
   */
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const childEnv = {
        PATH: process.env.PATH,
        HOME: home,
        RESTATE_CLI_CONFIG_HOME: join(home, 'config'),
        RESTATE_ADMIN_URL: server.adminUrl,
        RESTATE_INGRESS_URL: server.ingressUrl,
        NO_COLOR: '1',
        ...env,
      };
      execFile(RESTATE, args, { env: childEnv, timeout: 30_000 }, (error, out, err) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, out, err });
      });
    });
  /** Runs the command, expects exit status 0 and returns what it printed. */
  const ok = async (...args: string[]): Promise<string> => {
    const r = await cli(args);
    if (r.code !== 0) throw new Error(`restate ${args.join(' ')} exited ${r.code}:\n${r.err}${r.out}`);
    return r.out;
  };
  /** An editor for `restate ... edit`: a script that writes `content` over the file it is given (or appends to it). */
  const editor = (name: string, content: string, mode: 'write' | 'append'): string => {
    const file = join(home, `${name}.content`);
    writeFileSync(file, content);
    const script = join(home, `${name}.sh`);
    writeFileSync(script, `#!/bin/sh\ncat '${file}' ${mode === 'write' ? '>' : '>>'} "$1"\n`);
    chmodSync(script, 0o755);
    return script;
  };
  /** A GET of the admin API, checked against what the CLI printed. */
  const admin = async (path: string) => {
    const res = await fetch(`${server.adminUrl}${path}`);
    expect(res.status).toBe(200);
    return { json: (await res.json()) as Record<string, unknown> };
  };
  /** A POST to the ingress: invocations for the CLI to act on, and handlers that read the state it changed. */
  const ingress = async (path: string, body: unknown) => {
    const res = await fetch(`${server.ingressUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as unknown };
  };

  beforeAll(async () => {
    home = cleanup.tempDir('restate-cli-home-');
    server = await startStead(cleanup);
    svc = await ServiceProcess.start(cleanup, SERVICES);
  });
  afterAll(() => cleanup.run());

  it('deployments register: discovers the endpoint and registers it', async () => {
    const out = await ok('deployments', 'register', svc.uri, '--yes');
    expect(out).toMatch(/SERVICES THAT WILL BE ADDED/);
    expect(out).toMatch(/- Counter\s+Type: VirtualObject/);
    expect(out).toMatch(/- Signup\s+Type: Workflow/);
    deploymentId = /Deployment ID:\s+(dp_\w+)/.exec(out)?.[1] ?? '';
    expect(deploymentId).toMatch(/^dp_1\w{22}$/);
    const listed = await admin('/deployments');
    expect((listed.json.deployments as { id: string }[]).map((d) => d.id)).toEqual([deploymentId]);
  });

  it('deployments list and describe', async () => {
    const list = await ok('deployments', 'list');
    expect(list).toContain(deploymentId);
    expect(list).toContain(`${svc.uri}/`);
    expect(list).toMatch(/- Counter \[1\]/);
    const described = await ok('deployments', 'describe', deploymentId);
    expect(described).toMatch(new RegExp(`ID:\\s+${deploymentId}`));
    expect(described).toMatch(/Endpoint:\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(described).toMatch(/SDK Version\s+restate-sdk-typescript\//);
    expect(described).toMatch(/- Tally\s+Type: VirtualObject/);
  });

  it('services list and describe', async () => {
    const list = await ok('services', 'list');
    expect(list).toMatch(/\[public\]\s+Counter\s+1\s+virtual object\s+HTTP\s+dp_/);
    expect(list).toMatch(/\[public\]\s+Signup\s+1\s+workflow\s+HTTP\s+dp_/);
    expect(list).toMatch(/\[public\]\s+Test\s+1\s+HTTP\s+dp_/);
    const described = await ok('services', 'describe', 'Counter');
    expect(described).toMatch(/Service type:\s+VirtualObject/);
    expect(described).toMatch(new RegExp(`Deployment ID:\\s+${deploymentId}`));
    for (const handler of ['add', 'slowAdd', 'get', 'reset'])
      expect(described).toMatch(new RegExp(`\\n\\s*${handler}\\s`));
  });

  it('services config view, patch and edit', async () => {
    const view = await ok('services', 'config', 'view', 'Counter');
    expect(view).toMatch(/Public:\s+true/);
    expect(view).toMatch(/Inactivity timeout:\s+1m/);
    const patched = await ok('services', 'config', 'patch', 'Counter', '--inactivity-timeout', '2m', '--yes');
    expect(patched).toMatch(/Inactivity timeout:\s+2m/);
    const edit = await cli(['services', 'config', 'edit', 'Counter', '--yes'], {
      EDITOR: editor('config', 'abort_timeout = "5m"\n', 'append'),
    });
    expect(edit.code).toBe(0);
    expect(edit.out).toMatch(/Abort timeout:\s+5m/);
    const svcJson = (await admin('/services/Counter')).json;
    expect(svcJson).toMatchObject({ inactivity_timeout: '2m', abort_timeout: '5m' });
    expect(await ok('services', 'config', 'view', 'Counter')).toMatch(/Abort timeout:\s+5m/);
  });

  it('state get, edit (through $EDITOR) and clear', async () => {
    expect((await ingress('/Counter/a/add', 5)).json).toBe(5);
    expect(await ok('state', 'get', 'Counter', 'a')).toMatch(/KEY\s+VALUE\s+v\s+5\s/);
    const edit = await cli(['state', 'edit', 'Counter', 'a', '--yes'], {
      EDITOR: editor('state-a', '{"v": 42, "note": "edited"}', 'write'),
    });
    expect(edit.code).toBe(0);
    expect(edit.out).toContain('Successfully submitted state update');
    expect((await ingress('/Counter/a/get', null)).json).toBe(42);
    expect(JSON.parse(await ok('state', 'get', 'Counter', 'a', '--plain'))).toEqual({ v: 42, note: 'edited' });
    expect(await ok('state', 'clear', 'Counter/a', '--yes')).toContain('Enqueued successfully for processing');
    expect((await ingress('/Counter/a/get', null)).json).toBe(0);
    expect(await ok('state', 'get', 'Counter', 'a')).not.toMatch(/\n\s*v\s/);
  });

  /** Invocations the tests below act on (ids). */
  const ids: Record<'sleeping' | 'echo' | 'holder' | 'queued', string> = {
    sleeping: '',
    echo: '',
    holder: '',
    queued: '',
  };
  const send = async (path: string, body: unknown) => {
    const r = await ingress(`${path}/send`, body);
    expect(r.status).toBe(202);
    return (r.json as { invocationId: string }).invocationId;
  };
  const describeInvocation = (id: string) => ok('invocations', 'describe', id);

  it('invocations list and describe', async () => {
    ids.sleeping = await send('/Test/sleep', { ms: 600_000 });
    ids.echo = await send('/Test/echo', 'hello');
    // The sleeping one has journaled its sleep; the echo has completed.
    const described = await waitFor(
      async () => {
        const d = await describeInvocation(ids.sleeping);
        return /Command: Sleep/.test(d) && d;
      },
      { what: 'the sleep to be journaled' },
    );
    expect(described).toMatch(/Target:\s+Test\/sleep/);
    expect(described).toMatch(/Status:\s+(running|suspended)/);
    expect(described).toMatch(new RegExp(`Deployment:\\s+${deploymentId}`));
    expect(described).toMatch(/#0 \[[^\]]+\] Command: Input/);
    await waitFor(async () => /completed with success/.test(await describeInvocation(ids.echo)), {
      what: 'the echo to complete',
    });
    const list = await ok('invocations', 'list');
    expect(list).toContain(ids.sleeping);
    expect(list).not.toContain(ids.echo); // completed ones only with --all
    const all = await cli(['invocations', 'list', '--all']);
    expect(all.out).toMatch(new RegExp(`${ids.echo}\\s+Target:\\s+Test/echo\\s+Status:\\s+completed with success`));
    expect(all.err).toMatch(/Showing (\d+)\/\1 invocations/);
  });

  it('state edit of a key held by a running invocation waits for it; services status shows the lock and the queue', async () => {
    ids.holder = await send('/Counter/busy/slowAdd', { n: 1, ms: 600_000 });
    ids.queued = await send('/Counter/busy/add', 1);
    await waitFor(async () => /Status:\s+pending/.test(await describeInvocation(ids.queued)), {
      what: 'the second invocation of the key to wait in its inbox',
    });
    const edit = await cli(['state', 'edit', 'Counter', 'busy', '--yes'], {
      EDITOR: editor('state-busy', '{"v": 100}', 'write'),
    });
    expect(edit.code).toBe(0);
    expect(edit.out).toContain('Successfully submitted state update');
    const status = await ok('services', 'status', 'Counter');
    expect(status).toMatch(/\n\s+add\s+1\s/); // one pending `add`
    // The queue of 1 behind the lock holder. (The CLI shows one invocation per key and status it finds: asked
    // before any other invocation of the key completed, that is the holder.)
    expect(status).toMatch(new RegExp(`busy\\s+1\\s+${ids.holder}`));
    // Not yet: slowAdd holds the key (the shared `get` reads the state as it is).
    expect((await ingress('/Counter/busy/get', null)).json).toBe(0);
  });

  it('services status counts the invocations of every service by handler and status', async () => {
    const status = await ok('services', 'status');
    expect(status).toMatch(/PENDING\s+SCHEDULED\s+READY\s+RUNNING\s+BACKING-OFF\s+SUSPENDED/);
    // PENDING SCHEDULED READY are '-'; the sleeping invocation is RUNNING or (after the inactivity timeout) SUSPENDED.
    expect(status).toMatch(new RegExp(`\\n\\s+sleep\\s+(-\\s+){3}(1\\s+-\\s+-|-\\s+-\\s+1)\\s+${ids.sleeping}`));
    expect(status).toMatch(/Counter virtual object/);
  });

  it('invocations pause and resume', async () => {
    expect(await ok('invocations', 'pause', ids.sleeping, '--yes')).toContain('Paused 1 invocations');
    expect(await describeInvocation(ids.sleeping)).toMatch(/Status:\s+paused/);
    expect(await ok('invocations', 'list', '--status', 'paused')).toContain(ids.sleeping);
    expect(await ok('invocations', 'resume', ids.sleeping, '--yes')).toContain('Resumed 1 invocations');
    expect(await describeInvocation(ids.sleeping)).toMatch(/Status:\s+(running|suspended|ready)/);
  });

  it('invocations cancel: the handler sees the cancellation and ends with it', async () => {
    expect(await ok('invocations', 'cancel', ids.sleeping, '--yes')).toContain('Cancelled 1 invocations');
    const described = await waitFor(
      async () => {
        const d = await describeInvocation(ids.sleeping);
        return /completed with failure/.test(d) && d;
      },
      { what: 'the cancelled invocation to complete' },
    );
    expect(described).toMatch(/Error:\s+\[409\] [Cc]ancelled/);
  });

  it('invocations kill: by target, the lock holder and the queued one; then the waiting state edit applies', async () => {
    const killed = await ok('invocations', 'kill', 'Counter/busy', '--yes');
    expect(killed).toContain('Killed 2 invocations');
    expect(killed).toContain(ids.holder);
    expect(killed).toContain(ids.queued);
    await waitFor(async () => (await ingress('/Counter/busy/get', null)).json === 100, {
      what: 'the state edit to apply once the key was free',
    });
    expect(await describeInvocation(ids.holder)).toMatch(/completed with failure/);
  });

  it('invocations purge: a completed invocation is forgotten', async () => {
    expect(await ok('invocations', 'purge', ids.sleeping, '--yes')).toContain('Purged 1 invocations');
    const gone = await cli(['invocations', 'describe', ids.sleeping]);
    expect(gone.code).not.toBe(0);
    expect(gone.err + gone.out).toContain(`Invocation ${ids.sleeping} not found`);
  });

  it('invocations restart-as-new: runs a completed invocation again with its input', async () => {
    const out = await ok('invocations', 'restart-as-new', ids.echo, '--yes');
    expect(out).toContain('Restarted 1 invocations');
    const fresh = new RegExp(`${ids.echo}\\s+(inv_\\w+)`).exec(out)?.[1] ?? '';
    expect(fresh).toMatch(/^inv_/);
    expect(fresh).not.toBe(ids.echo);
    const res = await fetch(`${server.ingressUrl}/restate/invocation/${fresh}/attach`);
    expect(await res.json()).toBe('hello');
  });

  it('sql: prints the rows of a query as a table', async () => {
    const r = await cli(['sql', `SELECT id, target, status FROM sys_invocation WHERE id = '${ids.echo}'`]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ID\s+TARGET\s+STATUS/);
    expect(r.out).toMatch(new RegExp(`${ids.echo}\\s+Test/echo\\s+completed`));
    expect(r.err).toMatch(/1 rows\. Query took/);
    const bad = await cli(['sql', 'SELECT nope FROM sys_invocation']);
    expect(bad.code).not.toBe(0);
    expect(bad.err + bad.out).toMatch(/nope/);
  });

  it('deployments remove: an active deployment only with --force', async () => {
    const refused = await cli(['deployments', 'remove', deploymentId, '--yes']);
    expect(refused.code).not.toBe(0);
    expect(refused.out + refused.err).toContain('Deployment is still Active');
    expect((await admin('/deployments')).json.deployments).toHaveLength(1);
    const removed = await ok('deployments', 'remove', deploymentId, '--force', '--yes');
    expect(removed).toContain(`Deployment ${deploymentId} removed successfully`);
    expect((await admin('/deployments')).json.deployments).toEqual([]);
    const none = await cli(['services', 'list']);
    expect(none.out + none.err).toContain('No services were found');
  });
});
