/**
 * The web UI's files under `/ui`: a built single-page app (apps/ui/dist) served read-only. Files named by a
 * content hash (`/ui/assets/…`) are cached for a year; `index.html` is revalidated on every load so that a new
 * build is picked up. A path that names no file and has no extension is a client route: it gets `index.html`.
 */
import { readFile, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import type { AnyResponse } from '@stead/core';

/** The path prefix the UI is served under (the UI is built with this base). */
export const UI_PREFIX = '/ui';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Hashed build output never changes under its name; everything else is revalidated. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/**
 * The page runs only its own scripts and styles and talks only to this origin (the admin API); it may not be
 * framed (the action buttons must not be clickjacked).
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Whether `pathname` (the request's, undecoded) is the UI's: `/ui`, `/ui/` or below. */
export function isUiPath(pathname: string): boolean {
  return pathname === UI_PREFIX || pathname.startsWith(`${UI_PREFIX}/`);
}

interface UiFile {
  path: string;
  cacheControl: string;
}

/**
 * The file that answers `pathname` under `dir`, or undefined for a 404. Refuses anything that would leave `dir`
 * (`..`, encoded slashes or NULs), and dot files.
 */
async function locate(dir: string, pathname: string): Promise<UiFile | undefined> {
  let rel: string;
  try {
    rel = decodeURIComponent(pathname.slice(UI_PREFIX.length));
  } catch {
    return undefined;
  }
  if (rel.includes('\0') || rel.includes('\\')) return undefined;
  const parts = rel.split('/').filter((p) => p !== '');
  if (parts.some((p) => p.startsWith('.'))) return undefined;
  const root = resolve(dir);
  const index = { path: resolve(root, 'index.html'), cacheControl: REVALIDATE };
  if (parts.length === 0) return index;
  const path = resolve(root, ...parts);
  if (!path.startsWith(root + sep)) return undefined;
  const info = await stat(path).catch(() => undefined);
  if (info?.isFile()) {
    return { path, cacheControl: parts[0] === 'assets' ? IMMUTABLE : REVALIDATE };
  }
  // A client route (/ui/invocations/inv_1…) has no extension; a missing asset or file is a 404.
  if (parts[0] === 'assets' || extname(parts[parts.length - 1]) !== '') return undefined;
  return index;
}

function sendPlain(res: AnyResponse, status: number, message: string, extra: Record<string, string> = {}): void {
  const body = `${message}\n`;
  (res as ServerResponse).writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    ...extra,
  });
  (res as ServerResponse).end(body);
}

/** Answers a GET or HEAD under `/ui` from the built UI in `dir` (404 when no file answers, 405 for other methods). */
export async function serveUi(dir: string, method: string, pathname: string, res: AnyResponse): Promise<void> {
  if (method !== 'GET' && method !== 'HEAD') {
    sendPlain(res, 405, `method ${method} not allowed on the web UI`, { allow: 'GET, HEAD' });
    return;
  }
  const file = await locate(dir, pathname);
  const body = file && (await readFile(file.path).catch(() => undefined));
  if (file === undefined || body === undefined) {
    const missing = file?.path.endsWith('index.html');
    sendPlain(res, 404, missing ? `the web UI is not built (no ${file?.path})` : `no such file: ${pathname}`);
    return;
  }
  (res as ServerResponse).writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file.path)] ?? 'application/octet-stream',
    'content-length': String(body.length),
    'cache-control': file.cacheControl,
    ...SECURITY_HEADERS,
  });
  (res as ServerResponse).end(method === 'HEAD' ? undefined : body);
}
