// `POST /cluster/snapshots` (take snapshots now) and `GET /cluster/snapshots` (list the archived ones), for the
// admin of a cluster (which asks the workers) and for the one-process server (which takes them itself).
import { AdminError, type AdminReply, type AdminRouter } from '@stead/admin';
import type { SnapshotInfo, SnapshotService, SnapshotsAnswer, WorkerClients } from '@stead/cluster';
import type { PartitionTable } from '@stead/controller';

/** The JSON of one snapshot in the admin API (offsets as decimal strings). */
export function renderSnapshot(s: SnapshotInfo) {
  return {
    partition: s.partition,
    id: s.id,
    applied_offset: String(s.appliedOffset),
    created_at: s.createdAt,
    node: s.node,
    size_bytes: s.sizeBytes,
    entries: s.entries,
    sha256: s.sha256,
    duration_ms: s.durationMs,
    location: s.location,
  };
}

/** In partition order (snapshots are taken side by side and come back in any order). */
function render(a: SnapshotsAnswer) {
  return {
    snapshots: a.snapshots.map(renderSnapshot).sort((x, y) => x.partition - y.partition),
    failures: a.failures.sort((x, y) => x.partition - y.partition),
  };
}

/** `partitions` of a body or query: a list of partition numbers below `count`, or every partition. */
function partitionsOf(value: unknown, count: number): number[] {
  if (value === undefined || value === null) return Array.from({ length: count }, (_, p) => p);
  const list = Array.isArray(value) ? value : String(value).split(',');
  if (list.length === 0) throw new AdminError(400, 'partitions: expected at least one partition');
  return [
    ...new Set(
      list.map((v) => {
        const n = typeof v === 'number' ? v : /^\d+$/.test(String(v).trim()) ? Number(String(v).trim()) : Number.NaN;
        if (!Number.isInteger(n) || n < 0 || n >= count)
          throw new AdminError(400, `partitions: ${JSON.stringify(v)} is not a partition (0 to ${count - 1})`);
        return n;
      }),
    ),
  ].sort((a, b) => a - b);
}

/**
 * Mounts the snapshot routes over `service` (what takes and lists snapshots) for `partitions()` partitions. A
 * creation that failed for some partition answers 200 with those in `failures`; when every one failed, 503.
 */
export function mountSnapshotRoutes(router: AdminRouter, service: SnapshotService, partitions: () => number): void {
  router.post('/cluster/snapshots', async (req): Promise<AdminReply> => {
    const text = (await req.body()).toString('utf8');
    let body: { partitions?: unknown } = {};
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text) as { partitions?: unknown };
      } catch {
        throw new AdminError(400, 'expected a JSON object like {"partitions": [0, 3]} (or no body: every partition)');
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body))
        throw new AdminError(400, 'expected a JSON object like {"partitions": [0, 3]}');
    }
    const answer = render(await service.create(partitionsOf(body.partitions, partitions())));
    if (answer.snapshots.length === 0 && answer.failures.length > 0) {
      const first = answer.failures[0]!;
      const message = `no snapshot could be taken (${answer.failures.length} failed; partition ${first.partition}: ${first.error})`;
      return { status: 503, json: { message, restate_code: null, ...answer } };
    }
    return { status: 200, json: answer };
  });
  router.get('/cluster/snapshots', async (req): Promise<AdminReply> => {
    const answer = await service.list(partitionsOf(req.query.get('partition') ?? undefined, partitions()));
    return { status: 200, json: render(answer) };
  });
}

/** How long a worker may take to snapshot its partitions (a large store takes a while to write and upload). */
const CREATE_TIMEOUT_MS = 10 * 60_000;
const LIST_TIMEOUT_MS = 30_000;

/**
 * The cluster's snapshot service as the admin sees it: a snapshot is taken by the partition's leader (asked over
 * the worker API), a listing is read by any worker that answers (they share the bucket).
 */
export function clusterSnapshots(workers: WorkerClients, cluster: () => Promise<ClusterView>): SnapshotService {
  return {
    create: async (partitions) => {
      const c = await cluster();
      const byLeader = new Map<string, number[]>();
      const failures: SnapshotsAnswer['failures'] = [];
      for (const p of partitions) {
        const leader = c.table?.placements.find((pl) => pl.partition === p)?.leader;
        const address = leader === undefined ? undefined : c.addresses.get(leader);
        if (address === undefined) failures.push({ partition: p, error: 'the partition has no leader now' });
        else byLeader.set(address, [...(byLeader.get(address) ?? []), p]);
      }
      const answers = await Promise.all(
        [...byLeader].map(async ([address, ps]) => {
          try {
            return await workers.get(address).createSnapshots(ps, CREATE_TIMEOUT_MS);
          } catch (e) {
            return { snapshots: [], failures: ps.map((partition) => ({ partition, error: errorText(e) })) };
          }
        }),
      );
      return {
        snapshots: answers.flatMap((a) => a.snapshots),
        failures: [...failures, ...answers.flatMap((a) => a.failures)],
      };
    },
    list: async (partitions) => {
      const c = await cluster();
      let last: unknown = new AdminError(503, 'no worker to read the snapshots through');
      for (const address of new Set(c.addresses.values())) {
        try {
          return await workers.get(address).listSnapshots(partitions, LIST_TIMEOUT_MS);
        } catch (e) {
          last = e;
        }
      }
      throw last instanceof AdminError ? last : new AdminError(503, `cannot list the snapshots: ${errorText(last)}`);
    },
  };
}

/** What `clusterSnapshots` needs to know: the partition table and the workers' addresses by id. */
export interface ClusterView {
  table: PartitionTable | undefined;
  addresses: Map<string, string>;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
