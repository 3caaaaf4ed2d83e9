import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from '@jest/globals';
import * as restate from '@restatedev/restate-sdk';
import { newInvocationId, partitionKeyOf, type SchemaView } from '@stead/core';
import type { PartitionStore } from '@stead/storage';
import { type IdFunctions, PartitionReader, PartitionStateMachine } from '../src/state-machine.ts';
import { openPartitionStorage } from '../src/tables.ts';
import type { Command } from '../src/types.ts';

/** Readable ids for state-machine tests (every invocation in partition key 1; awakeables are not used). */
export const testIds: IdFunctions = {
  partitionKeyOfInvocation: () => 1n,
  childId: (parent, index) => `child-${parent}-${index}`,
  awakeable: () => {
    throw new Error('unused');
  },
  idempotentId: (svc, key, handler, ik) => `idem-${svc}-${key}-${handler}-${ik}`,
  workflowId: (name, key) => `wf-${name}-${key}`,
};

export interface TestPartition {
  store: PartitionStore;
  sm: PartitionStateMachine;
  reader: PartitionReader;
  /** Closes the store and removes its directory. */
  close(): Promise<void>;
}

/** Partition 0 of a fresh LevelDB store in a temp dir, with a state machine and a reader over it. */
export async function openTestPartition(prefix: string, ids: IdFunctions = testIds): Promise<TestPartition> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const engine = await openPartitionStorage(dir);
  const store = engine.partition(0);
  return {
    store,
    sm: new PartitionStateMachine(store, { partitionId: 0, ...ids }),
    reader: new PartitionReader(store),
    close: async () => {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh temp dir for each test of the enclosing describe (removed after it); call the result for its path. */
export function tempDirPerTest(prefix: string): () => string {
  let dir: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    if (dir === undefined) throw new Error('tempDirPerTest: no test is running');
    return dir;
  };
}

/** A schema with one plain service `S` on deployment `dp_1` (HTTP/2, protocol v5), for invoker driver tests. */
export function oneServiceSchema(): SchemaView {
  return {
    service: () => ({ name: 'S', ty: 'SERVICE', handlers: [], deploymentId: 'dp_1', public: true }),
    deployment: () => ({
      id: 'dp_1',
      uri: 'http://127.0.0.1:1',
      minProtocolVersion: 5,
      maxProtocolVersion: 5,
      additionalHeaders: {},
      useHttp11: false,
      protocolType: 'BidiStream',
    }),
  } as unknown as SchemaView;
}

/**
 * A real SDK endpoint over HTTP/2 on loopback for the enclosing describe (started before its tests, closed after);
 * call the result for its URI.
 */
export function sdkEndpointPerSuite(
  ...services: Parameters<ReturnType<typeof restate.endpoint>['bind']>[0][]
): () => string {
  let uri: string | undefined;
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    let endpoint = restate.endpoint();
    for (const s of services) endpoint = endpoint.bind(s);
    const h2 = createServer(endpoint.http2Handler());
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    uri = `http://127.0.0.1:${(h2.address() as AddressInfo).port}`;
    close = () => new Promise((r) => h2.close(() => r()));
  });
  afterAll(async () => {
    await close?.();
  });
  return () => {
    if (uri === undefined) throw new Error('sdkEndpointPerSuite: the endpoint is not running');
    return uri;
  };
}

/** An Invoke of `Counter/add` on object `key`, answered to an ingress sink (one record of a partition's log). */
export function invokeOn(key: string): Command {
  return {
    kind: 'Invoke',
    ts: 1000,
    inv: {
      id: newInvocationId(partitionKeyOf(key)).toString(),
      target: { service: 'Counter', handler: 'add', key, serviceType: 'VIRTUAL_OBJECT', handlerType: 'EXCLUSIVE' },
      input: Buffer.from('{}'),
      headers: [],
      sink: { kind: 'ingress', node: 'n' },
    },
  };
}
