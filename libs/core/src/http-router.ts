/**
 * The one HTTP router of the admin API and the ingress: method + path pattern (`/deployments/:deployment`),
 * routes tried in the order they were added, the first whose path and method match wins. It only matches;
 * each server turns a miss into its own 404/405 answer.
 */

export type RouteMatch<H> =
  | { kind: 'found'; handler: H; params: Record<string, string> }
  /** The path matched routes of other methods only; `allow` lists them (with HEAD when GET is there). */
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

export interface HttpRouterOptions {
  /**
   * Whether a `:param` segment may match an empty segment (`/a//b`). The admin API refuses (404), the
   * ingress lets its handlers answer.
   */
  allowEmptyParams?: boolean;
}

interface Route<H> {
  method: string;
  segments: string[];
  handler: H;
}

/** The segments of a path: `/a/b/` → `['a', 'b']` (empty inner segments stay). */
export function splitPath(path: string): string[] {
  const parts = path.split('/');
  if (parts[0] === '') parts.shift();
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** A percent-decoded path segment, or the segment as is when it does not decode. */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export class HttpRouter<H> {
  private readonly routes: Route<H>[] = [];
  private readonly allowEmptyParams: boolean;

  constructor(opts: HttpRouterOptions = {}) {
    this.allowEmptyParams = opts.allowEmptyParams === true;
  }

  add(method: string, pattern: string, handler: H): this {
    this.routes.push({ method: method.toUpperCase(), segments: splitPath(pattern), handler });
    return this;
  }

  get(pattern: string, handler: H): this {
    return this.add('GET', pattern, handler);
  }

  post(pattern: string, handler: H): this {
    return this.add('POST', pattern, handler);
  }

  patch(pattern: string, handler: H): this {
    return this.add('PATCH', pattern, handler);
  }

  delete(pattern: string, handler: H): this {
    return this.add('DELETE', pattern, handler);
  }

  /** The routes added so far, in order: method and pattern (`/deployments/:deployment`). */
  list(): { method: string; pattern: string }[] {
    return this.routes.map((r) => ({ method: r.method, pattern: `/${r.segments.join('/')}` }));
  }

  /** HEAD matches GET routes. */
  match(method: string, path: string): RouteMatch<H> {
    const parts = splitPath(path);
    const allow = new Set<string>();
    for (const route of this.routes) {
      const params = this.params(route.segments, parts);
      if (params === undefined) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
        return { kind: 'found', handler: route.handler, params };
      }
      allow.add(route.method);
    }
    if (allow.size === 0) return { kind: 'not-found' };
    if (allow.has('GET')) allow.add('HEAD');
    return { kind: 'method-not-allowed', allow: [...allow].sort() };
  }

  /** The `:name` values when `parts` fits `segments`, else undefined. */
  private params(segments: string[], parts: string[]): Record<string, string> | undefined {
    if (segments.length !== parts.length) return undefined;
    const params: Record<string, string> = {};
    for (let i = 0; i < parts.length; i++) {
      const seg = segments[i];
      if (!seg.startsWith(':')) {
        if (seg !== parts[i]) return undefined;
        continue;
      }
      const value = decodePathSegment(parts[i]);
      if (value === '' && !this.allowEmptyParams) return undefined;
      params[seg.slice(1)] = value;
    }
    return params;
  }
}
