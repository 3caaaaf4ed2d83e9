// The one place Stead talks to the Kubernetes API: reads of a Node and of StatefulSets, through
// @kubernetes/client-node with the configuration `KubeConfig.loadFromDefault()` finds (KUBECONFIG, ~/.kube/config,
// or the pod's service account), and errors that name the API server, the HTTP status and Kubernetes' reason.
import type { ApiException } from '@kubernetes/client-node';

type ClientLibrary = typeof import('@kubernetes/client-node');

/**
 * The client library, imported when the first client is made: it is some 900 modules (a third of a second of CPU),
 * which every Stead process would otherwise load at start, while only a process with a `kubernetes:` location or
 * StatefulSets to watch ever reads the API.
 */
let library: Promise<ClientLibrary> | undefined;
const loadLibrary = (): Promise<ClientLibrary> => (library ??= import('@kubernetes/client-node'));

/** A Node or a StatefulSet, reduced to what Stead reads of it. */
export interface NodeObject {
  name: string;
  labels: Record<string, string>;
}

export interface StatefulSetObject {
  namespace: string;
  name: string;
  /** `spec.replicas` (Kubernetes defaults it to 1 when unset). */
  replicas: number;
}

/** The reads Stead makes; `server` is the API's address, for messages. */
export interface KubeApi {
  readonly server: string;
  readNode(name: string): Promise<NodeObject>;
  readStatefulSet(namespace: string, name: string): Promise<StatefulSetObject>;
}

/**
 * A read that failed. `status` is the HTTP status when the API answered (404 not found, 401/403 refused), undefined
 * when it could not be reached; `reason` is Kubernetes' `Status.reason` when it sent one. The message says all of
 * it, with the API's address.
 */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly status: number | undefined;
  readonly reason: string | undefined;
  constructor(message: string, status: number | undefined, reason: string | undefined) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

/** A client over the configuration `loadFromDefault` finds (KUBECONFIG first, in-cluster service account last). */
export async function connectKube(): Promise<KubeApi> {
  const { ApiException, AppsV1Api, CoreV1Api, KubeConfig } = await loadLibrary();
  const config = new KubeConfig();
  config.loadFromDefault();
  const server = config.getCurrentCluster()?.server ?? '(no cluster in the Kubernetes configuration)';
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const call = async <T>(what: string, read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (e) {
      throw apiError(what, server, e instanceof ApiException ? e : undefined, e);
    }
  };
  return {
    server,
    readNode: (name) =>
      call(`Node '${name}'`, async () => {
        const n = await core.readNode({ name });
        return { name, labels: { ...(n.metadata?.labels ?? {}) } };
      }),
    readStatefulSet: (namespace, name) =>
      call(`StatefulSet '${namespace}/${name}'`, async () => {
        const s = await apps.readNamespacedStatefulSet({ namespace, name });
        return { namespace, name, replicas: s.spec?.replicas ?? 1 };
      }),
  };
}

/** The error of a failed read: `answer` is the client's exception when the API answered, else `e` says why not. */
function apiError(what: string, server: string, answer: ApiException<unknown> | undefined, e: unknown): KubeApiError {
  if (answer) {
    const status = answer.code;
    const body = statusBody(answer.body);
    const reason = body?.reason ?? (status === 401 ? 'Unauthorized' : undefined);
    const detail = [reason, body?.message].filter(Boolean).join(': ');
    return new KubeApiError(
      `cannot read ${what} from the Kubernetes API at ${server}: HTTP ${status}${detail ? ` ${detail}` : ''}`,
      status,
      reason,
    );
  }
  return new KubeApiError(
    `cannot reach the Kubernetes API at ${server} to read ${what}: ${causeOf(e)}`,
    undefined,
    undefined,
  );
}

/** Kubernetes answers errors with a `Status` object; the client passes it parsed, as text, or not at all. */
function statusBody(body: unknown): { reason?: string; message?: string } | undefined {
  let v = body;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return { message: v as string };
    }
  }
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  return {
    reason: typeof o.reason === 'string' ? o.reason : undefined,
    message: typeof o.message === 'string' ? o.message : undefined,
  };
}

/** A fetch failure hides the useful part (ECONNREFUSED, a certificate problem) in `cause`. */
function causeOf(e: unknown): string {
  const parts: string[] = [];
  // Duck-typed: the cause may come from another realm (a test's VM context), where instanceof Error fails.
  for (let c: unknown = e; isErrorLike(c) && parts.length < 4; c = c.cause) {
    const code = c.code;
    parts.push(typeof code === 'string' && !c.message.includes(code) ? `${c.message} (${code})` : c.message);
  }
  return parts.length > 0 ? parts.join(': ') : String(e);
}

function isErrorLike(v: unknown): v is { message: string; code?: unknown; cause?: unknown } {
  return typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string';
}
