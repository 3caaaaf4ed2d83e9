import * as grpc from '@grpc/grpc-js';
import { restateErrorOf } from '@stead/client';
import { grpcCodeOf, grpcError } from '../src/grpc-errors.ts';

describe('gRPC ingress error mapping', () => {
  it.each([
    [400, grpc.status.INVALID_ARGUMENT],
    [401, grpc.status.UNAUTHENTICATED],
    [403, grpc.status.PERMISSION_DENIED],
    [404, grpc.status.NOT_FOUND],
    [409, grpc.status.ALREADY_EXISTS],
    [410, grpc.status.NOT_FOUND],
    [413, grpc.status.RESOURCE_EXHAUSTED],
    [429, grpc.status.RESOURCE_EXHAUSTED],
    [470, grpc.status.FAILED_PRECONDITION],
    [422, grpc.status.FAILED_PRECONDITION],
    [500, grpc.status.INTERNAL],
    [501, grpc.status.UNIMPLEMENTED],
    [503, grpc.status.UNAVAILABLE],
    [504, grpc.status.DEADLINE_EXCEEDED],
    [599, grpc.status.INTERNAL],
  ])('an ingress error %i is gRPC status %i', (code, expected) => {
    expect(grpcCodeOf({ code, source: 'ingress' })).toBe(expected);
  });

  it('an invocation that failed is ABORTED whatever its code', () => {
    for (const code of [400, 404, 470, 500, 777])
      expect(grpcCodeOf({ code, source: 'invocation' })).toBe(grpc.status.ABORTED);
  });

  it('carries the code, message, source and id in the details and the trailers, which a client reads back', () => {
    const e = grpcError({
      code: 470,
      message: 'invocation not completed yet',
      source: 'ingress',
      invocationId: 'inv_1abc',
    });
    expect([e.code, e.details]).toEqual([grpc.status.FAILED_PRECONDITION, 'invocation not completed yet']);
    const md = e.metadata as grpc.Metadata;
    expect([md.get('x-restate-error-code'), md.get('x-restate-error-source'), md.get('x-restate-id')]).toEqual([
      ['470'],
      ['ingress'],
      ['inv_1abc'],
    ]);
    expect(restateErrorOf({ metadata: md, details: 'ignored' })).toEqual({
      code: 470,
      message: 'invocation not completed yet',
      source: 'ingress',
      invocationId: 'inv_1abc',
    });
    // Without the binary details, the trailers say the same.
    md.remove('grpc-status-details-bin');
    expect(restateErrorOf({ metadata: md, details: 'invocation not completed yet' })).toEqual({
      code: 470,
      message: 'invocation not completed yet',
      source: 'ingress',
      invocationId: 'inv_1abc',
    });
  });

  it('keeps the metadata of an invocation failure', () => {
    const e = grpcError({ code: 418, message: 'teapot', source: 'invocation', metadata: { why: 'short and stout' } });
    expect(restateErrorOf({ metadata: e.metadata as grpc.Metadata, details: '' })).toEqual({
      code: 418,
      message: 'teapot',
      source: 'invocation',
      metadata: { why: 'short and stout' },
    });
  });
});
