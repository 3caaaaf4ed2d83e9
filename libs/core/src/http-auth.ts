/**
 * Bearer-token authentication of the HTTP surfaces (admin API, ingress). Tokens live in a JSON file, each stored
 * as the SHA-256 of the token (never the token itself), with a name and the scopes it grants:
 *
 *     {"tokens": [{"name": "ci", "hash": "sha256:<64 hex>", "scopes": ["admin:read", "admin:write"]}]}
 *
 * The file is read again when it changes; a file that turns invalid leaves the last good tokens in force.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type FileWatch, watchFiles } from './file-watch.ts';

export const AUTH_SCOPES = ['admin:read', 'admin:write', 'ingress:invoke', 'ingress:attach'] as const;
export type AuthScope = (typeof AUTH_SCOPES)[number];
/** What a route requires: a scope, or nothing at all (`open`: health, version). */
export type RouteScope = AuthScope | 'open';

export interface TokenEntry {
  name: string;
  /** SHA-256 of the token (32 bytes). */
  hash: Buffer;
  scopes: ReadonlySet<AuthScope>;
}

/** A token file that does not validate: every problem found, one a line. */
export class TokenFileError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid token file ${source}:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

const HASH = /^sha256:[0-9a-f]{64}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const ENTRY_KEYS = new Set(['name', 'hash', 'scopes']);

/** `sha256:<hex>` of a token: what the token file stores. */
export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** A new random token (256 bits, base64url), prefixed so that secret scanners can spot a leaked one. */
export function newToken(): string {
  return `stead_${randomBytes(32).toString('base64url')}`;
}

/** The file entry (one element of `tokens`) for a token. */
export function tokenFileEntry(name: string, token: string, scopes: readonly AuthScope[]): string {
  return JSON.stringify({ name, hash: hashToken(token), scopes });
}

/** Problems of a scopes list given on a command line (`admin:read,admin:write`), or the scopes. */
export function parseScopes(text: string): AuthScope[] | string {
  const scopes = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (scopes.length === 0) return `no scope given; expected some of ${AUTH_SCOPES.join(', ')}`;
  const unknown = scopes.filter((s) => !(AUTH_SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) return `unknown scope(s) ${unknown.join(', ')}; expected some of ${AUTH_SCOPES.join(', ')}`;
  return [...new Set(scopes)] as AuthScope[];
}

function entryProblems(raw: unknown, where: string, problems: string[]): TokenEntry | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${where}: expected an object {"name", "hash", "scopes"}`);
    return undefined;
  }
  const e = raw as Record<string, unknown>;
  const label = typeof e.name === 'string' ? `${where} ("${e.name}")` : where;
  const before = problems.length;
  for (const key of Object.keys(e)) if (!ENTRY_KEYS.has(key)) problems.push(`${label}: unknown field '${key}'`);
  if (typeof e.name !== 'string' || !NAME.test(e.name))
    problems.push(`${label}: name: expected 1-128 letters, digits, '.', '_', '@' or '-'`);
  if (typeof e.hash !== 'string' || !HASH.test(e.hash))
    problems.push(
      `${label}: hash: expected sha256:<64 lower-case hex digits> (the hash of the token, never the token itself; see 'stead auth token create')`,
    );
  if (!Array.isArray(e.scopes) || e.scopes.length === 0) {
    problems.push(`${label}: scopes: expected a non-empty list of ${AUTH_SCOPES.join(', ')}`);
  } else {
    for (const s of e.scopes)
      if (!(AUTH_SCOPES as readonly unknown[]).includes(s))
        problems.push(
          `${label}: scopes: unknown scope ${JSON.stringify(s)}; expected one of ${AUTH_SCOPES.join(', ')}`,
        );
  }
  if (problems.length > before) return undefined;
  return {
    name: e.name as string,
    hash: Buffer.from((e.hash as string).slice('sha256:'.length), 'hex'),
    scopes: new Set(e.scopes as AuthScope[]),
  };
}

/** Parses and validates a token file; throws TokenFileError listing every problem (entry by entry). */
export function parseTokenFile(text: string, source = 'token file'): TokenEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TokenFileError(source, [`not JSON: ${(err as Error).message}`]);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new TokenFileError(source, ['expected an object {"tokens": [...]}']);
  }
  const problems: string[] = [];
  for (const key of Object.keys(doc)) if (key !== 'tokens') problems.push(`unknown field '${key}'`);
  const list = (doc as { tokens?: unknown }).tokens;
  if (!Array.isArray(list)) throw new TokenFileError(source, [...problems, 'tokens: expected a list']);
  const entries: TokenEntry[] = [];
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  list.forEach((raw, i) => {
    const entry = entryProblems(raw, `tokens[${i}]`, problems);
    if (entry === undefined) return;
    const hex = entry.hash.toString('hex');
    if (names.has(entry.name))
      problems.push(`tokens[${i}] ("${entry.name}"): name already used by tokens[${names.get(entry.name)}]`);
    if (hashes.has(hex))
      problems.push(`tokens[${i}] ("${entry.name}"): same hash as tokens[${hashes.get(hex)}] (one token, one entry)`);
    names.set(entry.name, i);
    hashes.set(hex, i);
    entries.push(entry);
  });
  if (problems.length > 0) throw new TokenFileError(source, problems);
  return entries;
}

/** The outcome of checking a request's credentials against what its route requires. */
export type AuthDecision =
  | { ok: true; token?: string }
  | { ok: false; status: 401 | 403; message: string; headers: Record<string, string> };

const CHALLENGE = { 'www-authenticate': 'Bearer' };

function refuse(status: 401 | 403, message: string): AuthDecision {
  return { ok: false, status, message, headers: status === 401 ? CHALLENGE : {} };
}

/** The token of an `Authorization: Bearer <token>` header, or why there is none. */
function bearerToken(header: string | string[] | undefined): string | { problem: string } {
  if (header === undefined || header === '') return { problem: 'missing the header Authorization: Bearer <token>' };
  if (Array.isArray(header)) return { problem: 'more than one Authorization header' };
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (m === null) return { problem: 'the Authorization header is not of the form: Bearer <token>' };
  return m[1];
}

/** The entry whose hash is the token's: every entry is compared, in constant time, whatever matches. */
function findToken(entries: readonly TokenEntry[], token: string): TokenEntry | undefined {
  const digest = createHash('sha256').update(token, 'utf8').digest();
  let found: TokenEntry | undefined;
  for (const e of entries) if (timingSafeEqual(e.hash, digest) && found === undefined) found = e;
  return found;
}

/** Decides a request against a set of tokens (pure: the tests and the servers share it). */
export function authorize(
  entries: readonly TokenEntry[],
  authorization: string | string[] | undefined,
  required: RouteScope | 'any',
): AuthDecision {
  if (required === 'open') return { ok: true };
  const token = bearerToken(authorization);
  if (typeof token !== 'string') return refuse(401, `authentication required: ${token.problem}`);
  const entry = findToken(entries, token);
  if (entry === undefined) return refuse(401, 'authentication failed: the bearer token is not valid');
  if (required !== 'any' && !entry.scopes.has(required)) {
    return refuse(403, `the token '${entry.name}' lacks the scope ${required}, which this request requires`);
  }
  return { ok: true, token: entry.name };
}

/** What the HTTP servers need of a TokenAuthenticator (tests may give a stand-in). */
export interface Authenticator {
  authorize(authorization: string | string[] | undefined, required: RouteScope | 'any'): AuthDecision;
}

export interface TokenAuthenticatorOptions {
  /** Told when the file was reloaded, or did not validate (the previous tokens stay in force). */
  log?: (level: 'info' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Period of the stat fallback of the file watch (default 10 s). */
  pollIntervalMs?: number;
}

/** The tokens of a token file, kept current while the file changes. */
export class TokenAuthenticator implements Authenticator {
  readonly file: string;
  private entries: readonly TokenEntry[];
  private readonly watch: FileWatch;

  private constructor(file: string, entries: TokenEntry[], opts: TokenAuthenticatorOptions) {
    this.file = file;
    this.entries = entries;
    this.watch = watchFiles([file], () => this.reload(opts.log), { pollIntervalMs: opts.pollIntervalMs });
  }

  /** Reads `file` (throws TokenFileError, or the read error, when it is unusable) and follows its changes. */
  static open(file: string, opts: TokenAuthenticatorOptions = {}): TokenAuthenticator {
    return new TokenAuthenticator(file, parseTokenFile(readFileSync(file, 'utf8'), file), opts);
  }

  /** How many tokens are in force. */
  get size(): number {
    return this.entries.length;
  }

  authorize(authorization: string | string[] | undefined, required: RouteScope | 'any'): AuthDecision {
    return authorize(this.entries, authorization, required);
  }

  private reload(log: TokenAuthenticatorOptions['log']): void {
    try {
      this.entries = parseTokenFile(readFileSync(this.file, 'utf8'), this.file);
      log?.('info', 'token file reloaded', { file: this.file, tokens: this.entries.length });
    } catch (err) {
      log?.('error', 'token file not reloaded: the previous tokens stay in force', {
        file: this.file,
        error: (err as Error).message,
      });
    }
  }

  close(): void {
    this.watch.close();
  }
}
