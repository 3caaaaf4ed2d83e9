import { createHash } from 'node:crypto';

/**
 * The version of an object's or workflow's state, as Restate's CLI computes it from the `state` table before an
 * edit and the engine checks it before it replaces the state (optimistic concurrency of `POST
 * /services/{name}/state`): SHA-256 over the entries in key order, each as its index (u64 big-endian), 0x01, key,
 * 0x02, value, 0x03, in URL-safe base64 without padding. The same state always has the same version, whatever
 * the order it is given in.
 */
export function stateVersion(entries: readonly (readonly [Uint8Array, Uint8Array])[]): string {
  const sorted = [...entries].sort((a, b) => Buffer.compare(a[0], b[0]));
  const hash = createHash('sha256');
  const index = Buffer.alloc(8);
  sorted.forEach(([key, value], i) => {
    index.writeBigUInt64BE(BigInt(i));
    hash.update(index);
    hash.update(SEPARATORS[0]);
    hash.update(key);
    hash.update(SEPARATORS[1]);
    hash.update(value);
    hash.update(SEPARATORS[2]);
  });
  return hash.digest('base64url');
}

const SEPARATORS = [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)] as const;
