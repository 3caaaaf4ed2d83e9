import * as grpc from '@grpc/grpc-js';
import type { InvocationBackend } from '@stead/core';
import { worker as pb } from '@stead/proto';
import { GRPC_CHANNEL_OPTIONS, listenGrpc, type ServingGrpc } from '@stead/runtime';
import { controlFrom, outcomeTo, queryFrom, requestFrom, toStatus } from './wire.ts';

/** A replica of a partition on a worker, as the controller and `steadctl` see it. */
export interface ReplicaStatus {
  partition: number;
  role: 'leader' | 'candidate' | 'follower';
  epoch: number;
  appliedOffset: bigint;
  backlog: number;
}

/** What a worker serves: the engine's operations for the partitions it leads, and its status. */
export interface WorkerBackend extends InvocationBackend {
  /** Unfinished invocations pinned to a deployment, over the partitions led here (and which those are). */
  pinned(deploymentId: string): Promise<{ count: number; partitions: number[] }>;
  status(): { nodeId: string; instance: string; partitions: ReplicaStatus[]; draining?: boolean };
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

/** Serves a worker's node API over gRPC. */
export async function serveWorker(
  backend: WorkerBackend,
  opts: {
    host: string;
    port: number;
    /** Adds further services to the same server (the worker's sequencers). */
    more?: (server: grpc.Server) => void;
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
      answer(cb, async () => outcomeTo(await backend.restartAsNew(call.request.invocationId)));
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
          })),
        };
      });
    },
  };
  server.addService(pb.WorkerServiceService, impl);
  return listenGrpc(server, opts.host, opts.port);
}
