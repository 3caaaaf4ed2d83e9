/**
 * The admin API as `stead ctl` uses it: `GET /cluster`, `GET /cluster/logs/{id}` and the operator routes under
 * `/cluster`, with errors a user can act on.
 */

/** One node as the active controller sees it. */
export interface NodeView {
  id: string;
  roles: string[];
  address: string;
  /** Absent when a standby admin answered (only the active controller knows who is alive). */
  alive?: boolean;
  draining: boolean;
  /** Its StatefulSet was scaled below it (Kubernetes, `--kubernetes-statefulsets`). */
  scaled_away?: boolean;
}

/** A log server or sequencer (`log_nodes` of `GET /cluster`, where the admin lists them). */
export interface LogNodeView {
  id: string;
  kind: string;
  address?: string;
  zone?: string;
  draining?: boolean;
  /** null: unknown (only log servers are probed, by the admin running the active controller). */
  alive?: boolean | null;
  /** Segments that still name it (open and sealed for a log server, open for a sequencer): what a drain waits for. */
  segments?: number;
  scaled_away?: boolean;
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
  log_nodes?: LogNodeView[];
  /** With `--kubernetes-statefulsets`: each StatefulSet's desired replicas (null: unknown) and who is scaled away. */
  kubernetes?: {
    statefulsets: Array<{ namespace: string; name: string; replicas: number | null }>;
    scaled_away: string[];
  };
}

export interface ReplicationView {
  scope: string;
  count: number;
}

/** `GET /cluster/config`. */
export interface ConfigView {
  partition_replication: ReplicationView;
  log_replication: ReplicationView;
  version?: number;
}

/** `GET /cluster/metadata/{key}`. */
export interface MetadataValueView {
  key: string;
  version: number;
  encoding: 'utf8' | 'base64';
  value: string;
}

/** `GET /cluster/metadata/members`. */
export interface MembersView {
  leader?: { id: string; address: string };
  term: number;
  members: Array<{ id: string; address: string; learner: boolean }>;
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
  /** Sent as `Authorization: Bearer <token>` (an admin API with authentication on). */
  token?: string;
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

  config(): Promise<ConfigView> {
    return this.get('/cluster/config') as Promise<ConfigView>;
  }

  members(): Promise<MembersView> {
    return this.get('/cluster/metadata/members') as Promise<MembersView>;
  }

  metadata(key: string): Promise<MetadataValueView> {
    return this.get(`/cluster/metadata/${encodeURIComponent(key)}`) as Promise<MetadataValueView>;
  }

  get(path: string): Promise<unknown> {
    return this.send('GET', path);
  }

  /** Sends `body` as JSON; resolves to the answer (any 2xx), or rejects with a CliError naming the status. */
  /** The same client, with requests that may take `timeoutMs` (a long operation). */
  withTimeout(timeoutMs: number): AdminClient {
    return new AdminClient({ ...this.opts, timeoutMs });
  }

  async send(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = `${this.base}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      throw new CliError(`cannot reach the admin API at ${this.opts.address}: ${causeOf(e)}`);
    }
    const text = await res.text();
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = undefined;
    }
    if (res.status < 200 || res.status > 299) {
      const message = (answer as { message?: unknown } | undefined)?.message;
      const why = typeof message === 'string' ? message : text.slice(0, 200) || res.statusText;
      throw new CliError(`the admin API at ${this.opts.address} answered ${res.status} to ${method} ${path}: ${why}`);
    }
    if (answer === undefined && res.status === 204) return undefined;
    if (answer === undefined)
      throw new CliError(`the admin API at ${this.opts.address} answered ${method} ${path} with no JSON`);
    return answer;
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
