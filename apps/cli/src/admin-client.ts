/** The admin API as `stead ctl` reads it: `GET /cluster` and `GET /cluster/logs/{id}`, with errors a user can act on. */

/** One node as the active controller sees it. */
export interface NodeView {
  id: string;
  roles: string[];
  address: string;
  alive: boolean;
  draining: boolean;
}

export interface PlacementView {
  partition: number;
  replicas: string[];
  leader?: string;
  epoch: number;
}

/** Each partition log as `GET /cluster` lists it. `kind: 'local'` on the one-process server (no segments). */
export interface LogSummaryView {
  partition: number;
  log: string;
  kind?: 'local' | 'replicated';
  segments: number;
  sequencer?: string;
  trim_point?: string;
}

/** `GET /cluster` of the cluster admin and of the one-process server (the same shape). */
export interface ClusterView {
  controller: {
    node: string;
    active: boolean;
    term?: number;
    lease_holder?: string;
    /** Only when the answering admin runs the active controller (and has finished a round). */
    nodes?: NodeView[];
    unavailable_partitions?: number[];
  };
  partition_table?: {
    version?: number;
    partitions: number;
    replication: number;
    placements: PlacementView[];
  };
  logs: LogSummaryView[];
}

export interface SegmentView {
  index: number;
  base: string;
  loglet: string;
  sequencer: { id: string; instance: string };
  nodeset: Array<{ id: string; zone?: string }>;
  replication: { scope: string; count: number };
  /** The loglet-local tail it was sealed at; absent while the segment is open. */
  sealed_tail?: string;
}

/** `GET /cluster/logs/{id}`: one log's chain of segments. */
export interface LogView {
  log: string;
  trim_point: string;
  sealed: boolean;
  segments: SegmentView[];
}

/** An error shown to the user as one line (no stack trace), with the process exit status. */
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface AdminClientOptions {
  address: string;
  timeoutMs?: number;
}

export class AdminClient {
  private readonly opts: AdminClientOptions;
  private readonly base: string;

  constructor(opts: AdminClientOptions) {
    this.opts = opts;
    this.base = opts.address.replace(/\/+$/, '');
  }

  cluster(): Promise<ClusterView> {
    return this.get('/cluster') as Promise<ClusterView>;
  }

  log(logId: string): Promise<LogView> {
    return this.get(`/cluster/logs/${encodeURIComponent(logId)}`) as Promise<LogView>;
  }

  private async get(path: string): Promise<unknown> {
    const url = `${this.base}${path}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000) });
    } catch (e) {
      throw new CliError(`cannot reach the admin API at ${this.opts.address}: ${causeOf(e)}`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status !== 200) {
      const message = (body as { message?: unknown } | undefined)?.message;
      const why = typeof message === 'string' ? message : text.slice(0, 200) || res.statusText;
      throw new CliError(`the admin API at ${this.opts.address} answered ${res.status} to GET ${path}: ${why}`);
    }
    if (body === undefined)
      throw new CliError(`the admin API at ${this.opts.address} answered GET ${path} with no JSON`);
    return body;
  }
}

/**
 * The innermost useful reason of a failed fetch (`connect ECONNREFUSED 127.0.0.1:9070`, a timeout, a bad URL).
 * Errors are read by shape, not `instanceof`: they may come from another realm (undici's, or a test's).
 */
function causeOf(e: unknown): string {
  const err = e as { name?: unknown; message?: unknown; cause?: unknown; errors?: unknown } | undefined;
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return 'no answer in time';
  let inner = err;
  for (;;) {
    if (typeof inner?.cause === 'object' && inner.cause !== null) inner = inner.cause as typeof err;
    else if (Array.isArray(inner?.errors) && inner.errors.length > 0) inner = inner.errors[0] as typeof err;
    else break;
  }
  return typeof inner?.message === 'string' && inner.message !== '' ? inner.message : String(inner);
}
