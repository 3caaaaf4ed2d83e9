import { join } from 'node:path';
import {
  type DeploymentSchema,
  type DiscoveredEndpoint,
  type DiscoveredService,
  type DiscoverOptions,
  ForbiddenAddressError,
  forbiddenHostReason,
  type HandlerSchema,
  type RetryPolicyOverrides,
  type SchemaView,
  type ServiceSchema,
  type ServiceType,
} from '@stead/core';
import { newDeploymentId } from './ids.ts';
import { FileSchemaStore, SchemaConflictError, type SchemaSnapshot, type SchemaStore } from './store.ts';

/**
 * Fetches and parses an endpoint's manifest. Failures throw an error with an HTTP `status` to answer
 * with (like `DiscoveryError` of @stead/invoker) and optionally a Restate error code (`restateCode`).
 */
export type DiscoverFn = (uri: string, opts: DiscoverOptions) => Promise<DiscoveredEndpoint>;

/** An error the admin API turns into `{status, {"message", "restate_code"}}`. */
export class SchemaError extends Error {
  readonly status: number;
  readonly restateCode: string | undefined;

  constructor(status: number, message: string, restateCode?: string) {
    super(message);
    this.name = 'SchemaError';
    this.status = status;
    this.restateCode = restateCode;
  }
}

export interface RegisterDeploymentInput {
  uri: string;
  additionalHeaders?: Record<string, string>;
  useHttp11?: boolean;
  /** Overwrite a deployment with the same uri (keeps its id); implies `breaking`. */
  force?: boolean;
  /** Allow incompatible service changes (service type change). */
  breaking?: boolean;
  /** Discover and validate, but change nothing. */
  dryRun?: boolean;
}

export interface RegisterDeploymentResult {
  /** true: a new deployment (HTTP 201); false: an existing one returned or overwritten (HTTP 200). */
  created: boolean;
  dryRun: boolean;
  deployment: DeploymentSchema;
  /** The services of this deployment, at the revisions it exposes. */
  services: ServiceSchema[];
}

export interface SchemaRegistryOptions {
  /** Where to persist. Defaults to `<dataDir>/schema.json` when `dataDir` is given. */
  store?: SchemaStore;
  dataDir?: string;
  /** Needed to register deployments; reading works without it. */
  discover?: DiscoverFn;
  /** Service protocol versions this server speaks (default 5..7). */
  minProtocolVersion?: number;
  maxProtocolVersion?: number;
  discoveryTimeoutMs?: number;
  /** Allow deployments at link-local and cloud metadata addresses (default: refused with 400). */
  allowLinkLocal?: boolean;
  /** Largest manifest read at registration (the discovery function's default when not given). */
  maxDiscoveryResponseBytes?: number;
  now?: () => number;
  newDeploymentId?: () => string;
}

interface DeploymentEntry {
  deployment: DeploymentSchema;
  services: ServiceSchema[];
}

/** Tries of one schema change against concurrent saves of other processes. */
const MAX_CHANGE_ATTEMPTS = 8;

const SERVICE_TYPES: ReadonlySet<string> = new Set(['SERVICE', 'VIRTUAL_OBJECT', 'WORKFLOW']);
const HANDLER_TYPES: ReadonlySet<string> = new Set(['EXCLUSIVE', 'SHARED', 'WORKFLOW']);

const SERVICE_TYPE_NAMES: Record<ServiceType, string> = {
  SERVICE: 'Service',
  VIRTUAL_OBJECT: 'VirtualObject',
  WORKFLOW: 'Workflow',
};

/**
 * Deployments and services, persisted through a `SchemaStore`. Every deployment keeps the service
 * revisions it exposes; the active revision of a service is the highest one among all deployments,
 * so removing a deployment falls back to an older one that still exposes the service.
 */
export class SchemaRegistry implements SchemaView {
  private readonly store: SchemaStore;
  private readonly discoverFn: DiscoverFn | undefined;
  private readonly minProtocol: number;
  private readonly maxProtocol: number;
  /** Highest service protocol version this server negotiates (deployments needing a higher one are refused). */
  get maxProtocolVersion(): number {
    return this.maxProtocol;
  }
  private readonly discoveryTimeoutMs: number | undefined;
  private readonly allowLinkLocal: boolean;
  private readonly maxDiscoveryResponseBytes: number | undefined;
  private readonly now: () => number;
  private readonly makeId: () => string;
  private entries = new Map<string, DeploymentEntry>();
  private revisions = new Map<string, number>();
  private latest = new Map<string, ServiceSchema>();
  private schemaVersion = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<() => void>();
  private unwatch: (() => void) | undefined;

  private constructor(opts: SchemaRegistryOptions, store: SchemaStore) {
    this.store = store;
    this.discoverFn = opts.discover;
    this.minProtocol = opts.minProtocolVersion ?? 5;
    this.maxProtocol = opts.maxProtocolVersion ?? 7;
    this.discoveryTimeoutMs = opts.discoveryTimeoutMs;
    this.allowLinkLocal = opts.allowLinkLocal === true;
    this.maxDiscoveryResponseBytes = opts.maxDiscoveryResponseBytes;
    this.now = opts.now ?? Date.now;
    this.makeId = opts.newDeploymentId ?? newDeploymentId;
  }

  /** Opens the registry and loads what the store holds. */
  static async open(opts: SchemaRegistryOptions): Promise<SchemaRegistry> {
    const store: SchemaStore | undefined =
      opts.store ?? (opts.dataDir !== undefined ? new FileSchemaStore(join(opts.dataDir, 'schema.json')) : undefined);
    if (store === undefined) throw new Error('SchemaRegistry.open needs a store or a dataDir');
    const registry = new SchemaRegistry(opts, store);
    const snap = await store.load();
    if (snap !== undefined) registry.applySnapshot(snap);
    // A shared store (the metadata store): follow what the other processes save.
    registry.unwatch = store.watch?.(() => {
      registry.refresh().catch(() => {}); // the next change or poll tries again
    });
    return registry;
  }

  /** Stops following the store's changes. */
  close(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /**
   * Loads the store's snapshot and, when it differs from the one in memory (another process saved), switches to it
   * and tells the listeners. Returns whether it changed anything.
   */
  refresh(): Promise<boolean> {
    return this.exclusive(() => this.reload());
  }

  private async reload(): Promise<boolean> {
    const snap = await this.store.load();
    if (snap === undefined || snap.version === this.schemaVersion) return false;
    this.applySnapshot(snap);
    this.notify();
    return true;
  }

  // ---- SchemaView ---------------------------------------------------------------------------

  service(name: string): ServiceSchema | undefined {
    return this.latest.get(name);
  }

  deployment(id: string): DeploymentSchema | undefined {
    return this.entries.get(id)?.deployment;
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** Number of changes applied so far (persisted). */
  get version(): number {
    return this.schemaVersion;
  }

  services(): ServiceSchema[] {
    return [...this.latest.values()];
  }

  deployments(): DeploymentSchema[] {
    return [...this.entries.values()].map((e) => e.deployment);
  }

  /** Services of one deployment at the revisions it exposes (what invocations pinned to it use). */
  deploymentServices(id: string): ServiceSchema[] | undefined {
    return this.entries.get(id)?.services;
  }

  /** The schema of `service` as exposed by deployment `deploymentId`. */
  serviceInDeployment(deploymentId: string, service: string): ServiceSchema | undefined {
    return this.entries.get(deploymentId)?.services.find((s) => s.name === service);
  }

  handler(service: string, handler: string): HandlerSchema | undefined {
    return this.latest.get(service)?.handlers.find((h) => h.name === handler);
  }

  /** Called after every committed change. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- writes --------------------------------------------------------------------------------

  async register(input: RegisterDeploymentInput): Promise<RegisterDeploymentResult> {
    const uri = normalizeUri(input.uri);
    const force = input.force === true;
    const breaking = force || input.breaking === true;
    const dryRun = input.dryRun === true;
    const headers = input.additionalHeaders ?? {};
    const useHttp11 = input.useHttp11 === true;

    // Restate answers an existing registration of the same uri as-is (200) unless forced, without discovery.
    const existing = this.findByUri(uri);
    if (existing && !force)
      return { created: false, dryRun, deployment: existing.deployment, services: existing.services };

    const discovered = await this.discoverEndpoint(uri, headers, useHttp11);

    return this.change(async () => {
      const current = this.findByUri(uri);
      if (current && !force)
        return { created: false, dryRun, deployment: current.deployment, services: current.services };
      if (!breaking) this.checkCompatible(discovered.services);

      const id = current?.deployment.id ?? this.makeId();
      const nextRevisions = new Map(this.revisions);
      const services = newRevisions(discovered.services, id, nextRevisions);
      const deployment = this.deploymentSchema(id, uri, headers, useHttp11, discovered, services);
      const result = { created: current === undefined, dryRun, deployment, services };
      if (dryRun) return result;

      const entries = new Map(this.entries);
      entries.set(id, { deployment, services });
      await this.commit(entries, nextRevisions);
      return result;
    });
  }

  /** Fetches and checks the endpoint's manifest (refusing link-local addresses unless allowed). */
  private async discoverEndpoint(
    uri: string,
    headers: Record<string, string>,
    useHttp11: boolean,
  ): Promise<DiscoveredEndpoint> {
    if (this.discoverFn === undefined) throw new SchemaError(500, 'this server cannot discover deployments');
    if (!this.allowLinkLocal) {
      const reason = forbiddenHostReason(new URL(uri).hostname);
      if (reason !== undefined) throw new SchemaError(400, new ForbiddenAddressError(`'${uri}'`, reason).message);
    }
    let discovered: DiscoveredEndpoint;
    try {
      discovered = await this.discoverFn(uri, {
        headers,
        useHttp11,
        timeoutMs: this.discoveryTimeoutMs,
        allowLinkLocal: this.allowLinkLocal,
        ...(this.maxDiscoveryResponseBytes !== undefined ? { maxResponseBytes: this.maxDiscoveryResponseBytes } : {}),
      });
    } catch (err) {
      throw toSchemaError(err);
    }
    this.validateEndpoint(discovered);
    return discovered;
  }

  private deploymentSchema(
    id: string,
    uri: string,
    headers: Record<string, string>,
    useHttp11: boolean,
    discovered: DiscoveredEndpoint,
    services: ServiceSchema[],
  ): DeploymentSchema {
    const deployment: DeploymentSchema = {
      id,
      uri,
      protocolType: discovered.protocolMode === 'REQUEST_RESPONSE' ? 'RequestResponse' : 'BidiStream',
      minProtocolVersion: discovered.minProtocolVersion,
      maxProtocolVersion: discovered.maxProtocolVersion,
      manifestVersion: discovered.manifestVersion,
      additionalHeaders: { ...headers },
      useHttp11,
      createdAt: new Date(this.now()).toISOString(),
      services: services.map((s) => ({ name: s.name, revision: s.revision })),
    };
    if (discovered.sdkVersion !== undefined) deployment.sdkVersion = discovered.sdkVersion;
    return deployment;
  }

  /**
   * `PATCH /services/{service}`: changes the configuration of the service's latest revision (persisted like any
   * schema change; a later registration of the service replaces it with what its manifest says, as in Restate).
   * Returns the service as it is now, or undefined when there is no such service.
   */
  async modifyService(name: string, changes: ServiceChanges): Promise<ServiceSchema | undefined> {
    return this.change(async () => {
      const current = this.latest.get(name);
      if (current === undefined) return undefined;
      const entry = this.entries.get(current.deploymentId);
      if (entry === undefined) return undefined;
      if (changes.workflowCompletionRetentionMs !== undefined && current.ty !== 'WORKFLOW') {
        throw new SchemaError(
          400,
          `workflow_completion_retention can be set only on workflow services; '${name}' is a ${SERVICE_TYPE_NAMES[current.ty]}`,
        );
      }
      const next = applyServiceChanges(current, changes);
      const entries = new Map(this.entries);
      entries.set(entry.deployment.id, {
        deployment: entry.deployment,
        services: entry.services.map((s) => (s.name === name && s.revision === current.revision ? next : s)),
      });
      await this.commit(entries, this.revisions);
      return this.latest.get(name);
    });
  }

  /**
   * `PATCH /deployments/{id}`: points a deployment at another address, or changes its headers or HTTP version,
   * keeping its id (so invocations pinned to it go on at the new address). The endpoint is always discovered
   * again. Without `overwrite` its schemas stay as they are, and the endpoint must still serve every service and
   * handler of the deployment with the same types (409 otherwise: an address serving something else would fail
   * every pinned invocation); with `overwrite` its services are replaced by what the endpoint now says, as a forced
   * registration would. Undefined when there is no such deployment.
   */
  async updateDeployment(id: string, input: UpdateDeploymentInput): Promise<RegisterDeploymentResult | undefined> {
    const before = this.entries.get(id);
    if (before === undefined) return undefined;
    const uri = input.uri !== undefined ? normalizeUri(input.uri) : before.deployment.uri;
    const headers = input.additionalHeaders ?? before.deployment.additionalHeaders;
    const useHttp11 = input.useHttp11 ?? before.deployment.useHttp11;
    const discovered = await this.discoverEndpoint(uri, headers, useHttp11);

    return this.change(async () => {
      const current = this.entries.get(id);
      if (current === undefined) return undefined;
      const other = this.findByUri(uri);
      if (other !== undefined && other.deployment.id !== id)
        throw new SchemaError(409, `deployment '${other.deployment.id}' is already registered at '${uri}'`);
      const nextRevisions = new Map(this.revisions);
      let services = current.services;
      if (input.overwrite === true) services = newRevisions(discovered.services, id, nextRevisions);
      else checkServesAll(current.services, discovered.services, uri);
      const fresh = this.deploymentSchema(id, uri, headers, useHttp11, discovered, services);
      const deployment: DeploymentSchema = { ...fresh, createdAt: current.deployment.createdAt };
      const result = { created: false, dryRun: input.dryRun === true, deployment, services };
      if (input.dryRun === true) return result;
      const entries = new Map(this.entries);
      entries.set(id, { deployment, services });
      await this.commit(entries, nextRevisions);
      return result;
    });
  }

  /** Removes a deployment (forced removal: in-flight invocations pinned to it will fail). */
  async removeDeployment(id: string): Promise<boolean> {
    return this.change(async () => {
      if (!this.entries.has(id)) return false;
      const entries = new Map(this.entries);
      entries.delete(id);
      await this.commit(entries, this.revisions);
      return true;
    });
  }

  // ---- internals -----------------------------------------------------------------------------

  private findByUri(uri: string): DeploymentEntry | undefined {
    for (const entry of this.entries.values()) if (entry.deployment.uri === uri) return entry;
    return undefined;
  }

  private validateEndpoint(d: DiscoveredEndpoint): void {
    const bad = (why: string) => new SchemaError(400, `bad endpoint manifest: ${why}`);
    if (d === null || typeof d !== 'object' || !Array.isArray(d.services)) throw bad('no services list');
    const min = d.minProtocolVersion;
    const max = d.maxProtocolVersion;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min > max) {
      throw bad(`invalid protocol version range [${min}, ${max}]`);
    }
    if (max < this.minProtocol || min > this.maxProtocol) {
      throw new SchemaError(
        400,
        `[META0012] unsupported service protocol versions: [${min}, ${max}]. Supported versions by this runtime are [${this.minProtocol}, ${this.maxProtocol}]. Please upgrade the SDK and try registering again.`,
        'META0012',
      );
    }
    const names = new Set<string>();
    for (const svc of d.services) {
      if (svc === null || typeof svc !== 'object' || typeof svc.name !== 'string' || svc.name === '') {
        throw bad('a service has no name');
      }
      if (names.has(svc.name)) throw bad(`service '${svc.name}' is declared twice`);
      names.add(svc.name);
      if (!SERVICE_TYPES.has(svc.ty)) throw bad(`service '${svc.name}' has unknown type '${String(svc.ty)}'`);
      if (!Array.isArray(svc.handlers)) throw bad(`service '${svc.name}' has no handlers list`);
      const handlerNames = new Set<string>();
      for (const h of svc.handlers) {
        if (h === null || typeof h !== 'object' || typeof h.name !== 'string' || h.name === '') {
          throw bad(`a handler of service '${svc.name}' has no name`);
        }
        if (handlerNames.has(h.name)) throw bad(`handler '${svc.name}/${h.name}' is declared twice`);
        handlerNames.add(h.name);
        if (h.ty !== undefined && !HANDLER_TYPES.has(h.ty)) {
          throw bad(`handler '${svc.name}/${h.name}' has unknown type '${String(h.ty)}'`);
        }
      }
    }
  }

  /** Restate refuses a service type change across revisions unless `breaking`/`force` (409, META0006). */
  private checkCompatible(services: DiscoveredService[]): void {
    for (const svc of services) {
      const prev = this.latest.get(svc.name);
      if (prev && prev.ty !== svc.ty) {
        throw new SchemaError(
          409,
          `[META0006] detected a new service revision for '${svc.name}' changing the service type from previous revision (${SERVICE_TYPE_NAMES[prev.ty]} to ${SERVICE_TYPE_NAMES[svc.ty]}). Service type cannot be changed across revisions.`,
          'META0006',
        );
      }
    }
  }

  private async commit(entries: Map<string, DeploymentEntry>, revisions: Map<string, number>): Promise<void> {
    const snapshot: SchemaSnapshot = {
      formatVersion: 1,
      version: this.schemaVersion + 1,
      revisions: Object.fromEntries(revisions),
      deployments: [...entries.values()],
    };
    await this.store.save(snapshot);
    this.applySnapshot(snapshot);
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch {
        // a listener's failure is its own business
      }
    }
  }

  private applySnapshot(snap: SchemaSnapshot): void {
    this.schemaVersion = snap.version;
    this.revisions = new Map(Object.entries(snap.revisions ?? {}));
    this.entries = new Map(snap.deployments.map((e) => [e.deployment.id, e]));
    const latest = new Map<string, ServiceSchema>();
    for (const entry of this.entries.values()) {
      for (const svc of entry.services) {
        const cur = latest.get(svc.name);
        if (cur === undefined || svc.revision > cur.revision) latest.set(svc.name, svc);
        const known = this.revisions.get(svc.name) ?? 0;
        if (svc.revision > known) this.revisions.set(svc.name, svc.revision);
      }
    }
    this.latest = latest;
  }

  /**
   * Runs a change under the lock. When another process saved first (a shared store), reloads its snapshot and runs
   * the change again on top of it, so neither change is lost.
   */
  private change<T>(fn: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn();
        } catch (err) {
          if (!(err instanceof SchemaConflictError)) throw err;
          if (attempt >= MAX_CHANGE_ATTEMPTS)
            throw new SchemaError(409, `the schema keeps changing concurrently; try again (${err.message})`);
          await this.reload();
        }
      }
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }
}

/** What `PATCH /deployments/{id}` may change (unset = unchanged). */
export interface UpdateDeploymentInput {
  uri?: string;
  /** Replaces all the deployment's additional headers. */
  additionalHeaders?: Record<string, string>;
  useHttp11?: boolean;
  /** Replace the deployment's services with what the endpoint serves now. */
  overwrite?: boolean;
  dryRun?: boolean;
}

/** Without `overwrite`, the endpoint at the new address must serve what the deployment did (409 otherwise). */
function checkServesAll(services: ServiceSchema[], discovered: DiscoveredService[], uri: string): void {
  const byName = new Map(discovered.map((d) => [d.name, d]));
  const refuse = (what: string) =>
    new SchemaError(
      409,
      `the endpoint at '${uri}' ${what}; set "overwrite": true to replace the deployment's services with what it serves`,
    );
  for (const svc of services) {
    const found = byName.get(svc.name);
    if (found === undefined) throw refuse(`does not serve service '${svc.name}'`);
    if (found.ty !== svc.ty)
      throw refuse(`serves '${svc.name}' as a ${SERVICE_TYPE_NAMES[found.ty]}, not a ${SERVICE_TYPE_NAMES[svc.ty]}`);
    const handlers = new Map(found.handlers.map((h) => [h.name, h]));
    for (const h of svc.handlers) {
      const other = handlers.get(h.name);
      if (other === undefined) throw refuse(`does not serve handler '${svc.name}/${h.name}'`);
      if ((other.ty ?? undefined) !== (h.ty ?? undefined))
        throw refuse(`serves handler '${svc.name}/${h.name}' with another type (${String(other.ty)})`);
    }
  }
}

/** What `PATCH /services/{service}` may change (unset = unchanged). */
export interface ServiceChanges {
  public?: boolean;
  idempotencyRetentionMs?: number;
  journalRetentionMs?: number;
  inactivityTimeoutMs?: number;
  abortTimeoutMs?: number;
  /** Workflows only; stored on the workflow handler, where the manifest puts it. */
  workflowCompletionRetentionMs?: number;
  /** Merged field by field into the service's retry policy (Stead extension of Restate's request). */
  retryPolicy?: RetryPolicyOverrides;
}

function applyServiceChanges(svc: ServiceSchema, c: ServiceChanges): ServiceSchema {
  const next: ServiceSchema = { ...svc };
  if (c.public !== undefined) next.public = c.public;
  if (c.idempotencyRetentionMs !== undefined) next.idempotencyRetentionMs = c.idempotencyRetentionMs;
  if (c.journalRetentionMs !== undefined) next.journalRetentionMs = c.journalRetentionMs;
  if (c.inactivityTimeoutMs !== undefined) next.inactivityTimeoutMs = c.inactivityTimeoutMs;
  if (c.abortTimeoutMs !== undefined) next.abortTimeoutMs = c.abortTimeoutMs;
  if (c.retryPolicy !== undefined) next.retryPolicy = { ...svc.retryPolicy, ...c.retryPolicy };
  const wf = c.workflowCompletionRetentionMs;
  if (wf !== undefined)
    next.handlers = svc.handlers.map((h) => (h.ty === 'WORKFLOW' ? { ...h, workflowCompletionRetentionMs: wf } : h));
  return next;
}

/** The discovered services as the next revision of each (advancing `revisions`), exposed by `deploymentId`. */
function newRevisions(
  discovered: DiscoveredService[],
  deploymentId: string,
  revisions: Map<string, number>,
): ServiceSchema[] {
  return discovered.map((svc) => {
    const revision = (revisions.get(svc.name) ?? 0) + 1;
    revisions.set(svc.name, revision);
    return toServiceSchema(svc, revision, deploymentId);
  });
}

function toServiceSchema(svc: DiscoveredService, revision: number, deploymentId: string): ServiceSchema {
  const handlers = svc.handlers.map((h) => {
    const raw = h as HandlerSchema & { ingressPrivate?: boolean };
    const { ingressPrivate, ...rest } = raw;
    const out: HandlerSchema = { ...rest };
    if (ingressPrivate === true) out.public = false;
    return out;
  });
  const raw = svc as DiscoveredService & { ingressPrivate?: boolean };
  const { ingressPrivate, ...rest } = raw;
  const isPublic = rest.public !== false && ingressPrivate !== true;
  return { ...rest, handlers, public: isPublic, revision, deploymentId };
}

/** Turns whatever discovery threw into a SchemaError, keeping its status and message. */
function toSchemaError(err: unknown): SchemaError {
  if (err instanceof SchemaError) return err;
  const e = err as { status?: unknown; message?: unknown; restateCode?: unknown; code?: unknown };
  const status = typeof e?.status === 'number' && e.status >= 400 && e.status <= 599 ? e.status : 500;
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err);
  const code =
    typeof e?.restateCode === 'string'
      ? e.restateCode
      : typeof e?.code === 'string' && /^META\d+$/.test(e.code)
        ? e.code
        : undefined;
  return new SchemaError(status, message, code);
}

/** Validates and normalizes a deployment uri (absolute http/https); 400 with Restate's wording otherwise. */
export function normalizeUri(raw: unknown): string {
  if (typeof raw !== 'string') throw new SchemaError(400, "The request field 'uri' is invalid. Reason: not a string");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SchemaError(
      400,
      `The request field 'uri' is invalid. Reason: The provided uri ${raw} is not absolute, only absolute URIs can be used.`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SchemaError(
      400,
      `The request field 'uri' is invalid. Reason: The provided uri ${raw} has an unsupported scheme, only http and https can be used.`,
    );
  }
  return url.href;
}
