import * as grpc from '@grpc/grpc-js';
import { sequencer as pb } from '@stead/proto';
import type { SequencerApi } from '../bifrost/bifrost.ts';
import type { SequencerHost } from '../replicated/sequencer-host.ts';
import { LogletSealedError, LogOverloadedError, LogUnavailableError } from '../replicated/types.ts';
import { CHANNEL_OPTIONS, CLIENT_OPTIONS, listenGrpc, type ServingGrpc } from './grpc-common.ts';

function toStatus(e: unknown): Partial<grpc.StatusObject> {
  if (e instanceof LogletSealedError) return { code: grpc.status.FAILED_PRECONDITION, details: `sealed: ${e.message}` };
  if (e instanceof LogUnavailableError) return { code: grpc.status.UNAVAILABLE, details: e.message };
  if (e instanceof LogOverloadedError) return { code: grpc.status.RESOURCE_EXHAUSTED, details: e.message };
  return { code: grpc.status.INTERNAL, details: `internal error: ${(e as Error)?.message ?? String(e)}` };
}

function fromStatus(e: grpc.ServiceError): Error {
  if (e.code === grpc.status.FAILED_PRECONDITION) return new LogletSealedError(e.details);
  if (e.code === grpc.status.INVALID_ARGUMENT) return new Error(`sequencer refused the request: ${e.details}`);
  if (e.code === grpc.status.RESOURCE_EXHAUSTED) return new LogOverloadedError(`sequencer: ${e.details}`);
  return new LogUnavailableError(`sequencer: ${e.details || e.message}`);
}

export type SequencerServer = ServingGrpc;

/** Serves a process's sequencers over gRPC. */
export async function serveSequencer(
  host: SequencerHost,
  opts: { host: string; port: number },
): Promise<SequencerServer> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  const impl: pb.SequencerServiceServer = {
    append(call, cb) {
      const { logletId, payloads } = call.request;
      if (!logletId || payloads.length === 0) {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: 'append needs a loglet id and at least one record' });
        return;
      }
      host.append(logletId, payloads).then(
        (firstOffset) => cb(null, { firstOffset }),
        (e: unknown) => cb(toStatus(e)),
      );
    },
    getTail(call, cb) {
      if (!call.request.logletId) {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: 'loglet id missing' });
        return;
      }
      host.tail(call.request.logletId).then(
        (tail) => cb(null, { tail }),
        (e: unknown) => cb(toStatus(e)),
      );
    },
  };
  server.addService(pb.SequencerServiceService, impl);
  return listenGrpc(server, opts.host, opts.port);
}

/** A sequencer process reached over gRPC. */
export class GrpcSequencerClient implements SequencerApi {
  private readonly client: pb.SequencerServiceClient;
  private readonly timeoutMs: number;

  constructor(address: string, opts: { timeoutMs?: number } = {}) {
    this.client = new pb.SequencerServiceClient(address, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  append(logletId: string, payloads: Uint8Array[]): Promise<bigint> {
    return new Promise((resolve, reject) =>
      this.client.append(
        { logletId, payloads: payloads.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)) },
        new grpc.Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err, res) => (err ? reject(fromStatus(err)) : resolve(res.firstOffset)),
      ),
    );
  }

  tail(logletId: string): Promise<bigint> {
    return new Promise((resolve, reject) =>
      this.client.getTail({ logletId }, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(fromStatus(err)) : resolve(res.tail),
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}
