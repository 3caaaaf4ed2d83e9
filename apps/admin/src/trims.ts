// The admin's part in log trimming: while this process runs the active controller, it trims each partition's
// log below what every replica can recover from (planTrims in @stead/controller decides; the workers' pings say
// what each replica stored and which snapshots are archived). Exports the trim point, the safe point and the
// records kept of each partition log.
import { partitionLogId } from '@stead/cluster';
import { planTrims, type ReplicaReport, readPartitionTable, type TrimHistory } from '@stead/controller';
import type { Bifrost } from '@stead/log';
import type { GrpcMetadataClient } from '@stead/metadata';
import { type createRegistry, type NodeLifecycle, readLabeledGauge } from '@stead/runtime';

/** How often the active controller plans trims. */
const ROUND_MS = 1_000;

/** What the workers said in their last answered pings: per worker, when, and its replicas' figures. */
export class ReplicaReports {
  private readonly byNode = new Map<string, { atMs: number; partitions: Map<number, ReplicaReport> }>();

  record(node: string, partitions: Array<{ partition: number; durableOffset: bigint; archivedOffset?: bigint }>) {
    this.byNode.set(node, {
      atMs: Date.now(),
      partitions: new Map(
        partitions.map((p) => [
          p.partition,
          {
            durableOffset: p.durableOffset,
            ...(p.archivedOffset === undefined ? {} : { archivedOffset: p.archivedOffset }),
          },
        ]),
      ),
    });
  }

  /** The reports of workers that answered within `maxAgeMs`. */
  fresh(maxAgeMs: number): Map<string, Map<number, ReplicaReport>> {
    const now = Date.now();
    const out = new Map<string, Map<number, ReplicaReport>>();
    for (const [node, r] of this.byNode) if (now - r.atMs <= maxAgeMs) out.set(node, r.partitions);
    return out;
  }
}

interface LogFigures {
  trimPoint: bigint;
  safe: bigint;
  tail: bigint;
  /** The newest archived offset a replica reported (undefined: none reported). */
  archived: bigint | undefined;
}

export function startLogTrimming(deps: {
  node: NodeLifecycle;
  metadata: GrpcMetadataClient;
  bifrost: Bifrost;
  registry: ReturnType<typeof createRegistry>;
  /** Whether this process's controller is the active one (only it trims). */
  active: () => boolean;
  reports: ReplicaReports;
  /** A worker whose last answer is older than this counts as silent. */
  nodeFailureTimeoutMs: number;
  trimDelayMs: number;
  /** See TrimInput.trimWithoutSnapshots. */
  trimWithoutSnapshots: boolean;
}): void {
  const { node, metadata, bifrost } = deps;
  const history: TrimHistory = new Map();
  const figures = new Map<number, LogFigures>();
  let stopped = false;
  let wasActive = false;
  const round = async () => {
    if (!deps.active()) {
      // A new tenure starts afresh: a point counts as safe from when this process saw it.
      if (wasActive) history.clear();
      wasActive = false;
      figures.clear();
      return;
    }
    wasActive = true;
    const table = (await readPartitionTable(metadata))?.value;
    if (!table) return;
    // One read of each chain per round: `tail` refreshes it, and the trim point is read from the refreshed copy.
    const tails = new Map<number, bigint | undefined>();
    const partitions = await Promise.all(
      table.placements.map(async (pl) => {
        const logId = partitionLogId(pl.partition);
        tails.set(pl.partition, await bifrost.tail(logId).catch(() => undefined));
        return {
          partition: pl.partition,
          replicas: pl.replicas,
          trimPoint: (await bifrost.chain(logId))?.chain.trimPoint ?? 0n,
        };
      }),
    );
    const plan = planTrims({
      nowMs: Date.now(),
      trimDelayMs: deps.trimDelayMs,
      trimWithoutSnapshots: deps.trimWithoutSnapshots,
      partitions,
      reports: deps.reports.fresh(deps.nodeFailureTimeoutMs),
      history,
    });
    const trimmedTo = new Map<number, bigint>();
    for (const t of plan.trims) {
      const logId = partitionLogId(t.partition);
      try {
        const chain = await bifrost.trim(logId, t.upTo);
        if (chain) trimmedTo.set(t.partition, chain.trimPoint);
        node.log('info', 'log trimmed', { log: logId, below: String(chain?.trimPoint ?? t.upTo) });
      } catch (e) {
        node.log('warn', 'log trim failed; trying again next round', { log: logId, error: String(e) });
      }
    }
    for (const s of plan.safe) {
      const trimPoint = trimmedTo.get(s.partition) ?? partitions.find((p) => p.partition === s.partition)!.trimPoint;
      figures.set(s.partition, {
        trimPoint,
        safe: s.safe,
        tail: tails.get(s.partition) ?? figures.get(s.partition)?.tail ?? trimPoint,
        archived: s.archived,
      });
    }
  };
  const loop = async () => {
    while (!stopped) {
      try {
        await round();
      } catch (e) {
        node.log('warn', 'log trim round failed', { error: String(e) });
      }
      await new Promise((r) => setTimeout(r, ROUND_MS).unref());
    }
  };
  const running = loop();
  node.onClose('log trimming', async () => {
    stopped = true;
    await running;
  });
  const per = (pick: (f: LogFigures) => bigint) => () =>
    [...figures].map(([p, f]) => [String(p), Number(pick(f))] as [string, number]);
  readLabeledGauge(
    deps.registry,
    'stead_log_trim_point',
    'Offset below which the log of each partition is trimmed (from the active controller)',
    'partition',
    per((f) => f.trimPoint),
  );
  readLabeledGauge(
    deps.registry,
    'stead_log_trim_safe_point',
    'Offset below which the log of each partition may be trimmed now (snapshots and replicas allowing)',
    'partition',
    per((f) => f.safe),
  );
  readLabeledGauge(
    deps.registry,
    'stead_log_archived_offset',
    'Applied offset of the oldest kept snapshot of each partition, as the workers report it (-1: none known)',
    'partition',
    per((f) => f.archived ?? -1n),
  );
  readLabeledGauge(
    deps.registry,
    'stead_log_records',
    'Records kept in the log of each partition (tail minus trim point)',
    'partition',
    per((f) => (f.tail > f.trimPoint ? f.tail - f.trimPoint : 0n)),
  );
}
