import type {
  ChainStore,
  Placement,
  SequencerApi,
  SequencerDirectory,
  TailSink,
  TailStream,
} from '../bifrost/bifrost.ts';
import type { LogChain, SequencerRef } from '../bifrost/chain.ts';
import {
  type LogServerApi,
  type LogServerDirectory,
  LogUnavailableError,
  type ReplicationProperty,
} from '../replicated/types.ts';
import { type LogNodesConfig, loadNodes } from './nodes.ts';
import { chooseNodeset, eligibleLogServers } from './placement.ts';

type Closable = { close?: () => void };

/** A ReadStream opened once the client is known (pause, resume and cancel before that are remembered). */
function laterStream(client: Promise<SequencerApi>, logletId: string, from: bigint, sink: TailSink): TailStream {
  let stream: TailStream | undefined;
  let paused = false;
  let cancelled = false;
  client.then(
    (c) => {
      if (cancelled) return;
      if (!c.readStream) {
        sink.end({ kind: 'closed', error: new LogUnavailableError('this sequencer client cannot stream') });
        return;
      }
      stream = c.readStream(logletId, from, sink);
      if (paused) stream.pause();
    },
    (e: unknown) => {
      if (!cancelled) sink.end({ kind: 'closed', error: e instanceof Error ? e : new Error(String(e)) });
    },
  );
  return {
    pause: () => {
      paused = true;
      stream?.pause();
    },
    resume: () => {
      paused = false;
      stream?.resume();
    },
    cancel: () => {
      cancelled = true;
      stream?.cancel();
    },
  };
}

export interface ClusterDirectoryOptions {
  metadata: ChainStore;
  connectLogServer: (address: string) => LogServerApi & Closable;
  connectSequencer: (address: string) => SequencerApi & Closable;
  /** Replication of new segments; a function is asked at every placement (a live config change applies). */
  replication: ReplicationProperty | (() => ReplicationProperty);
  /** Use at most this many log servers per segment (all eligible ones by default), spread by the log's id. */
  nodesetSize?: number;
  /** Log servers known to be down (the rebalancer's probes): no new segment uses them. */
  failedLogServers?: () => ReadonlySet<string>;
}

/**
 * Resolves node ids to gRPC clients through the nodes config in the metadata store (re-read when an id is
 * unknown), and places new segments: the next registered sequencer that has not just failed and is not
 * draining, and the eligible log servers (registered, not draining, not known failed; see placement.ts).
 */
export class ClusterDirectory {
  private readonly o: ClusterDirectoryOptions;
  private nodes: LogNodesConfig = { logServers: {}, sequencers: {} };
  private readonly lsClients = new Map<string, LogServerApi & Closable>();
  private readonly seqClients = new Map<string, SequencerApi & Closable>();
  private readonly suspects = new Map<string, number>();
  private rotation = 0;

  constructor(opts: ClusterDirectoryOptions) {
    this.o = opts;
  }

  async refresh(): Promise<LogNodesConfig> {
    this.nodes = await loadNodes(this.o.metadata);
    return this.nodes;
  }

  private async address(kind: 'logServers' | 'sequencers', id: string): Promise<string> {
    let a = this.nodes[kind][id]?.address;
    if (!a) a = (await this.refresh())[kind][id]?.address;
    if (!a)
      throw new LogUnavailableError(`${kind === 'logServers' ? 'log server' : 'sequencer'} ${id} is not registered`);
    return a;
  }

  /** One client per node id and address: a node that re-registers at a new address gets a new client. */
  private async client<C>(
    kind: 'logServers' | 'sequencers',
    id: string,
    clients: Map<string, C>,
    connect: (address: string) => C,
  ): Promise<C> {
    const addr = await this.address(kind, id);
    const key = `${id}@${addr}`;
    let c = clients.get(key);
    if (!c) {
      c = connect(addr);
      clients.set(key, c);
    }
    return c;
  }

  private logServer(id: string): Promise<LogServerApi> {
    return this.client('logServers', id, this.lsClients, (a) => this.o.connectLogServer(a));
  }

  private sequencer(id: string): Promise<SequencerApi> {
    return this.client('sequencers', id, this.seqClients, (a) => this.o.connectSequencer(a));
  }

  readonly logServers: LogServerDirectory = (id) => ({
    store: async (r) => (await this.logServer(id)).store(r),
    getRecords: async (r) => (await this.logServer(id)).getRecords(r),
    getDigest: async (r) => (await this.logServer(id)).getDigest(r),
    waitForTail: async (r, s) => (await this.logServer(id)).waitForTail(r, s),
    seal: async (r) => (await this.logServer(id)).seal(r),
    trim: async (r) => (await this.logServer(id)).trim(r),
  });

  readonly sequencers: SequencerDirectory = (ref: SequencerRef) => ({
    append: async (l, p, c) => (await this.sequencer(ref.id)).append(l, p, c),
    tail: async (l) => (await this.sequencer(ref.id)).tail(l),
    readStream: (l, from, sink) => laterStream(this.sequencer(ref.id), l, from, sink),
  });

  /**
   * Placement of a new segment (BifrostOptions.place): the next dedicated sequencer that has not just failed and
   * is not draining (a worker's colocated one only when there is none), and the eligible log servers.
   */
  place = async (chain: LogChain | undefined, failed?: SequencerRef): Promise<Placement> => {
    const nodes = await this.refresh();
    const now = Date.now();
    if (failed) this.suspects.set(failed.id, now + 10_000);
    // A draining sequencer is leaving: it gets no new segment.
    const seqs = Object.entries(nodes.sequencers)
      .filter(([, s]) => !s.draining)
      .sort(([a], [b]) => a.localeCompare(b));
    if (seqs.length === 0) throw new LogUnavailableError('no sequencer is registered (that is not draining)');
    const healthy = seqs.filter(
      ([id, s]) =>
        (this.suspects.get(id) ?? 0) <= now && !(failed && id === failed.id && s.instance === failed.instance),
    );
    const dedicated = healthy.filter(([, s]) => !s.colocated);
    const pool = dedicated.length > 0 ? dedicated : healthy.length > 0 ? healthy : seqs;
    const [id, s] = pool[this.rotation++ % pool.length]!;
    return this.placementWith(nodes, { id, instance: s.instance }, chain?.logId);
  };

  /**
   * Placement of a new segment sequenced by `sequencer` (a leader moving its partition's log to itself);
   * `logId` spreads the nodeset when `nodesetSize` is set.
   */
  placeAt = async (sequencer: SequencerRef, logId?: string): Promise<Placement> =>
    this.placementWith(await this.refresh(), sequencer, logId);

  /** The replication new segments get now. */
  replication(): ReplicationProperty {
    const r = this.o.replication;
    return typeof r === 'function' ? r() : r;
  }

  private placementWith(nodes: LogNodesConfig, sequencer: SequencerRef, logId: string | undefined): Placement {
    const replication = this.replication();
    const eligible = eligibleLogServers(nodes, this.o.failedLogServers?.());
    return { sequencer, nodeset: chooseNodeset(eligible, replication, logId, this.o.nodesetSize), replication };
  }

  close(): void {
    for (const c of this.lsClients.values()) c.close?.();
    for (const c of this.seqClients.values()) c.close?.();
    this.lsClients.clear();
    this.seqClients.clear();
  }
}
