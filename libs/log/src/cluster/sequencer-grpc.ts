import * as grpc from '@grpc/grpc-js';
import { sequencer as pb } from '@stead/proto';
import { type GrpcTls, grpcChannelCredentials, guardService, processGrpcTls } from '@stead/runtime';
import type { SequencerApi, TailSink, TailStream } from '../bifrost/bifrost.ts';
import type { ReleaseEnd, ReleaseSubscription } from '../replicated/release-window.ts';
import type { SequencerHost } from '../replicated/sequencer-host.ts';
import {
  type AppendCall,
  LogletSealedError,
  LogOutOfOrderError,
  LogOverloadedError,
  LogUnavailableError,
} from '../replicated/types.ts';
import { CHANNEL_OPTIONS, CLIENT_OPTIONS, listenGrpc, type ServingGrpc } from './grpc-common.ts';

function toStatus(e: unknown): Partial<grpc.StatusObject> {
  if (e instanceof LogletSealedError) return { code: grpc.status.FAILED_PRECONDITION, details: `sealed: ${e.message}` };
  // The message starts with "out of order" (SequencerCore.append), which fromStatus recognises.
  if (e instanceof LogOutOfOrderError) return { code: grpc.status.FAILED_PRECONDITION, details: e.message };
  if (e instanceof LogUnavailableError) return { code: grpc.status.UNAVAILABLE, details: e.message };
  if (e instanceof LogOverloadedError) return { code: grpc.status.RESOURCE_EXHAUSTED, details: e.message };
  return { code: grpc.status.INTERNAL, details: `internal error: ${(e as Error)?.message ?? String(e)}` };
}

function fromStatus(e: grpc.ServiceError): Error {
  if (e.code === grpc.status.FAILED_PRECONDITION)
    return e.details.startsWith('out of order') ? new LogOutOfOrderError(e.details) : new LogletSealedError(e.details);
  if (e.code === grpc.status.INVALID_ARGUMENT) return new Error(`sequencer refused the request: ${e.details}`);
  if (e.code === grpc.status.RESOURCE_EXHAUSTED) return new LogOverloadedError(`sequencer: ${e.details}`);
  return new LogUnavailableError(`sequencer: ${e.details || e.message}`);
}

export type SequencerServer = ServingGrpc;

const END_TO_PB = {
  'below-window': pb.ReadStreamEnd.READ_STREAM_END_BELOW_WINDOW,
  'too-slow': pb.ReadStreamEnd.READ_STREAM_END_TOO_SLOW,
  sealed: pb.ReadStreamEnd.READ_STREAM_END_SEALED,
} as const;

const asBuffer = (p: Uint8Array) => Buffer.from(p.buffer, p.byteOffset, p.byteLength);

/**
 * One ReadStream: the host's subscription writes each batch of released records as a message and pauses when
 * gRPC's buffer is full (write returns false) until it drains; the sequencer's window then bounds what the
 * stream holds back (its next record leaving the window ends it as too-slow).
 */
function serveReadStream(
  host: SequencerHost,
  call: grpc.ServerWritableStream<pb.ReadStreamRequest, pb.ReadStreamResponse>,
  streams: Set<() => void>,
): void {
  const { logletId, from } = call.request;
  if (!logletId) {
    call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'read stream: loglet id missing' });
    return;
  }
  let sub: ReleaseSubscription | undefined;
  let finished = false;
  const stop = () => {
    if (finished) return;
    finished = true;
    streams.delete(stop);
    sub?.cancel();
    call.end();
  };
  streams.add(stop);
  const sink = {
    records: (first: bigint, payloads: Uint8Array[], tail: bigint) =>
      finished || call.cancelled
        ? true
        : call.write({
            firstOffset: first,
            payloads: payloads.map(asBuffer),
            tail,
            end: pb.ReadStreamEnd.READ_STREAM_END_UNSPECIFIED,
            windowStart: 0n,
          }),
    end: (e: ReleaseEnd) => {
      if (finished || call.cancelled) return;
      if (e.kind === 'closed') {
        finished = true;
        streams.delete(stop);
        call.emit('error', toStatus(e.error));
        return;
      }
      call.write({
        firstOffset: 0n,
        payloads: [],
        tail: e.tail,
        end: END_TO_PB[e.kind],
        windowStart: e.kind === 'sealed' ? 0n : e.windowStart,
      });
      stop();
    },
  };
  call.on('drain', () => sub?.resume());
  call.on('cancelled', stop);
  call.on('error', stop);
  host.subscribe(logletId, from, sink).then(
    (s) => {
      sub = s;
      if (finished || call.cancelled) s.cancel();
    },
    (e: unknown) => {
      if (finished) return;
      finished = true;
      streams.delete(stop);
      call.emit('error', toStatus(e));
    },
  );
}

/**
 * Serves a process's sequencers over gRPC. Closing ends every ReadStream first, so that followers move on at
 * once instead of holding the server's drain.
 */
export async function serveSequencer(
  host: SequencerHost,
  opts: { host: string; port: number; tls?: GrpcTls },
): Promise<SequencerServer> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  const tls = opts.tls ?? processGrpcTls();
  const endStreams = addSequencerService(server, host, tls);
  const serving = await listenGrpc(server, opts.host, opts.port, undefined, tls);
  return {
    port: serving.port,
    close: () => {
      endStreams();
      return serving.close();
    },
  };
}

/**
 * Adds the sequencer service of `host` to a gRPC server (a worker serves it beside its own API, for the logs it
 * sequences). Returns a function that ends every open ReadStream: call it before closing the server, so that
 * followers move on at once instead of holding the server's drain.
 */
/** Appends come from cluster members only (with mTLS); tails and reads from any peer the listener took. */
export function sequencerRule(method: string) {
  return method === 'append' ? { member: true as const, what: 'append' } : undefined;
}

export function addSequencerService(
  server: grpc.Server,
  host: SequencerHost,
  tls: GrpcTls = processGrpcTls(),
): () => void {
  const streams = new Set<() => void>();
  const impl: pb.SequencerServiceServer = {
    readStream: (call) => serveReadStream(host, call, streams),
    append(call, cb) {
      const { logletId, payloads, producerId, callSeq, firstUnackedSeq } = call.request;
      if (!logletId || payloads.length === 0) {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: 'append needs a loglet id and at least one record' });
        return;
      }
      if (producerId && (firstUnackedSeq === 0n || firstUnackedSeq > callSeq)) {
        cb({
          code: grpc.status.INVALID_ARGUMENT,
          details: 'a numbered append needs 0 < first_unacked_seq <= call_seq',
        });
        return;
      }
      const numbered = producerId
        ? { producer: producerId, seq: Number(callSeq), firstUnacked: Number(firstUnackedSeq) }
        : undefined;
      host.append(logletId, payloads, numbered).then(
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
  server.addService(pb.SequencerServiceService, guardService(pb.SequencerServiceService, impl, tls, sequencerRule));
  return () => {
    for (const stop of [...streams]) stop();
  };
}

/** A sequencer process reached over gRPC. */
export class GrpcSequencerClient implements SequencerApi {
  private readonly client: pb.SequencerServiceClient;
  private readonly timeoutMs: number;

  constructor(address: string, opts: { timeoutMs?: number; tls?: GrpcTls } = {}) {
    this.client = new pb.SequencerServiceClient(address, grpcChannelCredentials(opts.tls), CLIENT_OPTIONS);
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  append(logletId: string, payloads: Uint8Array[], call?: AppendCall): Promise<bigint> {
    return new Promise((resolve, reject) =>
      this.client.append(
        {
          logletId,
          payloads: payloads.map(asBuffer),
          producerId: call?.producer ?? '',
          callSeq: BigInt(call?.seq ?? 0),
          firstUnackedSeq: BigInt(call?.firstUnacked ?? 0),
        },
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

  /**
   * Opens a ReadStream. Records are handed over in order and checked to continue one another; a broken or
   * out-of-order stream ends as `closed` with a LogUnavailableError.
   */
  readStream(logletId: string, from: bigint, sink: TailSink): TailStream {
    const call = this.client.readStream({ logletId, from });
    let next = from;
    let ended = false;
    const end = (e: ReleaseEnd) => {
      if (ended) return;
      ended = true;
      call.cancel();
      sink.end(e);
    };
    call.on('data', (m: pb.ReadStreamResponse) => {
      if (ended) return;
      switch (m.end) {
        case pb.ReadStreamEnd.READ_STREAM_END_UNSPECIFIED:
          if (m.firstOffset !== next) {
            end({
              kind: 'closed',
              error: new LogUnavailableError(`read stream of ${logletId}: got ${m.firstOffset}, expected ${next}`),
            });
            return;
          }
          next += BigInt(m.payloads.length);
          sink.records(m.firstOffset, m.payloads);
          return;
        case pb.ReadStreamEnd.READ_STREAM_END_BELOW_WINDOW:
          end({ kind: 'below-window', windowStart: m.windowStart, tail: m.tail });
          return;
        case pb.ReadStreamEnd.READ_STREAM_END_TOO_SLOW:
          end({ kind: 'too-slow', windowStart: m.windowStart, tail: m.tail });
          return;
        case pb.ReadStreamEnd.READ_STREAM_END_SEALED:
          end({ kind: 'sealed', tail: m.tail });
          return;
        default:
          end({ kind: 'closed', error: new LogUnavailableError(`read stream of ${logletId}: unknown end ${m.end}`) });
      }
    });
    call.on('error', (e: grpc.ServiceError) => end({ kind: 'closed', error: fromStatus(e) }));
    call.on('end', () =>
      end({ kind: 'closed', error: new LogUnavailableError(`read stream of ${logletId} ended by the sequencer`) }),
    );
    return {
      pause: () => call.pause(),
      resume: () => call.resume(),
      cancel: () => {
        ended = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.client.close();
  }
}
