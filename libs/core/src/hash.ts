import { createHash } from 'node:crypto';

/** 64-bit partition key of a string key (first 8 bytes of its SHA-256, big-endian). */
export function partitionKeyOf(key: string | Uint8Array): bigint {
  const digest = createHash('sha256').update(key).digest();
  return digest.readBigUInt64BE(0);
}

/** The partition owning `partitionKey` when the 64-bit key space is split evenly into `partitions` ranges. */
export function partitionOf(partitionKey: bigint, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1)
    throw new RangeError(`partitions must be >= 1, got ${partitions}`);
  const width = (1n << 64n) / BigInt(partitions);
  const p = Number(partitionKey / width);
  return p >= partitions ? partitions - 1 : p;
}
