// The desired replicas of the StatefulSets that run Stead's workers and log servers, kept fresh by polling, so
// that the controller can tell a pod removed by a scale-down from one that crashed.
import type { Logger } from '@stead/observability';
import { errorMessage } from '@stead/runtime';
import { connectKube, type KubeApi } from './client.ts';

export interface StatefulSetRef {
  namespace: string;
  name: string;
}

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What is wrong with a `--kubernetes-statefulsets` value (`none` or `ns/name,ns/name`), or undefined. */
export function statefulSetsProblem(text: string): string | undefined {
  if (text === 'none') return undefined;
  for (const item of text.split(',')) {
    const [ns, name, more] = item.trim().split('/');
    if (more !== undefined || !ns || !name || !NAME.test(ns) || !NAME.test(name))
      return `'${item.trim()}' is not namespace/name (lower-case letters, digits and '-')`;
  }
  return undefined;
}

/** `--kubernetes-statefulsets` parsed (check it with `statefulSetsProblem` first): `none` is the empty list. */
export function parseStatefulSets(text: string): StatefulSetRef[] {
  if (text === 'none') return [];
  return text.split(',').map((item) => {
    const [namespace, name] = item.trim().split('/');
    return { namespace, name };
  });
}

export interface StatefulSetWatchOptions {
  refs: readonly StatefulSetRef[];
  /** Default: a client over `KubeConfig.loadFromDefault()` (made on the first read). */
  api?: KubeApi;
  /** Time between polls (default 5 s). */
  pollMs?: number;
  log?: Logger;
}

/**
 * Polls `spec.replicas` of each StatefulSet every `pollMs` (and at once on `refresh()`). `current()` maps a
 * StatefulSet's name to its desired replicas; one whose last read failed is absent (unknown), so that nothing is
 * decided on a stale or missing answer. Node ids are pod names, which carry no namespace: two StatefulSets of
 * one name in two namespaces cannot be told apart (the later one in the list wins).
 */
export class StatefulSetWatch {
  private readonly o: StatefulSetWatchOptions;
  private api: KubeApi | undefined;
  private known = new Map<string, number>();
  private readonly failing = new Set<string>();
  private reading: Promise<ReadonlyMap<string, number>> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(o: StatefulSetWatchOptions) {
    this.o = o;
    this.api = o.api;
  }

  /** Whether any StatefulSet is watched (the setting is not `none`). */
  get enabled(): boolean {
    return this.o.refs.length > 0;
  }

  /** Starts polling (the first read at once). */
  start(): this {
    if (this.enabled) void this.tick();
    return this;
  }

  current(): ReadonlyMap<string, number> {
    return this.known;
  }

  /** Reads every StatefulSet now (a call while a read runs joins it); resolves to the new `current()`. */
  refresh(): Promise<ReadonlyMap<string, number>> {
    this.reading ??= this.readAll().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    await this.refresh();
    if (!this.closed) this.timer = setTimeout(() => void this.tick(), this.o.pollMs ?? 5_000);
  }

  private async readAll(): Promise<ReadonlyMap<string, number>> {
    const log = this.o.log ?? (() => {});
    let api: KubeApi;
    try {
      this.api ??= await connectKube();
      api = this.api;
    } catch (e) {
      log('warn', 'no usable Kubernetes configuration; StatefulSet replicas unknown', { error: errorMessage(e) });
      this.known = new Map();
      return this.known;
    }
    const next = new Map<string, number>();
    await Promise.all(
      this.o.refs.map(async ({ namespace, name }) => {
        const key = `${namespace}/${name}`;
        try {
          const s = await api.readStatefulSet(namespace, name);
          next.set(name, s.replicas);
          if (this.failing.delete(key)) log('info', 'StatefulSet readable again', { statefulset: key });
          if (this.known.get(name) !== s.replicas)
            log('info', 'StatefulSet desired replicas', { statefulset: key, replicas: s.replicas });
        } catch (e) {
          if (!this.failing.has(key))
            log('warn', 'cannot read a StatefulSet; its pods are not judged until it reads again', {
              statefulset: key,
              error: errorMessage(e),
            });
          this.failing.add(key);
        }
      }),
    );
    this.known = next;
    return next;
  }
}
