// Helpers of the chart tests: run helm and kubectl (the real binaries, see scripts/k8s-tools.ts), parse what they
// render, validate every object against the Kubernetes schemas, and pick the pieces the contract is about.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { k8sTools } from '../../scripts/k8s-tools.ts';

export const REPO = new URL('../../', import.meta.url).pathname;
export const CHART = join(REPO, 'charts/stead');

/** A rendered Kubernetes object (the fields the tests read). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  spec?: any;
  data?: Record<string, string>;
  [k: string]: unknown;
}

/** Runs a binary; `ok` false carries its stderr. */
export function run(cmd: string, args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr };
}

export function helm(...args: string[]) {
  return run(k8sTools().helm, args);
}

export function kubectl(...args: string[]) {
  return run(k8sTools().kubectl, args);
}

/** Every document of a YAML stream (empty documents dropped); a parse error throws. */
export function parseObjects(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0].message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) objects.push(value);
  }
  return objects;
}

/** `helm template <release> charts/stead` with values files and --set pairs; throws with helm's stderr on failure. */
export function template(opts: { release?: string; namespace?: string; values?: string[]; set?: string[] } = {}) {
  const r = templateRaw(opts);
  if (!r.ok) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseObjects(r.stdout);
}

export function templateRaw(opts: { release?: string; namespace?: string; values?: string[]; set?: string[] }) {
  const args = ['template', opts.release ?? 'stead', CHART, '--namespace', opts.namespace ?? 'default'];
  for (const v of opts.values ?? []) args.push('--values', v);
  for (const s of opts.set ?? []) args.push('--set', s);
  return helm(...args);
}

type Validating = new (data: any) => { validate(): void };

/** The schema of every kind the chart and the overlays render; a kind missing here fails the validation. */
const MODELS: Record<string, Validating> = {
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

/** The schema problems of each object (`Kind/name: message`); empty when every object is valid. */
export function schemaProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!model) {
      problems.push(`${o.kind}/${o.metadata?.name}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new model(o).validate();
    } catch (e) {
      problems.push(`${o.kind}/${o.metadata.name}: ${(e as Error).message}`);
    }
  }
  return problems;
}

/** The object of `kind` named `name`; throws (naming what there is) when there is none. */
export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) {
    const have = objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} among ${have}`);
  }
  return o;
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** The single container of a workload's pod template. */
export function container(workload: K8sObject): any {
  const containers = workload.spec.template.spec.containers as any[];
  if (containers.length !== 1) throw new Error(`${workload.metadata.name}: ${containers.length} containers`);
  return containers[0];
}

/** name → value (or valueFrom) of a container's environment, in order. */
export function envOf(workload: K8sObject): [string, any][] {
  return (container(workload).env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]);
}

export function envValue(workload: K8sObject, name: string): string | undefined {
  return (container(workload).env as any[]).find((e) => e.name === name)?.value;
}
