/**
 * The snapshot file: a versioned envelope around a partition's entries.
 *
 *   header   "STEADSNP" (8 bytes), format version (1 byte, = 1)       -- stored as is
 *   body     gzip of frames:                                          -- one gzip member, to the end of the file
 *              entry: kind (1 byte: 1 = main, 2 = ordered), key length (u32 BE), key, value length (u32 BE), value
 *              end:   kind 0xff, entry count (u64 BE); nothing may follow it
 *
 * The manifest carries the sha256 of the whole file as stored. A reader checks it over the whole file before it
 * decodes anything, so that a restore never starts writing from a damaged file; the end frame's count then
 * catches a writer that stopped early. Files are streamed both ways: a store never sits in memory whole.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { SnapshotEntry } from '@stead/storage';
import { CorruptSnapshotError } from './errors.ts';

const MAGIC = Buffer.from('STEADSNP', 'latin1');
const VERSION = 1;
const HEADER = Buffer.concat([MAGIC, Buffer.from([VERSION])]);
const KIND = { main: 1, ordered: 2 } as const;
const END = 0xff;
/** Frames are handed to gzip in chunks of about this size (one write per entry would be slow). */
const CHUNK_BYTES = 64 * 1024;
/** No key or value of a partition store comes near this: a larger length is a damaged frame. */
const MAX_FIELD_BYTES = 1 << 30;

export interface SnapshotFileInfo {
  /** Hex sha256 of the file as stored. */
  sha256: string;
  sizeBytes: number;
  entries: number;
}

/** Writes `entries` to a new snapshot file at `path` (replacing any file there). */
export async function writeSnapshotFile(
  path: string,
  entries: AsyncIterable<SnapshotEntry>,
): Promise<SnapshotFileInfo> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  let count = 0;
  async function* frames(): AsyncIterable<Buffer> {
    let parts: Buffer[] = [];
    let bytes = 0;
    for await (const e of entries) {
      const head = Buffer.alloc(5);
      head[0] = KIND[e.db];
      head.writeUInt32BE(e.key.byteLength, 1);
      const mid = Buffer.alloc(4);
      mid.writeUInt32BE(e.value.byteLength, 0);
      parts.push(head, Buffer.from(e.key), mid, Buffer.from(e.value));
      bytes += 9 + e.key.byteLength + e.value.byteLength;
      count++;
      if (bytes >= CHUNK_BYTES) {
        yield Buffer.concat(parts);
        parts = [];
        bytes = 0;
      }
    }
    const end = Buffer.alloc(9);
    end[0] = END;
    end.writeBigUInt64BE(BigInt(count), 1);
    parts.push(end);
    yield Buffer.concat(parts);
  }
  // The header goes in front of the gzip stream, as is; the hash and size cover every byte written.
  async function* stored(body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
    yield HEADER;
    for await (const chunk of body) {
      hash.update(chunk);
      sizeBytes += chunk.byteLength;
      yield chunk;
    }
  }
  hash.update(HEADER);
  sizeBytes += HEADER.byteLength;
  await pipeline(frames, createGzip(), stored, createWriteStream(path));
  return { sha256: hash.digest('hex'), sizeBytes, entries: count };
}

/** The hex sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The entries of the snapshot file at `path`. Checks the file's sha256 against `expectSha256` before yielding
 * anything; a mismatch, a bad header, a damaged or truncated frame or a wrong entry count fails with
 * CorruptSnapshotError naming `where` (the object the file came from; the path by default).
 */
export async function* readSnapshotFile(
  path: string,
  expectSha256: string,
  where: string = path,
): AsyncIterable<SnapshotEntry> {
  await checkSnapshotFile(path, expectSha256, where);
  yield* decodeSnapshotFile(path, where);
}

/** Checks a file's checksum and header (what can be checked before decoding): CorruptSnapshotError if wrong. */
export async function checkSnapshotFile(path: string, expectSha256: string, where: string): Promise<void> {
  const actual = await sha256File(path);
  if (actual !== expectSha256) {
    throw new CorruptSnapshotError(where, `sha256 of the data is ${actual}, its manifest says ${expectSha256}`);
  }
  const header = await readHead(path, HEADER.byteLength);
  if (header.byteLength < HEADER.byteLength || !header.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
    throw new CorruptSnapshotError(where, 'not a snapshot file (bad magic)');
  }
  if (header[MAGIC.byteLength] !== VERSION) {
    throw new CorruptSnapshotError(where, `format version ${header[MAGIC.byteLength]}, this reader knows ${VERSION}`);
  }
}

/** The entries of a file `checkSnapshotFile` accepted, checking every frame and the final count. */
export async function* decodeSnapshotFile(path: string, where: string): AsyncIterable<SnapshotEntry> {
  const body = createReadStream(path, { start: HEADER.byteLength }).pipe(createGunzip());
  try {
    yield* decodeFrames(body, where);
  } catch (err) {
    if (err instanceof CorruptSnapshotError) throw err;
    // zlib's errors (a damaged or truncated gzip stream): the file is not what its writer made.
    throw new CorruptSnapshotError(where, `body does not decompress: ${(err as Error).message}`);
  } finally {
    body.destroy();
  }
}

async function readHead(path: string, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function* decodeFrames(body: AsyncIterable<Buffer>, where: string): AsyncIterable<SnapshotEntry> {
  const input = new ByteQueue(body);
  let count = 0n;
  for (;;) {
    const kind = await input.take(1, where, `entry ${count}`);
    if (kind[0] === END) {
      const declared = (await input.take(8, where, 'the end frame')).readBigUInt64BE(0);
      if (declared !== count)
        throw new CorruptSnapshotError(where, `end frame counts ${declared} entries, read ${count}`);
      if (!(await input.atEnd())) throw new CorruptSnapshotError(where, 'bytes after the end frame');
      return;
    }
    const db = kind[0] === KIND.main ? 'main' : kind[0] === KIND.ordered ? 'ordered' : undefined;
    if (db === undefined) throw new CorruptSnapshotError(where, `entry ${count}: unknown frame kind ${kind[0]}`);
    const key = await input.take(await fieldLength(input, where, count), where, `entry ${count}`);
    const value = await input.take(await fieldLength(input, where, count), where, `entry ${count}`);
    count++;
    yield { db, key, value };
  }
}

async function fieldLength(input: ByteQueue, where: string, count: bigint): Promise<number> {
  const n = (await input.take(4, where, `entry ${count}`)).readUInt32BE(0);
  if (n > MAX_FIELD_BYTES) throw new CorruptSnapshotError(where, `entry ${count}: field of ${n} bytes`);
  return n;
}

/** Reads exact byte counts from a stream of chunks, joining chunks only as far as a read needs. */
class ByteQueue {
  private readonly source: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private length = 0;
  private done = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.source = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<void> {
    while (this.length < n && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else {
        this.chunks.push(next.value);
        this.length += next.value.byteLength;
      }
    }
  }

  async take(n: number, where: string, what: string): Promise<Buffer> {
    await this.fill(n);
    if (this.length < n) throw new CorruptSnapshotError(where, `truncated in ${what}`);
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.byteLength > 0 ? [rest] : [];
    this.length = rest.byteLength;
    return out;
  }

  async atEnd(): Promise<boolean> {
    await this.fill(1);
    return this.length === 0;
  }
}
