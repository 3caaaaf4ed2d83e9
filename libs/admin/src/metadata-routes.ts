// `GET/PUT /cluster/metadata/{key}` and `GET /cluster/metadata/members`: the metadata store as an operator reads
// and repairs it (`stead ctl metadata …`), served the same by the cluster admin and the one-process server.
import { type MetadataClient, Precondition } from '@stead/metadata';
import { SCHEMA_KEY } from './metadata-store.ts';
import { SchemaError } from './registry.ts';
import { type AdminReply, type AdminRouter, errorReply } from './router.ts';

/** The Raft members of the metadata store and its leader, as `GET /cluster/metadata/members` answers. */
export interface MetadataMembers {
  leader?: { id: string; address: string };
  term: number;
  members: Array<{ id: string; address: string; learner: boolean }>;
}

export interface MetadataRouteOptions {
  client: MetadataClient;
  /** The members; undefined where the store has none (the one-process server's embedded store): 400 then. */
  members?: () => Promise<MetadataMembers & { clusterName?: string }>;
  /** Named by `GET /cluster-health` when `members` gives no name (default `stead`). */
  clusterName?: string;
}

/** Keys the cluster itself keeps (a put there needs `force`): its records, the log chains, the schema. */
export function isClusterKey(key: string): boolean {
  return key.startsWith('cluster/') || key.startsWith('logs/') || key === SCHEMA_KEY;
}

/** The value as text when it is UTF-8 without control characters (other than tab and newlines), else base64. */
export function renderValue(bytes: Uint8Array): { encoding: 'utf8' | 'base64'; value: string } {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
    if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return { encoding: 'utf8', value: text };
  } catch {
    // not UTF-8
  }
  return { encoding: 'base64', value: Buffer.from(bytes).toString('base64') };
}

interface PutBody {
  value: Uint8Array;
  version?: number;
  force: boolean;
}

function parsePut(body: unknown): PutBody {
  const b = body as Record<string, unknown> | null;
  const bad = (why: string) => new SchemaError(400, `metadata put: ${why}`);
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw bad('expected a JSON object');
  if (typeof b.value !== 'string') throw bad('value: expected a string');
  const encoding = b.encoding ?? 'utf8';
  if (encoding !== 'utf8' && encoding !== 'base64') throw bad("encoding: expected 'utf8' or 'base64'");
  if (b.version !== undefined && (!Number.isInteger(b.version) || (b.version as number) < 0))
    throw bad('version: expected a whole number (0: the key must not exist)');
  if (b.force !== undefined && typeof b.force !== 'boolean') throw bad('force: expected a boolean');
  const value = encoding === 'utf8' ? new TextEncoder().encode(b.value) : Buffer.from(b.value, 'base64');
  return { value, version: b.version as number | undefined, force: b.force === true };
}

export function mountMetadataRoutes(router: AdminRouter, opts: MetadataRouteOptions): void {
  const { client } = opts;
  // Restate's (deprecated) summary: the cluster's name and the metadata store's Raft members (null without Raft).
  // Members are Stead's node ids (strings), where Restate numbers its nodes.
  router.get('/cluster-health', async (): Promise<AdminReply> => {
    if (!opts.members)
      return { status: 200, json: { cluster_name: opts.clusterName ?? 'stead', metadata_cluster_health: null } };
    const m = await opts.members();
    return {
      status: 200,
      json: {
        cluster_name: m.clusterName ?? opts.clusterName ?? 'stead',
        metadata_cluster_health: { members: m.members.filter((x) => !x.learner).map((x) => x.id) },
      },
    };
  });
  // Before `:key`, which would take "members" as a key.
  router.get('/cluster/metadata/members', async (): Promise<AdminReply> => {
    if (!opts.members)
      return errorReply(400, 'not a cluster: the one-process server embeds its metadata store (no Raft members)');
    return { status: 200, json: await opts.members() };
  });
  router.get('/cluster/metadata/:key', async (req): Promise<AdminReply> => {
    const key = req.params.key;
    const v = await client.get(key);
    if (!v) return errorReply(404, `metadata key '${key}' not found`);
    return { status: 200, json: { key, version: v.version, ...renderValue(v.value) } };
  });
  router.add('PUT', '/cluster/metadata/:key', async (req): Promise<AdminReply> => {
    const key = req.params.key;
    const put = parsePut(await req.json());
    if (isClusterKey(key) && !put.force)
      return errorReply(
        409,
        `metadata key '${key}' is one the cluster keeps itself; writing it can break the cluster (force to write anyway)`,
      );
    const precondition =
      put.version === undefined
        ? Precondition.none
        : put.version === 0
          ? Precondition.doesNotExist
          : Precondition.matchesVersion(put.version);
    try {
      const version = await client.put(key, put.value, precondition);
      return { status: 200, json: { key, version } };
    } catch (e) {
      const err = e as { code?: unknown; currentVersion?: unknown };
      if (err.code !== 'precondition-failed') throw e;
      const now = err.currentVersion === undefined ? '' : ` (it is at version ${String(err.currentVersion)})`;
      return errorReply(409, `metadata key '${key}' is not at version ${put.version}${now}; nothing written`);
    }
  });
}
