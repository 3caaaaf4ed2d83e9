import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { SchemaError } from './registry.ts';

export interface AdminRequest {
  method: string;
  /** Path without the query string and without an API version prefix (`/v2`). */
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  raw: IncomingMessage;
  /** The body as JSON. 415 unless the content type is JSON, 400 if unparseable, 413 if too large. */
  json(): Promise<unknown>;
  /** The raw body (413 if larger than the server's limit). */
  body(): Promise<Buffer>;
}

export interface AdminReply {
  status: number;
  /** Serialized as JSON with `content-type: application/json`. */
  json?: unknown;
  /** Sent as is (with `content-type` from headers, default text/plain). */
  text?: string;
  headers?: Record<string, string>;
}

export type AdminHandler = (req: AdminRequest) => Promise<AdminReply> | AdminReply;

interface Route {
  method: string;
  segments: string[];
  handler: AdminHandler;
}

export type RouteMatch =
  | { kind: 'found'; handler: AdminHandler; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

function splitPath(path: string): string[] {
  const parts = path.split('/');
  if (parts[0] === '') parts.shift();
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Method + path-pattern router (`/deployments/:deployment`). Extend it with `add` to mount more routes
 * (the invocation lifecycle routes, `/query`, ...).
 */
export class AdminRouter {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: AdminHandler): this {
    this.routes.push({ method: method.toUpperCase(), segments: splitPath(pattern), handler });
    return this;
  }

  get(pattern: string, handler: AdminHandler): this {
    return this.add('GET', pattern, handler);
  }

  post(pattern: string, handler: AdminHandler): this {
    return this.add('POST', pattern, handler);
  }

  patch(pattern: string, handler: AdminHandler): this {
    return this.add('PATCH', pattern, handler);
  }

  delete(pattern: string, handler: AdminHandler): this {
    return this.add('DELETE', pattern, handler);
  }

  match(method: string, path: string): RouteMatch {
    const parts = splitPath(path);
    const allow = new Set<string>();
    const wanted = method === 'HEAD' ? 'GET' : method;
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length; i++) {
        const seg = route.segments[i];
        if (seg.startsWith(':')) {
          const value = decode(parts[i]);
          if (value === '') {
            ok = false;
            break;
          }
          params[seg.slice(1)] = value;
        } else if (seg !== parts[i]) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      if (route.method === wanted) return { kind: 'found', handler: route.handler, params };
      allow.add(route.method);
    }
    if (allow.size > 0) {
      if (allow.has('GET')) allow.add('HEAD');
      return { kind: 'method-not-allowed', allow: [...allow].sort() };
    }
    return { kind: 'not-found' };
  }
}

/** Thrown by handlers for a `{"message", "restate_code"}` answer. */
export { SchemaError as AdminError };

export function errorReply(status: number, message: string, restateCode?: string): AdminReply {
  return { status, json: { message, restate_code: restateCode ?? null } };
}
