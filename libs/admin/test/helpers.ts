import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { DiscoveredEndpoint, DiscoveredService, DiscoverFn } from '../src/index.ts';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/** A body as JSON, or undefined when it is empty or not JSON. */
export function jsonOf(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function request(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: jsonOf(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function postJson(port: number, path: string, body: unknown): Promise<HttpResult> {
  return request(port, {
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** An HTTP/2 server on a free loopback port; `close()` ends it and its sessions. */
export async function h2Server(
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const server = http2.createServer(handler);
  const sessions = new Set<http2.Http2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

class TestDiscoveryError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * A small manifest fetcher for these tests, used until `discover` of @stead/invoker exists (the test
 * prefers the real one when it is exported).
 */
export const testDiscover: DiscoverFn = (uri, opts) =>
  new Promise<DiscoveredEndpoint>((resolve, reject) => {
    const base = new URL(uri);
    const session = http2.connect(base.origin);
    const fail = (status: number, message: string) => {
      session.destroy();
      reject(new TestDiscoveryError(status, message));
    };
    session.on('error', (err) => fail(503, `[META0003] error when calling '${uri}': ${err.message}`));
    const path = `${base.pathname.replace(/\/$/, '')}/discover`;
    const stream = session.request({
      ':method': 'GET',
      ':path': path,
      accept: 'application/vnd.restate.endpointmanifest.v4+json, application/vnd.restate.endpointmanifest.v3+json',
      ...(opts.headers ?? {}),
    });
    stream.setTimeout(opts.timeoutMs ?? 5000, () => fail(503, `[META0003] discovery of '${uri}' timed out`));
    let status = 0;
    let contentType = '';
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      contentType = String(h['content-type'] ?? '');
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err) => fail(503, `[META0003] error when calling '${uri}': ${err.message}`));
    stream.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (status !== 200)
        return fail(status >= 500 ? 503 : 400, `[META0003] got status code '${status}' from '${uri}'. Body: ${text}`);
      let m: any;
      try {
        m = JSON.parse(text);
      } catch (err) {
        return fail(400, `bad endpoint manifest: ${(err as Error).message}`);
      }
      session.close();
      const version = Number(/endpointmanifest\.v(\d+)/.exec(contentType)?.[1] ?? 0);
      const services: DiscoveredService[] = (m.services ?? []).map((s: any) => ({
        name: s.name,
        ty: s.ty,
        public: s.ingressPrivate !== true,
        documentation: s.documentation,
        metadata: s.metadata,
        handlers: (s.handlers ?? []).map((h: any) => ({
          name: h.name,
          ty: h.ty,
          input: h.input,
          output: h.output,
          public: h.ingressPrivate !== true,
          documentation: h.documentation,
          metadata: h.metadata,
        })),
      }));
      resolve({
        services,
        minProtocolVersion: m.minProtocolVersion,
        maxProtocolVersion: m.maxProtocolVersion,
        protocolMode: m.protocolMode,
        manifestVersion: version,
        sdkVersion: undefined,
      });
    });
    stream.end();
  });

/** `discover` from @stead/invoker when it exists, else the test fetcher. */
export async function pickDiscover(): Promise<{ discover: DiscoverFn; real: boolean }> {
  const mod = (await import('@stead/invoker')) as Record<string, unknown>;
  if (typeof mod.discover === 'function') return { discover: mod.discover as DiscoverFn, real: true };
  return { discover: testDiscover, real: false };
}

/** A scripted discover function for registry unit tests; counts calls. */
export class ScriptedDiscover {
  calls: string[] = [];
  manifests = new Map<string, DiscoveredEndpoint | Error>();
  readonly fn: DiscoverFn = async (uri) => {
    this.calls.push(uri);
    const m = this.manifests.get(uri);
    if (m === undefined) throw Object.assign(new Error(`[META0003] cannot reach ${uri}`), { status: 503 });
    if (m instanceof Error) throw m;
    return structuredClone(m);
  };

  set(uri: string, services: DiscoveredService[], extra: Partial<DiscoveredEndpoint> = {}): void {
    this.manifests.set(uri, {
      services,
      minProtocolVersion: 5,
      maxProtocolVersion: 7,
      protocolMode: 'BIDI_STREAM',
      manifestVersion: 3,
      ...extra,
    });
  }
}

export const svc = (
  name: string,
  ty: DiscoveredService['ty'] = 'SERVICE',
  handlers = ['greet'],
): DiscoveredService => ({
  name,
  ty,
  handlers: handlers.map((h) => ({
    name: h,
    ...(ty === 'SERVICE' ? {} : { ty: ty === 'WORKFLOW' && h === 'run' ? 'WORKFLOW' : 'EXCLUSIVE' }),
    input: { contentType: 'application/json', required: false },
    output: { contentType: 'application/json' },
  })),
});
