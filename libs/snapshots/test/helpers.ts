import type { SnapshotEntry, StorageEngine } from '@stead/storage';
import type { S3Server } from '@stead/testing';
import { Client } from 'minio';
import { S3SnapshotRepository, type SnapshotManifest } from '../src/index.ts';

export function s3Repository(server: S3Server, prefix: string, requestTimeoutMs = 2000): S3SnapshotRepository {
  return new S3SnapshotRepository({
    endpoint: server.endpoint,
    bucket: server.bucket,
    prefix,
    region: server.region,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
    requestTimeoutMs,
  });
}

/** A plain client of the test server, to look at or tamper with objects behind the repository's back. */
export function rawClient(server: S3Server): Client {
  return new Client({
    endPoint: '127.0.0.1',
    port: server.port,
    useSSL: false,
    pathStyle: true,
    region: server.region,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
  });
}

export function manifest(
  partition: number,
  appliedOffset: bigint,
  patch: Partial<SnapshotManifest> = {},
): SnapshotManifest {
  return {
    format: 1,
    id: `id${appliedOffset}`,
    partition,
    appliedOffset: appliedOffset.toString(),
    createdAt: new Date().toISOString(),
    node: 'test',
    entries: 0,
    sizeBytes: 0,
    sha256: '0'.repeat(64),
    durationMs: 0,
    ...patch,
  };
}

export async function collect(entries: AsyncIterable<SnapshotEntry>): Promise<SnapshotEntry[]> {
  const out: SnapshotEntry[] = [];
  for await (const e of entries) out.push(e);
  return out;
}

/** Every entry of a partition's store, as text lines (what a comparison of two stores needs). */
export async function storeLines(engine: StorageEngine, partition: number): Promise<string[]> {
  const view = engine.snapshotPartition(partition);
  try {
    return (await collect(view.entries())).map(
      (e) => `${e.db} ${Buffer.from(e.key).toString('latin1')}=${Buffer.from(e.value).toString('latin1')}`,
    );
  } finally {
    await view.release();
  }
}
