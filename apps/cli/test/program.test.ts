import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/program.ts';
import { CLUSTER, LOG } from './fixtures.ts';

/** Runs the command line and collects what it writes. */
async function stead(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** A real HTTP server answering like an admin API with the fixtures; records the paths asked for. */
async function fixtureAdmin(): Promise<{ url: string; paths: string[]; server: Server }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/cluster') reply(200, CLUSTER);
    else if (req.url === '/cluster/logs/partition-1') reply(200, LOG);
    else reply(404, { message: `log '${req.url?.split('/').pop()}' not found`, restate_code: null });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths, server };
}

describe('stead ctl: arguments', () => {
  it('prints the usage with --help and exits 0', async () => {
    const r = await stead('ctl', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/status/);
    expect(r.out).toMatch(/partitions/);
  });

  it('refuses an unknown command or option with a usage error (exit 2)', async () => {
    const cmd = await stead('ctl', 'bogus');
    expect(cmd.code).toBe(2);
    expect(cmd.err).toMatch(/unknown command 'bogus'/);
    const opt = await stead('ctl', 'status', '--bogus');
    expect(opt.code).toBe(2);
    expect(opt.err).toMatch(/unknown option '--bogus'/);
    const missing = await stead('ctl', 'logs', 'describe');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/missing required argument 'log'/);
  });

  it('refuses an --address that is not an http(s) URL', async () => {
    const r = await stead('ctl', 'status', '--address', 'localhost:9070');
    expect(r).toEqual({ code: 1, out: '', err: 'stead: --address localhost:9070: expected an http(s):// URL\n' });
  });

  it('names the address and the cause in one line when nothing listens there (exit 1)', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.close();
    await once(server, 'close');
    const r = await stead('ctl', 'nodes', 'list', '--address', url);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(`stead: cannot reach the admin API at ${url}: connect ECONNREFUSED ${url.slice(7)}\n`);
  });
});

describe('stead ctl: against an HTTP server answering with fixtures', () => {
  let admin: Awaited<ReturnType<typeof fixtureAdmin>>;

  beforeAll(async () => {
    admin = await fixtureAdmin();
  });

  afterAll(async () => {
    admin.server.close();
    await once(admin.server, 'close');
  });

  it('--json prints the admin API answer as it came', async () => {
    const r = await stead('ctl', 'partitions', 'list', '--json', '--address', admin.url);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(CLUSTER);
  });

  it('logs describe <partition> finds the partition log in GET /cluster, then reads its chain', async () => {
    admin.paths.length = 0;
    const r = await stead('ctl', 'logs', 'describe', '1', '--address', admin.url);
    expect(r.code).toBe(0);
    expect(admin.paths).toEqual(['/cluster', '/cluster/logs/partition-1']);
    expect(r.out).toMatch(/^1 +40 +partition-1\.1 +w1 +bbbb +l1,l3 +\{node: 2\} +open$/m);
  });

  it('logs describe of an unknown log or partition: one line with the answer, exit 1', async () => {
    const log = await stead('ctl', 'logs', 'describe', 'nope', '--address', admin.url);
    expect(log.code).toBe(1);
    expect(log.err).toBe(
      `stead: the admin API at ${admin.url} answered 404 to GET /cluster/logs/nope: log 'nope' not found\n`,
    );
    const partition = await stead('ctl', 'logs', 'describe', '9', '--address', admin.url);
    expect(partition.code).toBe(1);
    expect(partition.err).toBe('stead: no partition 9: the cluster has 2 partition logs\n');
  });
});

describe('stead request-identity public-key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stead-cli-identity-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints publickeyv1_ + base58 of the raw public key of an openssl Ed25519 key', async () => {
    const file = join(dir, 'key.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', file]);
    const raw = execFileSync('openssl', ['pkey', '-in', file, '-pubout', '-outform', 'DER']).subarray(-32);
    const r = await stead('request-identity', 'public-key', '--file', file);
    expect(r.code).toBe(0);
    const id = r.out.trim();
    expect(id).toMatch(/^publickeyv1_[1-9A-HJ-NP-Za-km-z]+$/);
    // Decoded with this test's own base58: the id names exactly that key.
    let n = 0n;
    for (const c of id.slice('publickeyv1_'.length))
      n = n * 58n + BigInt('123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'.indexOf(c));
    expect(n.toString(16).padStart(64, '0')).toBe(raw.toString('hex'));
  });

  it('fails with a message naming the file when it holds no Ed25519 key', async () => {
    const file = join(dir, 'missing.pem');
    const r = await stead('request-identity', 'public-key', '--file', file);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot read the request identity key file ${file}: ENOENT`);
  });
});
