import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authorize, parseTokenFile } from '@stead/core';
import { run } from '../src/program.ts';
import { CLUSTER } from './fixtures.ts';

async function stead(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('stead auth token create', () => {
  it('prints a new token once and the token-file entry that admits it with the scopes asked for', async () => {
    const r = await stead('auth', 'token', 'create', '--name', 'ci', '--scopes', 'admin:read,admin:write');
    expect(r.code).toBe(0);
    const [, token] = /shown once[^\n]*\n(\S+)\n/.exec(r.out) ?? [];
    const [, entry] = /entry to add[^\n]*\n(\{.*\})\n/.exec(r.out) ?? [];
    expect(token).toMatch(/^stead_/);
    expect(entry).not.toContain(token);
    const entries = parseTokenFile(`{"tokens": [${entry}]}`);
    expect(authorize(entries, `Bearer ${token}`, 'admin:write')).toEqual({ ok: true, token: 'ci' });
    expect(authorize(entries, `Bearer ${token}`, 'ingress:invoke')).toMatchObject({ ok: false, status: 403 });

    const json = await stead('auth', 'token', 'create', '--name', 'app', '--scopes', 'ingress:invoke', '--json');
    const made = JSON.parse(json.out) as { token: string; entry: { name: string; scopes: string[] } };
    expect(made.entry).toMatchObject({ name: 'app', scopes: ['ingress:invoke'] });
    expect(made.token).not.toBe(token);
  });

  it('refuses unknown scopes and bad names with a usage error', async () => {
    const scope = await stead('auth', 'token', 'create', '--name', 'ci', '--scopes', 'admin:all');
    expect(scope.code).toBe(2);
    expect(scope.err).toMatch(/unknown scope\(s\) admin:all/);
    const name = await stead('auth', 'token', 'create', '--name', 'has space', '--scopes', 'admin:read');
    expect(name.code).toBe(2);
    expect(name.err).toMatch(/--name: expected/);
  });
});

describe('stead ctl with a token', () => {
  it('sends --token (or RESTATE_AUTH_TOKEN) as Authorization: Bearer, and shows a 401 message', async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      const ok = req.headers.authorization === 'Bearer good';
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? CLUSTER : { message: 'authentication required: missing the header' }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const saved = process.env.RESTATE_AUTH_TOKEN;
    try {
      expect((await stead('ctl', 'status', '--address', url, '--token', 'good')).code).toBe(0);
      process.env.RESTATE_AUTH_TOKEN = 'good';
      expect((await stead('ctl', 'status', '--address', url)).code).toBe(0);
      delete process.env.RESTATE_AUTH_TOKEN;
      const refused = await stead('ctl', 'status', '--address', url);
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(/answered 401 to GET \/cluster: authentication required/);
      expect(seen).toEqual(['Bearer good', 'Bearer good', undefined]);
    } finally {
      if (saved === undefined) delete process.env.RESTATE_AUTH_TOKEN;
      else process.env.RESTATE_AUTH_TOKEN = saved;
      server.close();
    }
  });
});
