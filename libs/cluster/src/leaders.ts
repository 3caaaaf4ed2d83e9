import {
  listNodes,
  type NodeRecord,
  type PartitionTable,
  PartitionTableWatcher,
  type Versioned,
} from '@stead/controller';
import type { MetadataClient } from '@stead/metadata';
import type { Logger } from '@stead/observability';
import { readPartitionCount } from '@stead/partition';
import type { LeaderDirectory } from './remote-backend.ts';

/** The log of partition `p` in the virtual log (one log per partition). */
export function partitionLogId(partition: number): string {
  return `partition-${partition}`;
}

/** The logs of partitions 0 … partitions-1. */
export function partitionLogIdsOf(partitions: number): string[] {
  return Array.from({ length: partitions }, (_, p) => partitionLogId(p));
}

/** The logs of every partition, by the partition count in the metadata store (none before it is fixed). */
export async function partitionLogIds(client: Pick<MetadataClient, 'get'>): Promise<string[]> {
  return partitionLogIdsOf((await readPartitionCount(client)) ?? 0);
}

export interface TableLeadersOptions {
  client: MetadataClient;
  log?: Logger;
  /** Re-reads the node records this often (default 5 s), besides on every table change. */
  nodesRefreshMs?: number;
}

/**
 * Where partitions are led, from the partition table (watched) and the node records (their gRPC addresses). The
 * ingress and admin forward requests through it; `onChange` fires after every table change once the addresses
 * of the table's nodes are known.
 */
export class TableLeaders implements LeaderDirectory {
  private readonly o: TableLeadersOptions;
  private readonly watcher: PartitionTableWatcher;
  private table: Versioned<PartitionTable> | undefined;
  /** Leader node id per partition, from `table`. */
  private leaderIds: (string | undefined)[] = [];
  private nodes = new Map<string, NodeRecord>();
  private readonly listeners = new Set<() => void>();
  private readonly timer: NodeJS.Timeout;
  private refreshing: Promise<void> | undefined;

  private constructor(opts: TableLeadersOptions) {
    this.o = opts;
    this.watcher = PartitionTableWatcher.start({ client: opts.client, log: opts.log });
    this.watcher.onChange((t) => {
      this.setTable(t);
      void this.refreshNodes();
    });
    this.timer = setInterval(() => void this.refreshNodes(), opts.nodesRefreshMs ?? 5_000);
    this.timer.unref();
  }

  /** Starts following the table; resolves once a table exists (the controller writes the first one). */
  static async start(opts: TableLeadersOptions): Promise<TableLeaders> {
    const t = new TableLeaders(opts);
    try {
      const first = await t.watcher.next();
      if (t.table === undefined) t.setTable(first);
      await t.refreshNodes();
      return t;
    } catch (e) {
      t.close();
      throw e;
    }
  }

  private setTable(t: Versioned<PartitionTable>): void {
    this.table = t;
    const ids: (string | undefined)[] = new Array(t.value.partitions).fill(undefined);
    for (const p of t.value.placements) if (p.partition < ids.length && p.leader) ids[p.partition] = p.leader;
    this.leaderIds = ids;
  }

  private refreshNodes(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const nodes = await listNodes(this.o.client);
        this.nodes = new Map(nodes.map((n) => [n.id, n]));
      } catch (e) {
        this.o.log?.('warn', 'cannot read the node records; keeping the last ones', { error: (e as Error).message });
      } finally {
        this.refreshing = undefined;
      }
      for (const l of this.listeners) l();
    })();
    return this.refreshing;
  }

  get partitions(): number {
    return this.table?.value.partitions ?? 0;
  }

  /** The table as last seen. */
  current(): Versioned<PartitionTable> | undefined {
    return this.table;
  }

  leader(partition: number): { nodeId: string; address: string } | undefined {
    const nodeId = this.leaderIds[partition];
    if (!nodeId) return undefined;
    const node = this.nodes.get(nodeId);
    if (!node) {
      void this.refreshNodes();
      return undefined;
    }
    return { nodeId, address: node.address };
  }

  /** Every partition has a leader whose address is known. */
  get complete(): boolean {
    const n = this.partitions;
    if (n === 0) return false;
    for (let p = 0; p < n; p++) if (this.leader(p) === undefined) return false;
    return true;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.timer);
    this.watcher.close();
    this.listeners.clear();
  }
}
