/**
 * CORS of the HTTP surfaces (ingress, admin): which browser origins may read answers, and whether with
 * credentials. An arbitrary origin is never reflected together with `access-control-allow-credentials`:
 *
 * - `*`: any origin, answered with `access-control-allow-origin: *` and never with credentials;
 * - a comma-separated list of origins (`https://app.example.com,http://localhost:3000`): a listed origin is
 *   echoed (with `vary: origin`), with credentials only when `allowCredentials` is set; others get no CORS
 *   headers, so the browser refuses them;
 * - `none`: no CORS headers at all (same-origin use only).
 */
export type CorsPolicy =
  | { kind: 'none' }
  | { kind: 'any' }
  | { kind: 'list'; origins: ReadonlySet<string>; allowCredentials: boolean };

export const CORS_ANY: CorsPolicy = { kind: 'any' };
export const CORS_NONE: CorsPolicy = { kind: 'none' };

/** `scheme://host[:port]` in lower case, without a default port; undefined when `text` is not an origin. */
function normalizeOrigin(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.origin === 'null' || url.username !== '' || url.password !== '') return undefined;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') return undefined;
  return url.origin.toLowerCase();
}

/** Parses a `--cors-allowed-origins` value; `{error}` names what is wrong. */
export function parseCorsOrigins(text: string, allowCredentials = false): CorsPolicy | { error: string } {
  const t = text.trim();
  if (t.toLowerCase() === 'none') return CORS_NONE;
  if (t === '*') return CORS_ANY;
  const origins = new Set<string>();
  for (const raw of t.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (entry === '*') return { error: "'*' cannot be combined with a list of origins" };
    const origin = normalizeOrigin(entry);
    if (origin === undefined) {
      return { error: `'${entry}' is not an origin (expected scheme://host[:port], e.g. https://app.example.com)` };
    }
    origins.add(origin);
  }
  if (origins.size === 0) return { error: "expected '*', 'none' or a comma-separated list of origins" };
  return { kind: 'list', origins, allowCredentials };
}

/** The problem with a `--cors-allowed-origins` value, for settings validation. */
export function corsOriginsProblem(text: string): string | undefined {
  const p = parseCorsOrigins(text);
  return 'error' in p ? p.error : undefined;
}

export interface CorsRequest {
  /** The `origin` request header. */
  origin?: string;
  /** For a preflight (`OPTIONS`): `access-control-request-method` and `-headers`. */
  requestMethod?: string;
  requestHeaders?: string;
}

const PREFLIGHT_MAX_AGE_S = '600';
const TOKEN_LIST = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(\s*,\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;

/** The CORS response headers for a request (a preflight when `requestMethod` is set). */
export function corsHeaders(policy: CorsPolicy, req: CorsRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  if (policy.kind === 'none') return headers;
  if (policy.kind === 'any') {
    headers['access-control-allow-origin'] = '*';
  } else {
    headers.vary = 'origin';
    const origin = req.origin === undefined ? undefined : normalizeOrigin(req.origin);
    if (origin === undefined || !policy.origins.has(origin)) return headers;
    headers['access-control-allow-origin'] = req.origin as string;
    if (policy.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  }
  if (req.requestMethod !== undefined) {
    headers['access-control-allow-methods'] = TOKEN_LIST.test(req.requestMethod)
      ? req.requestMethod
      : 'GET, POST, PUT, PATCH, DELETE';
    if (req.requestHeaders !== undefined && TOKEN_LIST.test(req.requestHeaders.trim())) {
      headers['access-control-allow-headers'] = req.requestHeaders.trim();
    }
    headers['access-control-max-age'] = PREFLIGHT_MAX_AGE_S;
  }
  return headers;
}

/** A policy from a value that settings validation already accepted (throws on a bad one). */
export function corsPolicy(text: string, allowCredentials = false): CorsPolicy {
  const p = parseCorsOrigins(text, allowCredentials);
  if ('error' in p) throw new Error(`bad CORS origins '${text}': ${p.error}`);
  return p;
}
