/**
 * @stead/kubernetes: everything Stead reads from the Kubernetes API, kept in one library so that the runtime and
 * the other libraries stay free of the client (`@kubernetes/client-node`). The configuration is what
 * `KubeConfig.loadFromDefault()` finds: `KUBECONFIG`, `~/.kube/config`, or the pod's service account.
 *
 * - `resolveNodeLocation`: `--location` resolved, including `kubernetes:<node>` (the Node's zone and region
 *   labels, retried at start for a bounded time, then a StartupError naming the node, the API and its answer).
 * - `StatefulSetWatch`: the desired replicas of the StatefulSets named by `--kubernetes-statefulsets`, polled.
 * - `connectKube` / `KubeApi` / `KubeApiError`: the client itself (Node and StatefulSet reads).
 *
 * Tests: `npx jest` in this folder, against `KubeApiServer` of `@stead/testing` (an HTTPS stand-in for the API).
 */
export { connectKube, type KubeApi, KubeApiError, type NodeObject, type StatefulSetObject } from './client.ts';
export {
  KUBERNETES_LOCATION_PREFIX,
  locationFromLabels,
  type NodeLocationOptions,
  nodeLocation,
  REGION_LABEL,
  resolveNodeLocation,
  ZONE_LABEL,
} from './location.ts';
export {
  parseStatefulSets,
  type StatefulSetRef,
  StatefulSetWatch,
  type StatefulSetWatchOptions,
  statefulSetsProblem,
} from './statefulsets.ts';
