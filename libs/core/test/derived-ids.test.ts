import {
  derivedInvocationId,
  idempotentInvocationId,
  invocationPartitionKey,
  partitionKeyOf,
  queriedInvocationId,
  workflowInvocationId,
} from '../src/index.ts';

describe('derived invocation ids', () => {
  // Stored invocations are found again by these ids: they must never change from one version to the next.
  test('are the ids Stead has always derived', () => {
    expect(idempotentInvocationId('Greeter', undefined, 'greet', 'k1')).toBe('inv_1bGZIu9UkeZI3BvUpaS4odY2ypSMP8ykru');
    expect(idempotentInvocationId('Counter', 'c', 'add', 'k1')).toBe('inv_1jrxeiSnNaqi74vjZC3q2pMfRQdiVzldun');
    expect(workflowInvocationId('WF', 'w1')).toBe('inv_1cCcLa3vPpoQ18f2XSxg9cqzPAGTt0XbNv');
    expect(derivedInvocationId('child\u0000inv_1abc\u00003', {})).toBe('inv_14msbOzLIwbK3RYvRYl68XLeQ43zpoZ9an');
  });

  test("a keyed invocation lives in its key's partition; an idempotent service call in its idempotency key's", () => {
    expect(invocationPartitionKey(workflowInvocationId('WF', 'w1'))).toBe(partitionKeyOf('w1'));
    expect(invocationPartitionKey(idempotentInvocationId('Counter', 'c', 'add', 'k1'))).toBe(partitionKeyOf('c'));
    expect(invocationPartitionKey(idempotentInvocationId('Greeter', undefined, 'greet', 'k1'))).toBe(
      partitionKeyOf('k1'),
    );
  });

  test('a query names the same id; a given id is checked', () => {
    expect(queriedInvocationId({ workflow: { name: 'WF', key: 'w1' } })).toBe(workflowInvocationId('WF', 'w1'));
    expect(
      queriedInvocationId({ idempotent: { service: 'Counter', key: 'c', handler: 'add', idempotencyKey: 'k1' } }),
    ).toBe(idempotentInvocationId('Counter', 'c', 'add', 'k1'));
    const id = workflowInvocationId('WF', 'w2');
    expect(queriedInvocationId({ invocationId: id })).toBe(id);
    expect(() => queriedInvocationId({ invocationId: 'inv_1short' })).toThrow(
      expect.objectContaining({
        status: 400,
        message: expect.stringContaining("'inv_1short' is not an invocation id"),
      }),
    );
  });
});
