// The cluster-wide settings an operator changes at run time (`stead ctl config set`), kept under one metadata key.
import type { MetadataClient } from '@stead/metadata';
import { ControllerError } from './errors.ts';
import { isPreconditionFailed } from './nodes.ts';

export const CLUSTER_CONFIG_KEY = 'cluster/config';

/** Format number of the record; a reader refuses any other. */
const CONFIG_FORMAT = 1;

/**
 * How many copies, and over what: `{node: 2}` = two distinct nodes; `{zone: 2}` = two copies in two distinct
 * zones (locations). Same shape as the log's ReplicationProperty, so log replication is passed on unchanged.
 */
export interface Replication {
  scope: 'node' | 'zone';
  count: number;
}

export interface ClusterConfig {
  /** Workers holding a replica of each partition (one leads). */
  partitionReplication: Replication;
  /** Copies of each record of a new log segment. */
  logReplication: Replication;
}

/**
 * Parses a replication property as an operator writes it: `2` (= `{node: 2}`), `node:2`, `zone:2`, `{zone: 2}`,
 * `{"zone": 2}`. Throws a ControllerError `invalid-config` naming the text otherwise.
 */
export function parseReplication(text: string): Replication {
  const t = text.trim();
  const bare = /^(\d+)$/.exec(t);
  const m = bare ? undefined : /^\{?\s*"?(node|zone)"?\s*:\s*(\d+)\s*\}?$/.exec(t);
  const scope = bare ? 'node' : m?.[1];
  const count = Number(bare ? bare[1] : m?.[2]);
  if ((scope !== 'node' && scope !== 'zone') || !Number.isInteger(count) || count < 1 || count > 16)
    throw new ControllerError(
      'invalid-config',
      `replication '${text}': expected a count 1..16, or {node: N} or {zone: N} (e.g. 2, node:3, {zone: 2})`,
    );
  return { scope, count };
}

export function formatReplication(r: Replication): string {
  return `{${r.scope}: ${r.count}}`;
}

function checkReplication(key: string, what: string, v: unknown): Replication {
  const r = v as Partial<Replication> | undefined;
  if (
    !r ||
    (r.scope !== 'node' && r.scope !== 'zone') ||
    !Number.isInteger(r.count) ||
    (r.count as number) < 1 ||
    (r.count as number) > 16
  )
    throw new ControllerError('corrupt-record', `metadata key '${key}': ${what} is not a replication property`);
  return { scope: r.scope, count: r.count as number };
}

export function encodeClusterConfig(c: ClusterConfig): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ format: CONFIG_FORMAT, ...c }));
}

export function decodeClusterConfig(bytes: Uint8Array, key = CLUSTER_CONFIG_KEY): ClusterConfig {
  let v: { format?: unknown; partitionReplication?: unknown; logReplication?: unknown };
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ControllerError('corrupt-record', `metadata key '${key}' is not JSON (${(e as Error).message})`);
  }
  if (v.format !== CONFIG_FORMAT)
    throw new ControllerError('corrupt-record', `metadata key '${key}' has format ${String(v.format)}, expected 1`);
  return {
    partitionReplication: checkReplication(key, 'partitionReplication', v.partitionReplication),
    logReplication: checkReplication(key, 'logReplication', v.logReplication),
  };
}

/** The cluster config with its version; undefined before anyone wrote it. */
export async function readClusterConfig(
  client: Pick<MetadataClient, 'get'>,
): Promise<{ value: ClusterConfig; version: number } | undefined> {
  const v = await client.get(CLUSTER_CONFIG_KEY);
  return v ? { value: decodeClusterConfig(v.value), version: v.version } : undefined;
}

/**
 * Writes the config when none exists yet (the first admin's flags become the cluster's settings); returns the
 * config that holds afterwards.
 */
export async function initClusterConfig(client: MetadataClient, initial: ClusterConfig): Promise<ClusterConfig> {
  return updateClusterConfig(client, (c) => c ?? initial);
}

/** Reads the config, changes it and writes it back conditionally until the write wins; returns what was written. */
export async function updateClusterConfig(
  client: MetadataClient,
  change: (c: ClusterConfig | undefined) => ClusterConfig,
): Promise<ClusterConfig> {
  for (;;) {
    const cur = await client.get(CLUSTER_CONFIG_KEY);
    const before = cur ? decodeClusterConfig(cur.value) : undefined;
    const next = change(before);
    if (before && JSON.stringify(before) === JSON.stringify(next)) return before;
    try {
      await client.put(
        CLUSTER_CONFIG_KEY,
        encodeClusterConfig(next),
        cur ? { kind: 'matches-version', version: cur.version } : { kind: 'does-not-exist' },
      );
      return next;
    } catch (e) {
      if (!isPreconditionFailed(e)) throw e;
    }
  }
}

/** The cluster config as last seen through a watch of its key (see `followClusterConfig`). */
export interface ClusterConfigFollower {
  /** Undefined until the key has a value that decodes. */
  current(): ClusterConfig | undefined;
  close(): void;
}

/**
 * Follows the cluster config through a watch of its key, so that a `stead ctl config set` reaches every process
 * within a watch event. A value that does not decode is reported to `onError` and the previous one kept.
 */
export function followClusterConfig(
  client: Pick<MetadataClient, 'watch'>,
  onError: (e: unknown) => void = () => {},
): ClusterConfigFollower {
  let current: ClusterConfig | undefined;
  const handle = client.watch(CLUSTER_CONFIG_KEY, 0, (e) => {
    if (e.deleted) return;
    try {
      current = decodeClusterConfig(e.value);
    } catch (err) {
      onError(err);
    }
  });
  return { current: () => current, close: () => handle.close() };
}
