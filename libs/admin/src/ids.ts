import { randomBytes } from 'node:crypto';
import { base62Fixed } from '@stead/core';

/** Restate ids carry a codec version character after the prefix; `1` is the only one in use. */
const CODEC_VERSION = '1';
/** A u128 in base62 needs at most 22 characters. */
const U128_BASE62_LEN = 22;

/** A fresh deployment id in Restate's format: `dp_` + codec version + base62 of a random 128-bit value. */
export function newDeploymentId(): string {
  const value = BigInt(`0x${randomBytes(16).toString('hex')}`);
  return `dp_${CODEC_VERSION}${base62Fixed(value, U128_BASE62_LEN)}`;
}

/** Why `id` is not a well-formed deployment id, or undefined if it is one. */
export function deploymentIdProblem(id: string): string | undefined {
  if (!id.startsWith('dp_') || id.length < 4) return 'bad format';
  if (id[3] !== CODEC_VERSION) return 'unrecognized codec version';
  const rest = id.slice(4);
  if (rest.length !== U128_BASE62_LEN || !/^[0-9A-Za-z]+$/.test(rest)) return 'bad format';
  return undefined;
}
