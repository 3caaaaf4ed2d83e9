import { createWriteStream } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { Client, ClientOptions } from 'minio';
import { CorruptSnapshotError, SnapshotRepositoryError } from './errors.ts';
import type { SnapshotKey, SnapshotManifest } from './manifest.ts';
import { snapshotFolder } from './manifest.ts';
import {
  buildListing,
  DATA_OBJECT,
  MANIFEST_OBJECT,
  partitionsOf,
  type SnapshotListing,
  type SnapshotRepository,
} from './repository.ts';

type MinioLibrary = typeof import('minio');

/**
 * The MinIO client library, imported at the first request: some 90 modules (a seventh of a second of CPU) that
 * every worker, log server and ingress would otherwise load at start, bucket or not.
 */
let library: Promise<MinioLibrary> | undefined;
const minio = (): Promise<MinioLibrary> => (library ??= import('minio'));

/** Whether `err` is the client's answer that the object does not exist. */
async function isNoSuchKey(err: unknown): Promise<boolean> {
  return err instanceof (await minio()).S3Error && err.code === 'NoSuchKey';
}

export interface S3RepositoryOptions {
  /** The S3 API's URL: `https://s3.amazonaws.com`, `http://127.0.0.1:9000` (MinIO), ... */
  endpoint: string;
  bucket: string;
  /** Folder of the snapshots in the bucket ('' for its root). */
  prefix?: string;
  /** Signing region (default us-east-1). Given, the client asks no extra request for the bucket's region. */
  region?: string;
  /** Credentials; when absent, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; else anonymous. */
  accessKey?: string;
  secretKey?: string;
  sessionToken?: string;
  /**
   * A request with no progress (connect, response, body) for this long fails (default 5000): a dead or hung
   * endpoint rejects promptly, and the caller retries with its own backoff.
   */
  requestTimeoutMs?: number;
}

/**
 * Snapshots in an S3-compatible bucket (AWS S3, MinIO, ...) through the MinIO client. Objects larger than the
 * client's part size (64 MiB) go up as multipart uploads; smaller ones in one PUT.
 */
export class S3SnapshotRepository implements SnapshotRepository {
  private readonly options: ClientOptions;
  private connecting: Promise<Client> | undefined;
  private readonly endpoint: string;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(opts: S3RepositoryOptions) {
    let url: URL;
    try {
      url = new URL(opts.endpoint);
    } catch {
      throw new Error(`S3 endpoint ${JSON.stringify(opts.endpoint)} is not a URL (e.g. https://s3.amazonaws.com)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`S3 endpoint ${opts.endpoint}: http or https, not ${url.protocol}`);
    }
    const useSSL = url.protocol === 'https:';
    this.endpoint = url.origin;
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    const env = process.env;
    this.options = {
      endPoint: url.hostname,
      port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port),
      useSSL,
      // AWS serves buckets as subdomains; other stores (MinIO, test servers, IPs) in the path.
      pathStyle: !url.hostname.endsWith('amazonaws.com'),
      region: opts.region ?? 'us-east-1',
      accessKey: opts.accessKey ?? env.AWS_ACCESS_KEY_ID ?? '',
      secretKey: opts.secretKey ?? env.AWS_SECRET_ACCESS_KEY ?? '',
      ...((opts.sessionToken ?? env.AWS_SESSION_TOKEN)
        ? { sessionToken: opts.sessionToken ?? env.AWS_SESSION_TOKEN }
        : {}),
      transport: timeoutTransport(useSSL, opts.requestTimeoutMs ?? 5000),
      // The callers retry with backoff (and report each failure); the client's retries would only delay that.
      retryOptions: { disableRetry: true },
    };
  }

  /** The client, made at the first request (see `minio`). */
  private client(): Promise<Client> {
    this.connecting ??= minio().then(({ Client }) => new Client(this.options));
    return this.connecting;
  }

  describe(): string {
    return `s3://${this.bucket}/${this.prefix} at ${this.endpoint}`;
  }

  private partitionPath(partition: number): string {
    return `${this.prefix === '' ? '' : `${this.prefix}/`}partition-${partition}/`;
  }

  private object(key: SnapshotKey, file: string): string {
    return `${this.partitionPath(key.partition)}${snapshotFolder(key)}/${file}`;
  }

  where(key: SnapshotKey, file = DATA_OBJECT): string {
    return `s3://${this.bucket}/${this.object(key, file)} at ${this.endpoint}`;
  }

  async put(manifest: SnapshotManifest, file: string): Promise<void> {
    await this.call(`put ${this.object(manifest, DATA_OBJECT)}`, async () => {
      const client = await this.client();
      await client.fPutObject(this.bucket, this.object(manifest, DATA_OBJECT), file, {
        'Content-Type': 'application/octet-stream',
      });
      await client.putObject(
        this.bucket,
        this.object(manifest, MANIFEST_OBJECT),
        Buffer.from(JSON.stringify(manifest, null, 2)),
        undefined,
        { 'Content-Type': 'application/json' },
      );
    });
  }

  async list(partition: number): Promise<SnapshotListing> {
    const base = this.partitionPath(partition);
    const objects = await this.call(`list ${base}`, async () => {
      const out: { folder: string; file: string; modifiedAt: Date }[] = [];
      for await (const item of (await this.client()).listObjectsV2(this.bucket, base, true)) {
        const name = (item as { name?: string }).name;
        if (name === undefined) continue;
        const [folder, file, ...more] = name.slice(base.length).split('/');
        if (file === undefined || more.length > 0) continue;
        out.push({ folder, file, modifiedAt: (item as { lastModified?: Date }).lastModified ?? new Date(0) });
      }
      return out;
    });
    return buildListing(
      partition,
      objects,
      (key) =>
        this.call(`get ${this.object(key, MANIFEST_OBJECT)}`, async () => {
          try {
            return await this.readText(this.object(key, MANIFEST_OBJECT));
          } catch (err) {
            // Deleted by a prune after the listing: not a snapshot any more.
            if (await isNoSuchKey(err)) return undefined;
            throw err;
          }
        }),
      (key, file) => this.where(key, file),
    );
  }

  private async readText(object: string): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of await (await this.client()).getObject(this.bucket, object)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async fetch(manifest: SnapshotManifest, toPath: string): Promise<void> {
    const object = this.object(manifest, DATA_OBJECT);
    try {
      // Streamed to the file; the checksum of the manifest is checked by the reader of the file.
      await pipeline(await (await this.client()).getObject(this.bucket, object), createWriteStream(toPath));
    } catch (err) {
      if (await isNoSuchKey(err)) {
        throw new CorruptSnapshotError(this.where(manifest), 'data object missing');
      }
      throw new SnapshotRepositoryError(`${this.describe()}: get ${object}`, err);
    }
  }

  async delete(key: SnapshotKey): Promise<void> {
    await this.call(`delete ${this.object(key, '')}`, async () => {
      const client = await this.client();
      await client.removeObject(this.bucket, this.object(key, MANIFEST_OBJECT));
      await client.removeObject(this.bucket, this.object(key, DATA_OBJECT));
    });
  }

  /**
   * Lists every object under the prefix, not only the common prefixes of a delimited listing: s3rver (the
   * tests' server) returns no common prefixes for nested keys, and a repository holds few objects per partition.
   */
  async listPartitions(): Promise<number[]> {
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    const names = await this.call(`list ${base}`, async () => {
      const out: string[] = [];
      for await (const item of (await this.client()).listObjectsV2(this.bucket, base, true)) {
        const name = (item as { name?: string }).name;
        if (name !== undefined) out.push(name.slice(base.length).split('/')[0]);
      }
      return out;
    });
    return partitionsOf(names);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CorruptSnapshotError || err instanceof SnapshotRepositoryError) throw err;
      throw new SnapshotRepositoryError(`${this.describe()}: ${what}`, err);
    }
  }
}

/**
 * Node's http(s).request with an idle timeout: the socket timeout (set before connecting, so it covers the
 * connect too) ends a request that makes no progress, which the MinIO client has no option for.
 */
function timeoutTransport(secure: boolean, timeoutMs: number): Pick<typeof http, 'request'> {
  const request = (options: http.RequestOptions, callback?: (res: http.IncomingMessage) => void) => {
    const req = (secure ? https : http).request({ ...options, timeout: timeoutMs }, callback);
    req.on('timeout', () => req.destroy(new Error(`no progress in ${timeoutMs} ms`)));
    return req;
  };
  return { request: request as typeof http.request };
}
