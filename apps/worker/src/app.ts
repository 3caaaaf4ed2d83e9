import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { MetadataSchemaStore, SchemaRegistry } from '@stead/admin';
import {
  invocationDefaults,
  partitionLogId,
  requestIdentity,
  serveWorker,
  snapshotRepository,
  snapshotService,
  type WorkerBackend,
} from '@stead/cluster';
import {
  followClusterConfig,
  type PartitionTable,
  PartitionTableWatcher,
  registerNode,
  type Versioned,
} from '@stead/controller';
import { resolveNodeLocation } from '@stead/kubernetes';
import {
  addSequencerService,
  Bifrost,
  ClusterDirectory,
  GrpcLogServerClient,
  GrpcSequencerClient,
  type Placement,
  realTimers,
  registerAppendMetrics,
  registerSequencerMetrics,
  SequencerHost,
  type SequencerRef,
  updateNodes,
} from '@stead/log';
import { GrpcMetadataClient } from '@stead/metadata';
import {
  encodeCommand,
  openPartitionStorage,
  PartitionHost,
  PartitionSnapshots,
  registerHostMetrics,
  registerInvocationMetrics,
  registerSnapshotMetrics,
  SupersededError,
  storedAppliedOffset,
} from '@stead/partition';
import {
  addressList,
  createRegistry,
  NodeLifecycle,
  type RunningNode,
  readGauge,
  requireNodeId,
  resolveAdvertisedAddress,
  StartupError,
} from '@stead/runtime';
import type { StorageEngine } from '@stead/storage';
import type { WorkerSettings } from './settings.ts';

type Logger = NodeLifecycle['log'];

/** How often (in applied records) a replica syncs its store, making its applied offset durable. */
const SYNC_EVERY_RECORDS = 1000;
/** Wait before applying the partition table again after a step failed (leading, adding a replica). */
const RETRY_MS = 500;

/**
 * Wires config → metadata client → schema (followed) → the virtual log → a PartitionHost whose partitions follow
 * the partition table: a replica named in the table follows its partition's log (hot standby); the leader named
 * there leads with the table's epoch. Serves the worker API (forwarded requests, pings) over gRPC.
 */
export async function startWorker(s: WorkerSettings): Promise<RunningNode> {
  /** Set at shutdown: pings say so, and the controller moves this worker's leaderships and replicas away. */
  let draining = false;
  const id = requireNodeId(s.nodeId);
  const addresses = addressList(s.metadataAddress);
  if (addresses.length === 0) throw new StartupError('--metadata-address: no metadata store address given');
  const instance = randomUUID();
  const node = new NodeLifecycle({ component: 'worker', fields: { node: id }, shutdownTimeoutMs: s.shutdownTimeout });
  // Invocation requests are signed here (the admin signs discovery); an unusable key refuses the start.
  const requestSigner = requestIdentity(s, node.log);
  const location = await resolveNodeLocation(s.location, { log: node.log });
  const registry = createRegistry({ component: 'worker', node: id });
  const metadata = new GrpcMetadataClient({ addresses });
  node.onClose('metadata client', () => metadata.close());
  const schema = await node.start(
    () => SchemaRegistry.open({ store: new MetadataSchemaStore({ client: metadata }) }),
    'cannot read the schema from the metadata store',
  );
  node.onClose('schema', () => schema.close());
  // New segments take the log replication of the cluster config (`stead ctl config set`), this flag until it exists.
  const config = followClusterConfig(metadata, (e) =>
    node.log('warn', 'the cluster config does not decode; keeping the last one', { error: e }),
  );
  node.onClose('cluster config', () => config.close());
  const directory = new ClusterDirectory({
    metadata,
    connectLogServer: (a) => new GrpcLogServerClient(a),
    connectSequencer: (a) => new GrpcSequencerClient(a),
    replication: () => config.current()?.logReplication ?? { scope: 'node', count: s.logReplication },
  });
  node.onClose('log directory', () => directory.close());
  // The sequencers of the logs this worker leads live here: appends and the leader's own read stream skip the
  // network; followers and other appenders reach them over this worker's gRPC port.
  const sequencers = s.colocateSequencer
    ? new SequencerHost({
        id,
        instance,
        metadata,
        logServers: directory.logServers,
        timers: realTimers,
        random: Math.random,
        sequencer: { metrics: registerAppendMetrics(registry) },
      })
    : undefined;
  if (sequencers) node.onClose('sequencers', () => sequencers.close());
  const bifrost = new Bifrost({
    metadata,
    logServers: directory.logServers,
    sequencers: (ref) => (sequencers && isMine(ref, { id, instance }) ? sequencers : directory.sequencers(ref)),
    place: directory.place,
    timers: realTimers,
    random: Math.random,
  });
  const dataDir = resolve(s.dataDir);
  const storage = await node.start(
    () => openPartitionStorage(join(dataDir, 'partitions'), { partitions: 0 }),
    `cannot open the partition stores in ${dataDir}`,
  );
  node.onClose('partition stores', () => storage.close());
  // Snapshots go to the bucket (without one, a worker takes none: its logs are trimmed only below what every
  // replica stored, see the admin's trimming).
  const repository = snapshotRepository(s);
  // Set once the host exists (the snapshot schedule starts after that).
  let ledBy: PartitionHost | undefined;
  const snapshots = repository
    ? new PartitionSnapshots({
        repository,
        storage,
        node: id,
        tmpDir: join(dataDir, 'snapshot-tmp'),
        intervalMs: s.snapshotInterval,
        everyRecords: s.snapshotRecords,
        retain: s.snapshotRetain,
        led: () => ledBy?.processors.filter((p) => p.isLeader) ?? [],
        log: node.log,
      })
    : undefined;
  if (snapshots) node.onClose('snapshots', () => snapshots.close());
  const table = PartitionTableWatcher.start({ client: metadata, log: node.log });
  node.onClose('partition table', () => table.close());
  const first = await node.start(() => table.next(), 'cannot read the partition table');
  const host = new PartitionHost({
    partitions: first.value.partitions,
    schema,
    defaults: invocationDefaults(s),
    maxStateValueBytes: s.maxStateValueSize,
    maxConcurrentInvocations: s.maxConcurrentInvocations,
    maxProtocolVersion: s.maxServiceProtocolVersion,
    maxPartitionBacklog: s.maxPartitionBacklog,
    instance,
    log: node.log,
    onFatal: (err) => {
      node.log('error', 'fatal: exiting so that a restart recovers from what is durable', { error: err });
      process.exit(1);
    },
    deliver: (p, commands) => bifrost.append(partitionLogId(p), commands.map(encodeCommand)),
    // The log is trimmed no further than what every live replica has synced: sync often enough that this does
    // not hold the log long (a sync is one small synced write per store).
    syncEveryRecords: SYNC_EVERY_RECORDS,
    onLeadershipLost: (p, epoch, by) =>
      node.log('info', 'partition leadership taken over', { partition: p, epoch, supersededBy: by }),
    // Fell behind the trim point while running: rebuilt from a snapshot (or, without one, retried until the
    // operator acts), never an exit loop.
    onLogTrimmed: (p, err) => {
      node.log('warn', 'partition replica fell behind its log trim point; rebuilding it', {
        partition: p,
        error: err.message,
      });
      reconciler.rebuild(p);
    },
    metrics: registerInvocationMetrics(registry),
    requestSigner,
  });
  ledBy = host;
  node.onClose('partitions', () => host.close());
  const reconciler: Reconciler = new Reconciler({
    id,
    host,
    bifrost,
    storage,
    prepare: async (p) => {
      const trimPoint = (await bifrost.chain(partitionLogId(p), true))?.chain.trimPoint ?? 0n;
      if (snapshots) {
        await snapshots.prepare(p, trimPoint);
        return;
      }
      const applied = (await storedAppliedOffset(storage, p)) ?? -1n;
      if (applied + 1n < trimPoint)
        throw new Error(
          `partition ${p}: its log is trimmed below offset ${trimPoint} and the store holds offsets up to ${applied}; without a snapshot bucket (--snapshot-bucket) this replica cannot be rebuilt`,
        );
    },
    cacheBytes: s.partitionCacheSize,
    log: node.log,
    sequenceHere: sequencers
      ? (p) => sequenceHere(bifrost, partitionLogId(p), { id, instance }, directory.placeAt)
      : undefined,
  });
  table.onChange((t) => reconciler.offer(t));
  reconciler.offer(table.current() ?? first);

  const backend: WorkerBackend = {
    call: (req, signal) => host.call(req, signal),
    send: (req) => host.send(req),
    attach: (query, mode, signal) => host.attach(query, mode, signal),
    completeAwakeable: (awakeableId, result) => host.completeAwakeable(awakeableId, result),
    control: (invocationId, op) => host.control(invocationId, op),
    restartAsNew: (invocationId, opts) => host.restartAsNew(invocationId, opts),
    replaceState: (req) => host.replaceState(req),
    schedule: (partitionKey, op) => host.schedule(partitionKey, op),
    describe: (invocationId) => host.describe(invocationId),
    scan: (partition, table, opts) => host.scanPartition(partition, table, opts),
    pinned: async (deploymentId) => ({
      count: await host.pinnedInvocations(deploymentId),
      partitions: host
        .status()
        .filter((p) => p.role === 'leader')
        .map((p) => p.partition),
    }),
    status: () => ({
      nodeId: id,
      instance,
      partitions: host.status().map((p) => ({ ...p, archivedOffset: snapshots?.archivedOffset(p.partition) })),
      draining,
    }),
    snapshots:
      snapshots &&
      snapshotService(snapshots, (p) => {
        const processor = host.processor(p);
        return processor?.isLeader ? processor : `worker ${id} does not lead partition ${p} now`;
      }),
  };
  let endReadStreams = () => {};
  const server = await node.start(
    () =>
      serveWorker(backend, {
        host: s.bindAddress,
        port: s.nodePort,
        more: (srv) => {
          if (sequencers) endReadStreams = addSequencerService(srv, sequencers);
        },
      }),
    `cannot serve gRPC on ${s.bindAddress}:${s.nodePort}`,
  );
  node.onClose('grpc', () => server.close());
  node.onClose('read streams', () => endReadStreams());
  const address = resolveAdvertisedAddress(s.advertisedAddress, server.port);
  if (sequencers)
    await node.start(
      () =>
        updateNodes(metadata, (c) => ({
          ...c,
          sequencers: {
            ...c.sequencers,
            [id]: { address, instance, colocated: true, ...(location ? { zone: location } : {}) },
          },
        })),
      'cannot register as a sequencer in the metadata store',
    );
  await node.start(
    () =>
      registerNode(metadata, {
        id,
        instance,
        roles: ['worker'],
        address,
        location,
        draining: false,
      }),
    'cannot register in the metadata store',
  );
  if (sequencers) registerSequencerMetrics(registry, sequencers);
  readGauge(
    registry,
    'stead_worker_partitions_led',
    'Partitions this worker leads',
    () => host.status().filter((p) => p.role === 'leader').length,
  );
  readGauge(
    registry,
    'stead_worker_partitions_hosted',
    'Partition replicas on this worker',
    () => host.status().length,
  );
  // Under the names the one-process server gives them (summed over workers, they are the cluster's).
  registerHostMetrics(registry, host);
  if (snapshots) {
    registerSnapshotMetrics(registry, snapshots);
    snapshots.start();
  }
  const probes = await node.serveProbes({ host: s.bindAddress, port: s.metricsPort, registry, ready: () => true });
  // Registered last, so it runs first at shutdown: hand the leaderships over while everything still serves.
  node.onClose('leaderships', () => {
    draining = true;
    return drain(host, Math.floor(s.shutdownTimeout / 2), node.log);
  });
  node.log('info', 'worker serving', {
    grpc: `${s.bindAddress}:${server.port}`,
    advertised: address,
    dataDir,
    metrics: probes.port,
    instance,
  });
  return { shutdown: (reason) => node.shutdown(reason) };
}

/**
 * Brings the hosted partitions in line with the partition table, one table at a time (the latest wins): adds
 * replicas named for this worker, leads where it is the leader with the table's epoch, steps down where another
 * leads, and drops replicas no longer named here.
 */
class Reconciler {
  private latest: Versioned<PartitionTable> | undefined;
  private running: Promise<void> | undefined;
  /** Apply the latest table once more (a step of the last one failed). */
  private again = false;
  /** Epoch each led partition was asked to lead with. */
  private readonly leading = new Map<number, number>();

  private readonly id: string;
  private readonly host: PartitionHost;
  private readonly bifrost: Bifrost;
  private readonly storage: StorageEngine;
  private readonly cacheBytes: number;
  private readonly log: Logger;
  private readonly sequenceHere: ((p: number) => Promise<void>) | undefined;
  private readonly prepare: (p: number) => Promise<void>;

  constructor(deps: {
    /** Readies a partition's store before its replica starts here (restores a snapshot when needed). */
    prepare: (p: number) => Promise<void>;
    id: string;
    host: PartitionHost;
    bifrost: Bifrost;
    storage: StorageEngine;
    cacheBytes: number;
    log: Logger;
    /** Moves the sequencer of partition p's log into this worker (before leading it). */
    sequenceHere?: (p: number) => Promise<void>;
  }) {
    this.sequenceHere = deps.sequenceHere;
    this.prepare = deps.prepare;
    this.id = deps.id;
    this.host = deps.host;
    this.bifrost = deps.bifrost;
    this.storage = deps.storage;
    this.cacheBytes = deps.cacheBytes;
    this.log = deps.log;
  }

  /**
   * Leading failed: superseded by a later epoch (the table moves on, nothing to do), or something transient (the
   * log unreachable while announcing): try again shortly while the table still names this worker with that epoch.
   */
  private leadFailed(p: number, epoch: number, e: unknown): void {
    const superseded = e instanceof SupersededError;
    this.log(superseded ? 'info' : 'warn', 'could not lead partition', { partition: p, epoch, error: String(e) });
    if (superseded || this.leading.get(p) !== epoch) return;
    this.leading.delete(p);
    this.retrySoon();
  }

  /** Leads the placement's partition with its epoch, unless already asked to (the leading goes on in the background). */
  private startLeading(pl: { partition: number; epoch: number }): void {
    const p = pl.partition;
    if (this.leading.get(p) === pl.epoch) return;
    this.leading.set(p, pl.epoch);
    this.moveSequencer(p)
      .then(() => this.host.lead(p, pl.epoch))
      .then(
        () => this.log('info', 'leading partition', { partition: p, epoch: pl.epoch }),
        (e: unknown) => this.leadFailed(p, pl.epoch, e),
      );
  }

  /**
   * Before leading: the partition's log gets a segment sequenced here. When that fails, leading goes on with the
   * sequencer the log has (slower, not wrong).
   */
  private async moveSequencer(p: number): Promise<void> {
    if (!this.sequenceHere) return;
    try {
      await this.sequenceHere(p);
    } catch (e) {
      this.log('warn', 'could not move the sequencer of a partition log to its leader', {
        partition: p,
        error: String(e),
      });
    }
  }

  /** Drops the replica of `p` (its processor stopped) and starts it again from a prepared store. */
  rebuild(p: number): void {
    this.leading.delete(p);
    this.host
      .removePartition(p)
      .catch((e: unknown) =>
        this.log('warn', 'could not remove a partition replica', { partition: p, error: String(e) }),
      )
      .finally(() => this.retrySoon());
  }

  offer(t: Versioned<PartitionTable>): void {
    if (this.latest && this.latest.version >= t.version) return;
    this.latest = t;
    this.running ??= this.loop();
  }

  /** Applies the latest table until none newer arrived and no retry is asked for. */
  private async loop(): Promise<void> {
    let done: number | undefined;
    while (this.latest && (this.latest.version !== done || this.again)) {
      const t = this.latest;
      done = t.version;
      this.again = false;
      try {
        await this.apply(t.value);
      } catch (e) {
        this.log('error', 'cannot follow the partition table; trying again', {
          version: t.version,
          error: (e as Error).message,
        });
        this.retrySoon();
      }
    }
    this.running = undefined;
  }

  /** Applies the latest table again after a pause (something failed that may work then). */
  private retrySoon(): void {
    setTimeout(() => {
      this.again = true;
      this.running ??= this.loop();
    }, RETRY_MS).unref();
  }

  private async apply(t: PartitionTable): Promise<void> {
    const hosted = new Set(this.host.status().map((p) => p.partition));
    const perPartitionCache = Math.floor(this.cacheBytes / Math.max(1, t.partitions));
    // Leaderships of partitions already here first: a hot standby takes over before this worker spends time
    // opening the replicas it was just given.
    for (const pl of t.placements) if (pl.leader === this.id && hosted.has(pl.partition)) this.startLeading(pl);
    for (const pl of t.placements) {
      const p = pl.partition;
      const mine = pl.replicas.includes(this.id);
      if (!mine) {
        if (hosted.has(p)) {
          this.leading.delete(p);
          await this.host.removePartition(p);
          this.log('info', 'partition replica removed', { partition: p });
        }
        continue;
      }
      if (!hosted.has(p)) {
        await this.prepare(p);
        await this.host.addPartition(
          p,
          this.bifrost.loglet(partitionLogId(p)),
          this.storage.partition(p, perPartitionCache),
        );
        this.log('info', 'partition replica added', { partition: p });
      }
      if (pl.leader === this.id) this.startLeading(pl);
      else if (this.leading.has(p)) {
        this.leading.delete(p);
        await this.host.stepDown(p);
      }
    }
  }
}

/**
 * Makes `me` the sequencer of the log's open segment: creates the log there, or seals the open segment and starts
 * the next one there (one reconfiguration), unless it is already so.
 */
async function sequenceHere(
  bifrost: Bifrost,
  logId: string,
  me: SequencerRef,
  placeAt: (sequencer: SequencerRef) => Promise<Placement>,
): Promise<void> {
  const entry = await bifrost.chain(logId, true);
  if (!entry) {
    const chain = await bifrost.create(logId, await placeAt(me));
    if (isMine(chain.segments.at(-1)!.sequencer, me)) return;
  } else if (entry.chain.sealed || isMine(entry.chain.segments.at(-1)!.sequencer, me)) return;
  await bifrost.reconfigure(logId, `leader ${me.id} sequences its partition's log`, await placeAt(me));
}

function isMine(ref: SequencerRef, me: SequencerRef): boolean {
  return ref.id === me.id && ref.instance === me.instance;
}

/**
 * Waits (at most `timeoutMs`) until this worker leads no partition: its pings say it is draining, so the
 * controller hands each leadership to a replica that follows the log, and requests waiting here are retried
 * there by the ingress. A worker that stops this way costs its clients no failed request.
 */
async function drain(host: PartitionHost, timeoutMs: number, log: Logger): Promise<void> {
  const leading = () => host.status().filter((p) => p.role === 'leader').length;
  const start = Date.now();
  const before = leading();
  while (leading() > 0 && Date.now() - start < timeoutMs) await new Promise((r) => setTimeout(r, 50));
  const left = leading();
  if (left === 0) log('info', 'leaderships handed over', { partitions: before, ms: Date.now() - start });
  else log('warn', 'stopping while still leading', { partitions: left, waitedMs: timeoutMs });
}
