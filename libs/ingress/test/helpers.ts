import http from 'node:http';
import http2 from 'node:http2';
import type {
  DeploymentSchema,
  IngressBackend,
  IngressRequest,
  InvocationOutcome,
  SchemaView,
  SendReceipt,
  ServiceSchema,
} from '@stead/core';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export function request(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function requestH2(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': opts.method ?? 'POST', ':path': opts.path, ...(opts.headers ?? {}) });
    let headers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      session.close();
      resolve({ status: Number(headers[':status']), headers, text: Buffer.concat(chunks).toString('utf8') });
    });
    stream.on('error', (err) => {
      session.destroy();
      reject(err);
    });
    stream.end(opts.body);
  });
}

/** A schema view over a fixed set of services. */
export class StaticSchema implements SchemaView {
  private readonly byName: Map<string, ServiceSchema>;

  constructor(services: ServiceSchema[]) {
    this.byName = new Map(services.map((s) => [s.name, s]));
  }

  service(name: string): ServiceSchema | undefined {
    return this.byName.get(name);
  }

  deployment(_id: string): DeploymentSchema | undefined {
    return undefined;
  }
}

type CallAnswer = (req: IngressRequest, signal?: AbortSignal) => Promise<InvocationOutcome> | InvocationOutcome;

/** An engine stand-in: records what the ingress asks for and answers with scripted outcomes. */
export class RecordingBackend implements IngressBackend {
  readonly calls: IngressRequest[] = [];
  readonly sends: IngressRequest[] = [];
  readonly signals: AbortSignal[] = [];
  private seq = 0;
  private readonly seenIdempotent = new Map<string, string>();
  answer: CallAnswer = (req) => ({
    ok: true,
    value: Buffer.from(JSON.stringify({ echo: Buffer.from(req.body).toString('utf8') })),
  });
  failWith: unknown;

  private nextId(): string {
    this.seq++;
    return `inv_1test${String(this.seq).padStart(30, '0')}`;
  }

  async call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }> {
    this.calls.push(req);
    if (signal) this.signals.push(signal);
    if (this.failWith !== undefined) throw this.failWith;
    const invocationId = this.nextId();
    return { invocationId, outcome: await this.answer(req, signal) };
  }

  async send(req: IngressRequest): Promise<SendReceipt> {
    this.sends.push(req);
    if (this.failWith !== undefined) throw this.failWith;
    if (req.idempotencyKey !== undefined) {
      const k = `${req.target.service}/${req.target.key ?? ''}/${req.target.handler}/${req.idempotencyKey}`;
      const prev = this.seenIdempotent.get(k);
      if (prev !== undefined) return { invocationId: prev, status: 'PreviouslyAccepted' };
      const id = this.nextId();
      this.seenIdempotent.set(k, id);
      return { invocationId: id, status: 'Accepted' };
    }
    return { invocationId: this.nextId(), status: 'Accepted' };
  }
}

const json = { contentType: 'application/json', required: false };

export const SERVICES: ServiceSchema[] = [
  {
    name: 'Greeter',
    ty: 'SERVICE',
    revision: 1,
    deploymentId: 'dp_1test',
    public: true,
    handlers: [
      { name: 'greet', input: json, output: { contentType: 'application/json' } },
      {
        name: 'raw',
        input: { contentType: 'application/octet-stream', required: false },
        output: { contentType: 'application/octet-stream' },
      },
      { name: 'any' },
      { name: 'noInput', input: {}, output: { contentType: 'application/json' } },
      { name: 'needsJson', input: { contentType: 'application/json', required: true } },
      { name: 'texty', input: { contentType: 'text/*' } },
      { name: 'proto', output: { contentType: 'application/proto', setContentTypeIfEmpty: true } },
      { name: 'priv', input: json, public: false },
    ],
  },
  {
    name: 'Counter',
    ty: 'VIRTUAL_OBJECT',
    revision: 1,
    deploymentId: 'dp_1test',
    public: true,
    handlers: [
      { name: 'add', ty: 'EXCLUSIVE', input: json },
      { name: 'get', ty: 'SHARED', input: json },
    ],
  },
  {
    name: 'WF',
    ty: 'WORKFLOW',
    revision: 1,
    deploymentId: 'dp_1test',
    public: true,
    handlers: [
      { name: 'run', ty: 'WORKFLOW', input: json },
      { name: 'signal', ty: 'SHARED', input: json },
    ],
  },
  {
    name: 'Hidden',
    ty: 'SERVICE',
    revision: 1,
    deploymentId: 'dp_1test',
    public: false,
    handlers: [{ name: 'h', input: json }],
  },
];

/** Polls `check` until it returns true or the deadline passes. */
export async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 10));
  }
}
