import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  authorize,
  hashToken,
  newToken,
  parseScopes,
  parseTokenFile,
  TokenAuthenticator,
  TokenFileError,
  tokenFileEntry,
} from '../src/index.ts';

const READ = 'read-token';
const WRITE = 'write-token';
const file = (entries: unknown[]) => JSON.stringify({ tokens: entries }, null, 2);
const GOOD = file([
  { name: 'reader', hash: hashToken(READ), scopes: ['admin:read'] },
  { name: 'writer', hash: hashToken(WRITE), scopes: ['admin:write', 'ingress:invoke'] },
]);

/** Polls (no library: @stead/testing depends on this package) until `cond` holds or 10 s pass. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('token file', () => {
  test('a valid file gives one entry per token, hashes as bytes', () => {
    const entries = parseTokenFile(GOOD);
    expect(entries.map((e) => [e.name, [...e.scopes]])).toEqual([
      ['reader', ['admin:read']],
      ['writer', ['admin:write', 'ingress:invoke']],
    ]);
    expect(entries[0].hash.toString('hex')).toBe(hashToken(READ).slice(7));
  });

  test('every problem is reported, each naming its entry', () => {
    const text = file([
      { name: 'ok', hash: hashToken('a'), scopes: ['admin:read'] },
      { name: 'plain', hash: 'a-token-in-clear', scopes: ['admin:read'] },
      { name: 'bad-scope', hash: hashToken('b'), scopes: ['admin:all'], extra: 1 },
      { name: 'ok', hash: hashToken('a'), scopes: [] },
      'not an object',
    ]);
    let err: unknown;
    try {
      parseTokenFile(text, 'tokens.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TokenFileError);
    const problems = (err as TokenFileError).problems;
    expect(problems).toEqual([
      expect.stringMatching(/^tokens\[1\] \("plain"\): hash: expected sha256:/),
      'tokens[2] ("bad-scope"): unknown field \'extra\'',
      expect.stringMatching(/^tokens\[2\] \("bad-scope"\): scopes: unknown scope "admin:all"/),
      expect.stringMatching(/^tokens\[3\] \("ok"\): scopes: expected a non-empty list/),
      expect.stringMatching(/^tokens\[4\]: expected an object/),
    ]);
    expect((err as Error).message).toContain('invalid token file tokens.json');
  });

  test('duplicate names and hashes are refused; JSON syntax errors say where', () => {
    expect(() =>
      parseTokenFile(
        file([
          { name: 'a', hash: hashToken('x'), scopes: ['admin:read'] },
          { name: 'a', hash: hashToken('x'), scopes: ['admin:read'] },
        ]),
      ),
    ).toThrow(/tokens\[1\] \("a"\): name already used by tokens\[0\][\s\S]*same hash as tokens\[0\]/);
    expect(() => parseTokenFile('{"tokens": [\n  {"name": "a",}\n]}')).toThrow(/not JSON: .*line 2/);
    expect(() => parseTokenFile('{"tokens": {}, "x": 1}')).toThrow(/unknown field 'x'[\s\S]*tokens: expected a list/);
  });

  test('a created token and its entry make a file that admits the token', () => {
    const token = newToken();
    expect(token).toMatch(/^stead_[A-Za-z0-9_-]{43}$/);
    expect(newToken()).not.toBe(token);
    const entries = parseTokenFile(`{"tokens": [${tokenFileEntry('ci', token, ['ingress:invoke'])}]}`);
    expect(authorize(entries, `Bearer ${token}`, 'ingress:invoke')).toEqual({ ok: true, token: 'ci' });
    expect(parseScopes('admin:read, admin:read,ingress:attach')).toEqual(['admin:read', 'ingress:attach']);
    expect(parseScopes('admin:read,root')).toMatch(/unknown scope\(s\) root/);
  });
});

describe('authorize', () => {
  const entries = parseTokenFile(GOOD);

  test('no header, a malformed one, an unknown token: 401 with a Bearer challenge saying what is wrong', () => {
    for (const [header, why] of [
      [undefined, /missing the header Authorization: Bearer <token>/],
      ['Basic dXNlcjpwdw==', /not of the form: Bearer <token>/],
      ['Bearer', /not of the form/],
      ['Bearer nope', /the bearer token is not valid/],
      [`Bearer ${READ}x`, /the bearer token is not valid/],
    ] as const) {
      const d = authorize(entries, header, 'admin:read');
      expect(d).toMatchObject({ ok: false, status: 401, headers: { 'www-authenticate': 'Bearer' } });
      expect(d.ok === false && d.message).toMatch(why);
    }
  });

  test('a valid token without the scope: 403 naming the scope; with it, admitted; open routes need nothing', () => {
    const d = authorize(entries, `Bearer ${READ}`, 'admin:write');
    expect(d).toEqual({
      ok: false,
      status: 403,
      headers: {},
      message: "the token 'reader' lacks the scope admin:write, which this request requires",
    });
    expect(authorize(entries, `bearer ${WRITE}`, 'admin:write')).toEqual({ ok: true, token: 'writer' });
    expect(authorize(entries, `Bearer ${READ}`, 'any')).toEqual({ ok: true, token: 'reader' });
    expect(authorize(entries, undefined, 'open')).toEqual({ ok: true });
    expect(authorize([], `Bearer ${READ}`, 'any')).toMatchObject({ ok: false, status: 401 });
  });
});

describe('TokenAuthenticator', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stead-tokens-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('follows the file: a new token works without restart, an invalid file keeps the last good tokens', async () => {
    const path = join(dir, 'tokens.json');
    writeFileSync(path, GOOD);
    const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const auth = TokenAuthenticator.open(path, {
      log: (level, msg, fields) => logs.push({ level, msg, fields }),
      pollIntervalMs: 100,
    });
    try {
      expect(auth.authorize(`Bearer ${READ}`, 'admin:read').ok).toBe(true);
      expect(auth.authorize('Bearer later', 'admin:read').ok).toBe(false);

      // Replaced atomically (as an editor, `mv`, or a Secret volume does), with one more token.
      writeFileSync(`${path}.new`, file([{ name: 'later', hash: hashToken('later'), scopes: ['admin:read'] }]));
      renameSync(`${path}.new`, path);
      await until(() => auth.authorize('Bearer later', 'admin:read').ok, 'the new token to be admitted');
      expect(auth.authorize(`Bearer ${READ}`, 'admin:read')).toMatchObject({ ok: false, status: 401 });

      writeFileSync(path, '{"tokens": [{"name": "x"}]}');
      await until(() => logs.some((l) => l.level === 'error'), 'the invalid file to be reported');
      expect(logs.find((l) => l.level === 'error')?.fields?.error).toMatch(/tokens\[0\] \("x"\): hash/);
      expect(auth.authorize('Bearer later', 'admin:read').ok).toBe(true);
      expect(auth.size).toBe(1);
    } finally {
      auth.close();
    }
  });

  test('follows a Kubernetes Secret volume: the ..data symlink swapped to a new directory', async () => {
    // The kubelet's layout: tokens.json -> ..data/tokens.json, ..data -> ..<timestamp>/ (swapped by rename).
    const version = (name: string, text: string) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'tokens.json'), text);
      symlinkSync(name, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    };
    version('..2026_11_27_1', GOOD);
    symlinkSync('..data/tokens.json', join(dir, 'tokens.json'));
    const auth = TokenAuthenticator.open(join(dir, 'tokens.json'), { pollIntervalMs: 60_000 });
    try {
      expect(auth.authorize(`Bearer ${READ}`, 'admin:read').ok).toBe(true);
      version('..2026_11_27_2', file([{ name: 'rotated', hash: hashToken('rotated'), scopes: ['admin:read'] }]));
      // The poll is a minute away: the directory watch alone notices the swap.
      await until(() => auth.authorize('Bearer rotated', 'admin:read').ok, 'the rotated token to be admitted');
      expect(auth.authorize(`Bearer ${READ}`, 'admin:read').ok).toBe(false);
    } finally {
      auth.close();
    }
  });

  test('a file that does not validate at start is refused with its problems', () => {
    const path = join(dir, 'tokens.json');
    writeFileSync(path, file([{ name: 'a', hash: 'sha256:abc', scopes: ['admin:read'] }]));
    expect(() => TokenAuthenticator.open(path)).toThrow(/tokens\[0\] \("a"\): hash: expected sha256:<64/);
    expect(() => TokenAuthenticator.open(join(dir, 'missing.json'))).toThrow(/ENOENT/);
  });
});
