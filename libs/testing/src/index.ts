// @stead/testing: helpers for tests that run real processes (`LogCluster` is `@stead/testing/log-cluster`) and
// the simulation toolkit (`@stead/testing/sim`); see README.md.
export { type CtlResult, ctl, ctlJson, ctlOk } from './ctl.ts';
export { buildFsyncShim, Tmpfs } from './disk-faults.ts';
export {
  checkUnderLoad,
  ExactlyOnceChecker,
  type ExactlyOnceOptions,
  type ExactlyOnceReport,
  type UnderLoadOptions,
} from './exactly-once.ts';
export {
  type ContinueAnswer,
  type IssuedCert,
  makeTestCa,
  requestWithContinue,
  type TestCa,
} from './http-certs.ts';
export {
  memorySource,
  syntheticInvocation,
  syntheticInvocationId,
  syntheticInvocations,
  syntheticStatus,
  syntheticStatusCounts,
} from './introspection.ts';
export { KubeApiServer, type KubeApiServerOptions } from './kube-api-server.ts';
export { expandVars, Kubelet, type KubeObject, type PodEvent, type PodView, parseManifests } from './kubelet.ts';
export { type MetricSample, MetricsScrape, parseMetrics, scrapeMetrics } from './metrics.ts';
export { Cleanup, freePort, GiveUp, httpOk, NODE, Proc, REPO, steadEnv, waitFor } from './process.ts';
export { PrometheusServer, type PromSeries } from './prometheus.ts';
export { S3Server } from './s3-server.ts';
export { ServiceProcess, SteadServer, startMemberProcess } from './servers.ts';
export { E2E_PROTOCOL, type SteadUnderTest, startStead, TOPOLOGY, type Topology } from './topology.ts';
