// `--location kubernetes:<node>`: the failure domain of a process read from the labels of the Kubernetes Node its
// pod runs on, so that a chart needs no per-zone settings.
import type { Logger } from '@stead/observability';
import { errorMessage, resolveLocation, StartupError } from '@stead/runtime';
import { connectKube, type KubeApi } from './client.ts';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const REGION_LABEL = 'topology.kubernetes.io/region';
/** The form of `--location` that asks the Kubernetes API. */
export const KUBERNETES_LOCATION_PREFIX = 'kubernetes:';

/** How long a process waits for the API at start (it may come up with the pod's network), and between tries. */
const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_RETRY_MS = 1_000;

/** One part of a location: letters, digits, `_` and `-` (what `--location` accepts), at most 63 characters. */
function sanitize(part: string): string {
  return part
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}

/**
 * The location a Node's labels give: `region.zone` when both labels are set, `zone` with the zone label only,
 * undefined without a (usable) zone label. Characters `--location` does not accept become `-`.
 */
export function locationFromLabels(labels: Readonly<Record<string, string>>): string | undefined {
  const zone = sanitize(labels[ZONE_LABEL] ?? '');
  if (zone === '') return undefined;
  const region = sanitize(labels[REGION_LABEL] ?? '');
  return region === '' ? zone : `${region}.${zone}`;
}

export interface NodeLocationOptions {
  log?: Logger;
  /** Default: a client over `KubeConfig.loadFromDefault()`. */
  api?: KubeApi;
  /** How long failed reads are retried before the start is refused (default 15 s). */
  timeoutMs?: number;
  retryMs?: number;
}

/**
 * Reads Node `nodeName` and returns its location (see `locationFromLabels`); a Node without a zone label gives
 * none, with a warning. Failed reads (unreachable, refused, not found) are retried for `timeoutMs`, then the start
 * is refused with a StartupError naming the node, the API's address and what it answered.
 */
export async function nodeLocation(nodeName: string, o: NodeLocationOptions = {}): Promise<string | undefined> {
  const log = o.log ?? (() => {});
  let api: KubeApi;
  try {
    api = o.api ?? (await connectKube());
  } catch (e) {
    throw new StartupError(`--location kubernetes:${nodeName}: no usable Kubernetes configuration: ${errorMessage(e)}`);
  }
  const deadline = Date.now() + (o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  for (let attempt = 1; ; attempt++) {
    try {
      const node = await api.readNode(nodeName);
      const location = locationFromLabels(node.labels);
      if (location === undefined)
        log('warn', `Node '${nodeName}' has no ${ZONE_LABEL} label: this process has no location`, {
          node: nodeName,
        });
      else log('info', 'location from the Kubernetes Node', { node: nodeName, location });
      return location;
    } catch (e) {
      if (Date.now() >= deadline)
        throw new StartupError(
          `--location kubernetes:${nodeName}: gave up after ${attempt} attempts: ${errorMessage(e)}`,
        );
      log('warn', 'cannot read the Kubernetes Node yet; retrying', { node: nodeName, error: errorMessage(e) });
      await new Promise((r) => setTimeout(r, Math.min(o.retryMs ?? DEFAULT_RETRY_MS, deadline - Date.now())));
    }
  }
}

/**
 * `--location` / `STEAD_LOCATION` resolved: `none` → undefined, `region.zone` or `zone` as given, and
 * `kubernetes:<node>` read from that Node (see `nodeLocation`). Refuses a malformed value with a StartupError.
 */
export async function resolveNodeLocation(setting: string, o: NodeLocationOptions = {}): Promise<string | undefined> {
  if (!setting.startsWith(KUBERNETES_LOCATION_PREFIX)) return resolveLocation(setting);
  const nodeName = setting.slice(KUBERNETES_LOCATION_PREFIX.length);
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName))
    throw new StartupError(
      `--location / STEAD_LOCATION: '${setting}': '${nodeName}' is not a Kubernetes node name (is NODE_NAME set?)`,
    );
  return nodeLocation(nodeName, o);
}
