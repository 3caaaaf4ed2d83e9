/**
 * Issue 17: bearer tokens with scopes on the admin API and the ingress of a running Stead (one-process server, or
 * a cluster with STEAD_E2E_TOPOLOGY=cluster), tokens made by `stead auth token create`; the real `restate` CLI
 * works with RESTATE_AUTH_TOKEN and fails without it; headers that are never journaled do not reach the handler
 * nor the bytes on disk.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { Cleanup, NODE, REPO, ServiceProcess, type SteadUnderTest, startStead, TOPOLOGY } from '@stead/testing';

const HEADERS_SERVICE = new URL('../services/headers.ts', import.meta.url).pathname;
const RESTATE = createRequire(import.meta.url).resolve(`@restatedev/restate-${platform()}-${arch()}/bin/restate`);

interface Run {
  code: number;
  out: string;
  err: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 30_000 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err });
    });
  });
}

/** `stead auth token create`: the token and its token-file entry. */
async function createToken(name: string, scopes: string): Promise<{ token: string; entry: unknown }> {
  const r = await run(
    NODE,
    [
      '--disable-warning=ExperimentalWarning',
      join(REPO, 'apps/cli/src/main.ts'),
      'auth',
      'token',
      'create',
      '--name',
      name,
      '--scopes',
      scopes,
      '--json',
    ],
    { PATH: process.env.PATH },
  );
  if (r.code !== 0) throw new Error(`stead auth token create failed: ${r.err}`);
  return JSON.parse(r.out);
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f, { throwIfNoEntry: false })?.isFile());
}

describe(`bearer tokens and unjournaled headers (${TOPOLOGY})`, () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let svc: ServiceProcess;
  let home: string;
  /** Where the partition stores and logs are: the server's data dir, or the cluster's directory. */
  let dataRoot: string;
  const tokens: Record<'admin' | 'reader' | 'client', string> = { admin: '', reader: '', client: '' };

  const restate = (args: string[], token: string | undefined): Promise<Run> =>
    run(RESTATE, args, {
      PATH: process.env.PATH,
      HOME: home,
      RESTATE_CLI_CONFIG_HOME: join(home, 'config'),
      RESTATE_ADMIN_URL: server.adminUrl,
      RESTATE_INGRESS_URL: server.ingressUrl,
      NO_COLOR: '1',
      ...(token === undefined ? {} : { RESTATE_AUTH_TOKEN: token }),
    });

  beforeAll(async () => {
    home = cleanup.tempDir('restate-cli-home-');
    const made = {
      admin: await createToken('operator', 'admin:read,admin:write'),
      reader: await createToken('dashboard', 'admin:read'),
      client: await createToken('app', 'ingress:invoke,ingress:attach'),
    };
    for (const k of Object.keys(made) as (keyof typeof made)[]) tokens[k] = made[k].token;
    const file = join(cleanup.tempDir('stead-tokens-'), 'tokens.json');
    writeFileSync(file, JSON.stringify({ tokens: Object.values(made).map((m) => m.entry) }, null, 2));
    server = await startStead(cleanup, ['--auth-tokens-file', file]);
    dataRoot = server.server?.dataDir ?? server.cluster?.dir ?? '';
    svc = await ServiceProcess.start(cleanup, HEADERS_SERVICE);
  });
  afterAll(() => cleanup.run());

  it('without a token the CLI fails with the 401 message; a read-only token cannot register (403)', async () => {
    const anonymous = await restate(['services', 'list'], undefined);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.out + anonymous.err).toMatch(/authentication required: missing the header Authorization/);
    const denied = await restate(['deployments', 'register', svc.uri, '--yes'], tokens.reader);
    expect(denied.code).not.toBe(0);
    expect(denied.out + denied.err).toMatch(/lacks the scope admin:write/);
    const list = await fetch(`${server.adminUrl}/deployments`, {
      headers: { authorization: `Bearer ${tokens.reader}` },
    });
    expect(await list.json()).toEqual({ deployments: [] });
  });

  it('with an admin token the CLI registers the deployment; a read token lists the services', async () => {
    const reg = await restate(['deployments', 'register', svc.uri, '--yes'], tokens.admin);
    expect(reg.err).toBe('');
    expect(reg.code).toBe(0);
    expect(reg.out).toMatch(/- Headers/);
    const services = await restate(['services', 'list'], tokens.reader);
    expect(services.code).toBe(0);
    expect(services.out).toMatch(/\[public\]\s+Headers\s+1\s+HTTP\s+dp_/);
  });

  it('the ingress needs ingress:invoke; authorization and cookie never reach the handler nor the disk', async () => {
    const body = JSON.stringify(null);
    const json = { 'content-type': 'application/json' };
    const anonymous = await fetch(`${server.ingressUrl}/Headers/seen`, { method: 'POST', headers: json, body });
    expect([anonymous.status, anonymous.headers.get('www-authenticate')]).toEqual([401, 'Bearer']);
    const wrongScope = await fetch(`${server.ingressUrl}/Headers/seen`, {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${tokens.admin}` },
      body,
    });
    expect(wrongScope.status).toBe(403);
    expect(((await wrongScope.json()) as { message: string }).message).toMatch(/lacks the scope ingress:invoke/);

    const res = await fetch(`${server.ingressUrl}/Headers/seen`, {
      method: 'POST',
      headers: {
        ...json,
        authorization: `Bearer ${tokens.client}`,
        cookie: 'session=cookie-secret-4711',
        'x-keep': 'kept-value-0815',
      },
      body,
    });
    expect(res.status).toBe(200);
    const seen = (await res.json()) as Record<string, string>;
    expect(seen['x-keep']).toBe('kept-value-0815');
    expect(Object.keys(seen).filter((h) => h === 'authorization' || h === 'cookie')).toEqual([]);
    expect(JSON.stringify(seen)).not.toMatch(/cookie-secret|stead_/);

    // The journal, the status and the log records: the kept header is on disk (so the search looks where they
    // are), the secret values are not.
    const inFiles = (needle: string) =>
      filesUnder(dataRoot).filter((f) => readFileSync(f).includes(Buffer.from(needle)));
    expect(inFiles('kept-value-0815').length).toBeGreaterThan(0);
    expect(inFiles('cookie-secret-4711')).toEqual([]);
    expect(inFiles(tokens.client)).toEqual([]);
  });

  it('invocations list and sql work with a read token', async () => {
    const invocations = await restate(['invocations', 'list', '--all'], tokens.reader);
    expect(invocations.code).toBe(0);
    expect(invocations.out).toMatch(/Headers\/seen/);
    const sql = await restate(['sql', 'SELECT target FROM sys_invocation'], tokens.reader);
    expect(sql.code).toBe(0);
    expect(sql.out).toMatch(/Headers\/seen/);
    const anonymous = await restate(['sql', 'SELECT 1'], undefined);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.out + anonymous.err).toMatch(/authentication required/);
  });
});
