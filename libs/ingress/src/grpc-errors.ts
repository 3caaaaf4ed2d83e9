/**
 * The one place the gRPC ingress turns Restate's errors (HTTP-style codes) into gRPC statuses. The code and
 * message travel with the status twice (see proto/stead/ingress/v1/ingress.proto): as trailers
 * `x-restate-error-code` / `x-restate-error-source` / `x-restate-id`, and as a google.rpc.Status in
 * `grpc-status-details-bin` carrying one stead.ingress.v1.RestateError.
 */
import * as grpc from '@grpc/grpc-js';
import type { InvocationOutcome } from '@stead/core';
import { ingress as pb } from '@stead/proto';

export type ErrorSource = 'ingress' | 'invocation';

/** What a failed gRPC ingress call carries: Restate's code and message, and where the error comes from. */
export interface RestateFailure {
  code: number;
  message: string;
  source: ErrorSource;
  invocationId?: string;
  metadata?: Record<string, string>;
}

const S = grpc.status;

/** Exact codes of ingress errors; other 4xx are FAILED_PRECONDITION, other 5xx INTERNAL. */
const INGRESS_CODES: ReadonlyMap<number, grpc.status> = new Map([
  [400, S.INVALID_ARGUMENT],
  [401, S.UNAUTHENTICATED],
  [403, S.PERMISSION_DENIED],
  [404, S.NOT_FOUND],
  [409, S.ALREADY_EXISTS],
  [410, S.NOT_FOUND],
  [413, S.RESOURCE_EXHAUSTED],
  [429, S.RESOURCE_EXHAUSTED],
  // The invocation has not completed yet (GetOutput): asking again later may succeed.
  [470, S.FAILED_PRECONDITION],
  [501, S.UNIMPLEMENTED],
  [503, S.UNAVAILABLE],
  [504, S.DEADLINE_EXCEEDED],
]);

/** The gRPC status code of a failure (see the table in ingress.proto). */
export function grpcCodeOf(f: Pick<RestateFailure, 'code' | 'source'>): grpc.status {
  if (f.source === 'invocation') return S.ABORTED;
  const exact = INGRESS_CODES.get(f.code);
  if (exact !== undefined) return exact;
  if (f.code >= 400 && f.code < 500) return S.FAILED_PRECONDITION;
  return S.INTERNAL;
}

/** The status details (a google.rpc.Status holding one RestateError) of a failure. */
export function statusDetails(f: RestateFailure): Buffer {
  const err = pb.RestateError.encode({
    code: f.code,
    message: f.message,
    source: f.source,
    invocationId: f.invocationId,
    metadata: f.metadata ?? {},
  }).finish();
  return Buffer.from(
    pb.RpcStatus.encode({
      code: grpcCodeOf(f),
      message: f.message,
      details: [{ typeUrl: pb.RESTATE_ERROR_TYPE_URL, value: Buffer.from(err) }],
    }).finish(),
  );
}

/** The error a server handler answers with: status, message and the trailers describing the failure. */
export function grpcError(f: RestateFailure): Partial<grpc.StatusObject> & { code: grpc.status } {
  const metadata = new grpc.Metadata();
  metadata.set('x-restate-error-code', String(f.code));
  metadata.set('x-restate-error-source', f.source);
  if (f.invocationId !== undefined) metadata.set('x-restate-id', f.invocationId);
  metadata.set('grpc-status-details-bin', statusDetails(f));
  return { code: grpcCodeOf(f), details: f.message, metadata };
}

/** An error of the request (not of an invocation). */
export function ingressFailure(code: number, message: string, invocationId?: string): RestateFailure {
  return { code, message, source: 'ingress', ...(invocationId === undefined ? {} : { invocationId }) };
}

/** The failure of a finished invocation's outcome. */
export function invocationFailure(
  outcome: Extract<InvocationOutcome, { ok: false }>,
  invocationId: string,
): RestateFailure {
  return {
    code: outcome.code,
    message: outcome.message,
    source: 'invocation',
    invocationId,
    ...(outcome.metadata === undefined ? {} : { metadata: outcome.metadata }),
  };
}

/**
 * The failure for an error thrown by a backend: its own HTTP status when it names one (InputError,
 * OverloadedError, NotLeaderError, an auth refusal), else undefined (an unexpected error, reported by the caller).
 */
export function thrownFailure(err: unknown): RestateFailure | undefined {
  const e = err as { status?: unknown; message?: unknown } | undefined;
  const status = e?.status;
  if (typeof status !== 'number' || !(status >= 400 && status <= 599)) return undefined;
  return ingressFailure(status, typeof e?.message === 'string' ? e.message : String(err));
}
