import * as grpc from '@grpc/grpc-js';
import {
  InputError,
  type IntrospectionRow,
  type InvocationBackend,
  type RestartOptions,
  type ScanOptions,
} from '@stead/core';
import { worker as pb } from '@stead/proto';
import {
  GRPC_CHANNEL_OPTIONS,
  type GrpcTls,
  guardService,
  listenGrpc,
  processGrpcTls,
  type ServingGrpc,
} from '@stead/runtime';
import type { SnapshotManifest } from '@stead/snapshots';
import {
  controlFrom,
  outcomeTo,
  queryFrom,
  replacementFrom,
  requestFrom,
  scanBatchTo,
  scanColumns,
  scheduleRequestFrom,
  toStatus,
} from './wire.ts';

/** A replica of a partition on a worker, as the controller and `steadctl` see it. */
export interface ReplicaStatus {
  partition: number;
  role: 'leader' | 'candidate' | 'follower';
  epoch: number;
  appliedOffset: bigint;
  backlog: number;
  /** See HostedPartitionStatus.durableOffset (-1: none). */
  durableOffset?: bigint;
  /** The applied offset of the oldest kept snapshot of the partition, when this worker knows its snapshots. */
  archivedOffset?: bigint;
}

/** An archived snapshot of a partition store, as the worker API and the admin API show it. */
export interface SnapshotInfo {
  partition: number;
  id: string;
  appliedOffset: bigint;
  createdAt: string;
  node: string;
  sizeBytes: number;
  entries: number;
  sha256: string;
  durationMs: number;
  location: string;
}

/** What the worker API and the admin API show of an archived snapshot (its manifest and where it is kept). */
export function snapshotInfo(m: SnapshotManifest, location: string): SnapshotInfo {
  return {
    partition: m.partition,
    id: m.id,
    appliedOffset: BigInt(m.appliedOffset),
    createdAt: m.createdAt,
    node: m.node,
    sizeBytes: m.sizeBytes,
    entries: m.entries,
    sha256: m.sha256,
    durationMs: m.durationMs,
    location,
  };
}

/** Snapshots made or listed, and the partitions for which that failed (with why). */
export interface SnapshotsAnswer {
  snapshots: SnapshotInfo[];
  failures: { partition: number; error: string }[];
}

/** A worker's snapshots: take them for partitions it leads, list what is archived. */
export interface SnapshotService {
  create(partitions: number[]): Promise<SnapshotsAnswer>;
  list(partitions: number[]): Promise<SnapshotsAnswer>;
}

/** What a worker serves: the engine's operations for the partitions it leads, and its status. */
export interface WorkerBackend extends InvocationBackend {
  /**
   * The rows of SQL introspection table `table` in `partition`, which this worker must lead (else throws
   * NotLeaderError, before the first batch).
   */
  scan(partition: number, table: string, opts: ScanOptions): AsyncIterable<IntrospectionRow[]>;
  /** Unfinished invocations pinned to a deployment, over the partitions led here (and which those are). */
  pinned(deploymentId: string): Promise<{ count: number; partitions: number[] }>;
  status(): { nodeId: string; instance: string; partitions: ReplicaStatus[]; draining?: boolean };
  /** Absent: this worker takes no snapshots (the calls answer FAILED_PRECONDITION). */
  snapshots?: SnapshotService;
}

type Callback<T> = (err: Partial<grpc.StatusObject> | null, value?: T) => void;

/** Runs `work` for a call and answers with its result, or with the status of its error. */
function answer<T>(cb: Callback<T>, work: () => Promise<T>): void {
  work().then(
    (v) => cb(null, v),
    (e: unknown) => cb(toStatus(e)),
  );
}

/** An AbortSignal that aborts when the caller cancels the call (the request goes away). */
function signalOf(call: { on(event: 'cancelled', listener: () => void): unknown }): AbortSignal {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort(new Error('the forwarding caller cancelled the request')));
  return ac.signal;
}

function snapshotService(backend: WorkerBackend): SnapshotService {
  if (backend.snapshots) return backend.snapshots;
  throw new InputError('this worker takes no snapshots (no snapshot bucket is configured)', 409);
}

function snapshotsTo(a: SnapshotsAnswer): pb.CreateSnapshotsResponse {
  return {
    snapshots: a.snapshots.map((s) => ({
      partition: s.partition,
      id: s.id,
      appliedOffset: s.appliedOffset,
      createdAt: s.createdAt,
      node: s.node,
      sizeBytes: BigInt(s.sizeBytes),
      entries: BigInt(s.entries),
      sha256: s.sha256,
      durationMs: BigInt(s.durationMs),
      location: s.location,
    })),
    failures: a.failures,
  };
}

/** The answer of CreateSnapshots or ListSnapshots. */
export function snapshotsFrom(r: pb.CreateSnapshotsResponse): SnapshotsAnswer {
  return {
    snapshots: r.snapshots.map((s) => ({
      partition: s.partition,
      id: s.id,
      appliedOffset: s.appliedOffset,
      createdAt: s.createdAt,
      node: s.node,
      sizeBytes: Number(s.sizeBytes),
      entries: Number(s.entries),
      sha256: s.sha256,
      durationMs: Number(s.durationMs),
      location: s.location,
    })),
    failures: r.failures,
  };
}

/** Resolves once the stream's buffer drains (or the call is cancelled: the write loop then stops). */
function drained(call: grpc.ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}

/**
 * One Scan: the partition's batches as messages, written as gRPC's buffer drains (a slow reader holds the scan
 * back rather than filling memory); the caller's cancellation aborts the scan.
 */
async function serveScan(backend: WorkerBackend, call: grpc.ServerWritableStream<pb.ScanRequest, pb.ScanBatch>) {
  const { table, partition, limit } = call.request;
  const signal = signalOf(call);
  try {
    scanColumns(table);
    const max = limit > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(limit);
    const columns = call.request.columns.length > 0 ? new Set(call.request.columns) : undefined;
    for await (const rows of backend.scan(partition, table, { limit: max, signal, columns })) {
      if (call.cancelled) return;
      if (!call.write(scanBatchTo(table, rows, columns))) await drained(call);
    }
    if (!call.cancelled) call.end();
  } catch (e) {
    if (!call.cancelled) call.emit('error', toStatus(e));
  }
}

/** Serves a worker's node API over gRPC. */
export async function serveWorker(
  backend: WorkerBackend,
  opts: {
    host: string;
    port: number;
    /** Adds further services to the same server (the worker's sequencers). */
    more?: (server: grpc.Server) => void;
    /** gRPC TLS of the listener and mode of the authorisation (default: the process's). */
    tls?: GrpcTls;
  },
): Promise<ServingGrpc> {
  const server = new grpc.Server(GRPC_CHANNEL_OPTIONS);
  opts.more?.(server);
  const impl: pb.WorkerServiceServer = {
    call(call, cb) {
      answer(cb, async () => {
        const r = await backend.call(requestFrom(call.request), signalOf(call));
        return { invocationId: r.invocationId, outcome: outcomeTo(r.outcome) };
      });
    },
    send(call, cb) {
      answer(cb, async () => {
        const r = await backend.send(requestFrom(call.request));
        return {
          invocationId: r.invocationId,
          previouslyAccepted: r.status === 'PreviouslyAccepted',
          executionTime: r.executionTime,
        };
      });
    },
    attach(call, cb) {
      answer(cb, async () => {
        const { query, mode } = queryFrom(call.request);
        const r = await backend.attach(query, mode, signalOf(call));
        return { invocationId: r.invocationId, outcome: outcomeTo(r.outcome) };
      });
    },
    completeAwakeable(call, cb) {
      answer(cb, async () => {
        const r = call.request.result;
        if (r === undefined) throw new Error('awakeable completion without a result');
        const result =
          r.$case === 'value'
            ? { value: r.value as Uint8Array }
            : { failure: { code: r.value.code, message: r.value.message } };
        await backend.completeAwakeable(call.request.awakeableId, result);
        return {};
      });
    },
    control(call, cb) {
      answer(cb, async () =>
        outcomeTo(await backend.control(call.request.invocationId, controlFrom(call.request.operation))),
      );
    },
    restartAsNew(call, cb) {
      const { invocationId, from, deployment: d } = call.request;
      // '' is 'not given' (latest when from > 0), which the backend refuses to see without from.
      const deployment = d === '' ? undefined : d === 'keep' ? 'keep' : { id: d };
      const opts: RestartOptions = { from, ...(deployment ? { deployment } : {}) };
      answer(cb, async () => outcomeTo(await backend.restartAsNew(invocationId, opts)));
    },
    replaceState(call, cb) {
      answer(cb, async () => outcomeTo(await backend.replaceState(replacementFrom(call.request))));
    },
    schedule(call, cb) {
      answer(cb, async () => {
        const { partitionKey, op } = scheduleRequestFrom(call.request);
        return outcomeTo(await backend.schedule(partitionKey, op));
      });
    },
    describe(call, cb) {
      answer(cb, async () => {
        const d = await backend.describe?.(call.request.invocationId);
        return d === undefined ? {} : { json: JSON.stringify(d) };
      });
    },
    pinnedInvocations(call, cb) {
      answer(cb, async () => {
        const r = await backend.pinned(call.request.deploymentId);
        return { count: BigInt(r.count), partitions: r.partitions };
      });
    },
    ping(_call, cb) {
      answer(cb, async () => {
        const s = backend.status();
        return {
          nodeId: s.nodeId,
          instance: s.instance,
          draining: s.draining ?? false,
          partitions: s.partitions.map((p) => ({
            partition: p.partition,
            role: p.role,
            epoch: BigInt(p.epoch),
            appliedOffset: p.appliedOffset,
            backlog: BigInt(p.backlog),
            durableOffset: p.durableOffset ?? -1n,
            archivedOffset: p.archivedOffset,
          })),
        };
      });
    },
    createSnapshots(call, cb) {
      answer(cb, async () => snapshotsTo(await snapshotService(backend).create(call.request.partitions)));
    },
    listSnapshots(call, cb) {
      answer(cb, async () => snapshotsTo(await snapshotService(backend).list(call.request.partitions)));
    },
    scan(call) {
      void serveScan(backend, call);
    },
  };
  const tls = opts.tls ?? processGrpcTls();
  // Every worker call (invocations, control, state, snapshots, scans) comes from another node: members only.
  const member = (method: string) => ({ member: true as const, what: `worker ${method}` });
  server.addService(pb.WorkerServiceService, guardService(pb.WorkerServiceService, impl, tls, member));
  return listenGrpc(server, opts.host, opts.port, undefined, tls);
}
