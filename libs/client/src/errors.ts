/**
 * Restate's error behind a gRPC status from the gRPC ingress: read from `grpc-status-details-bin` (a
 * google.rpc.Status holding a stead.ingress.v1.RestateError), else from the `x-restate-error-*` trailers.
 */
import type * as grpc from '@grpc/grpc-js';
import { ingress as pb } from '@stead/proto';

export interface RestateErrorInfo {
  /** The HTTP-style code: 400, 404, 470 (not completed yet), 500, or an invocation's own error code. */
  code: number;
  message: string;
  /** `ingress`: the request was refused; `invocation`: the invocation ran and failed. */
  source: 'ingress' | 'invocation';
  invocationId?: string;
  metadata?: Record<string, string>;
}

/** Restate's error of a failed call, or undefined when the status carries none (transport, client deadline). */
export function restateErrorOf(err: Pick<grpc.ServiceError, 'metadata' | 'details'>): RestateErrorInfo | undefined {
  const md = err.metadata;
  const bin = md?.get('grpc-status-details-bin')[0];
  if (bin instanceof Buffer) {
    const any = pb.RpcStatus.decode(bin).details.find((d) => d.typeUrl === pb.RESTATE_ERROR_TYPE_URL);
    if (any !== undefined) {
      const e = pb.RestateError.decode(any.value);
      return {
        code: e.code,
        message: e.message,
        source: e.source === 'invocation' ? 'invocation' : 'ingress',
        ...(e.invocationId === undefined ? {} : { invocationId: e.invocationId }),
        ...(Object.keys(e.metadata).length > 0 ? { metadata: e.metadata } : {}),
      };
    }
  }
  const code = md?.get('x-restate-error-code')[0];
  if (typeof code !== 'string') return undefined;
  const id = md?.get('x-restate-id')[0];
  return {
    code: Number(code),
    message: err.details,
    source: md?.get('x-restate-error-source')[0] === 'invocation' ? 'invocation' : 'ingress',
    ...(typeof id === 'string' ? { invocationId: id } : {}),
  };
}

/** A failed call of the convenience client: the gRPC status, and Restate's error when the server gave one. */
export class SteadClientError extends Error {
  override name = 'SteadClientError';
  /** The gRPC status code (grpc.status). */
  readonly grpcCode: number;
  readonly restate: RestateErrorInfo | undefined;
  constructor(err: grpc.ServiceError) {
    super(err.details || err.message);
    this.grpcCode = err.code;
    this.restate = restateErrorOf(err);
  }
}
