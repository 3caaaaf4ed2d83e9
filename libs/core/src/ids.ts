/**
 * Restate-compatible identifiers.
 *
 * Invocation id: 24 raw bytes = partition key (u64, big-endian) + uuid (16 bytes). Its string form is
 * `inv_1` + the partition-key bytes and the uuid bytes, each read as a little-endian integer and written
 * in base62 (0-9a-zA-Z) left-padded to 11 and 22 characters — the form Restate prints, which starts with
 * the partition key so that ids of one partition share a prefix.
 *
 * Signal (awakeable) id: `sign_1` + base64url(invocation id bytes + u32 BE signal index); the older
 * `prom_1` form carries a journal entry index in the same layout.
 */
import { randomBytes } from 'node:crypto';
import { InputError } from './invocation.ts';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGIT = new Map([...ALPHABET].map((c, i) => [c, BigInt(i)]));

export function base62Fixed(value: bigint, width: number): string {
  let s = '';
  let v = value;
  while (v > 0n) {
    s = ALPHABET[Number(v % 62n)] + s;
    v /= 62n;
  }
  if (s.length > width) throw new RangeError(`${value} does not fit in ${width} base62 digits`);
  return s.padStart(width, '0');
}

function base62Decode(s: string): bigint {
  let v = 0n;
  for (const c of s) {
    const d = DIGIT.get(c);
    if (d === undefined) throw new InputError(`'${c}' is not a base62 digit`);
    v = v * 62n + d;
  }
  return v;
}

function leToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

function bigIntToLe(v: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = v;
  for (let i = 0; i < len; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  if (x !== 0n) throw new InputError('value too large');
  return out;
}

export const INVOCATION_ID_BYTES = 24;

export class InvocationId {
  readonly bytes: Uint8Array;
  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  static fromBytes(bytes: Uint8Array): InvocationId {
    if (bytes.length !== INVOCATION_ID_BYTES) {
      throw new InputError(`an invocation id has ${INVOCATION_ID_BYTES} bytes, got ${bytes.length}`);
    }
    return new InvocationId(new Uint8Array(bytes));
  }

  get partitionKey(): bigint {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, 8).readBigUInt64BE(0);
  }

  toString(): string {
    return `inv_1${base62Fixed(leToBigInt(this.bytes.subarray(0, 8)), 11)}${base62Fixed(leToBigInt(this.bytes.subarray(8)), 22)}`;
  }
}

/** A new invocation id in partition `partitionKey`; `uuid` gives the 16 other bytes (random by default). */
export function newInvocationId(partitionKey: bigint, uuid: () => Uint8Array = () => randomBytes(16)): InvocationId {
  const b = Buffer.alloc(INVOCATION_ID_BYTES);
  b.writeBigUInt64BE(BigInt.asUintN(64, partitionKey), 0);
  const u = uuid();
  if (u.length !== 16) throw new RangeError('an invocation uuid has 16 bytes');
  b.set(u, 8);
  return InvocationId.fromBytes(b);
}

const INVOCATION_ID = /^inv_1([0-9a-zA-Z]{11})([0-9a-zA-Z]{22})$/;

/** Parses `inv_1…`; throws InputError (400) naming the problem. */
export function parseInvocationId(s: string): InvocationId {
  const m = INVOCATION_ID.exec(s);
  if (!m) throw new InputError(`'${s}' is not an invocation id (expected inv_1 followed by 33 base62 characters)`);
  const pk = base62Decode(m[1]);
  const uuid = base62Decode(m[2]);
  if (pk >= 1n << 64n || uuid >= 1n << 128n)
    throw new InputError(`'${s}' is not an invocation id (value out of range)`);
  const b = new Uint8Array(INVOCATION_ID_BYTES);
  b.set(bigIntToLe(pk, 8), 0);
  b.set(bigIntToLe(uuid, 16), 8);
  return InvocationId.fromBytes(b);
}

const DIGIT_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT_VALUE[ALPHABET.charCodeAt(i)] = i;
const B62_POW6 = 62n ** 6n;
const U64_END = 1n << 64n;
/** The first base62 digit of the largest uuid (2^128 - 1): a uuid part starting lower is in range. */
const MAX_UUID_FIRST_DIGIT = DIGIT_VALUE[base62Fixed((1n << 128n) - 1n, 22).charCodeAt(0)];
const byteSwap = new DataView(new ArrayBuffer(8));

/** The value of base62 digits s[from..to) (at most 8 of them, so that it stays an exact Number). */
function base62Number(s: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) v = v * 62 + DIGIT_VALUE[s.charCodeAt(i)];
  return v;
}

/**
 * The partition key of an invocation id, as `parseInvocationId(s).partitionKey` answers it (and throwing as it
 * does), without building the id: Number arithmetic over the 11 key digits instead of BigInt over all 33. It is
 * what routing and the introspection tables ask of every id they see.
 */
export function invocationPartitionKey(s: string): bigint {
  if (!INVOCATION_ID.test(s) || DIGIT_VALUE[s.charCodeAt(16)] >= MAX_UUID_FIRST_DIGIT) {
    return parseInvocationId(s).partitionKey;
  }
  // The key's 8 bytes (big-endian) are written as a little-endian integer in base62: 5 + 6 digits.
  const le = BigInt(base62Number(s, 5, 10)) * B62_POW6 + BigInt(base62Number(s, 10, 16));
  if (le >= U64_END) return parseInvocationId(s).partitionKey;
  byteSwap.setBigUint64(0, le, true);
  return byteSwap.getBigUint64(0, false);
}

/** Signal 1 cancels an invocation (service protocol v4+). */
export const CANCEL_SIGNAL_INDEX = 1;
/**
 * Signal indexes below 17 are reserved for built-in signals (1 = cancel); the SDKs number awakeables from 17
 * (sdk-shared-core's first user signal index). An awakeable id naming a reserved index is refused, so that
 * nobody outside can cancel an invocation by completing a crafted `sign_1…` id.
 */
export const FIRST_AWAKEABLE_SIGNAL_INDEX = 17;

export function signalId(invocationId: InvocationId, signalIndex: number): string {
  const b = Buffer.alloc(INVOCATION_ID_BYTES + 4);
  b.set(invocationId.bytes, 0);
  b.writeUInt32BE(signalIndex, INVOCATION_ID_BYTES);
  return `sign_1${b.toString('base64url')}`;
}

/** Parses an awakeable id (`sign_1…`, or the older `prom_1…`) into the invocation and index it targets. */
export function parseAwakeableId(s: string): { invocationId: InvocationId; signalIndex: number } {
  const m = /^(sign|prom)_1([A-Za-z0-9_-]+={0,2})$/.exec(s);
  if (!m) throw new InputError(`'${s}' is not an awakeable id (expected sign_1… or prom_1…)`);
  const b = Buffer.from(m[2], 'base64url');
  if (b.length !== INVOCATION_ID_BYTES + 4) {
    throw new InputError(`'${s}' is not an awakeable id (it decodes to ${b.length} bytes, expected 28)`);
  }
  const signalIndex = b.readUInt32BE(24);
  if (signalIndex < FIRST_AWAKEABLE_SIGNAL_INDEX) {
    throw new InputError(
      `'${s}' is not an awakeable id: it names signal ${signalIndex}${signalIndex === CANCEL_SIGNAL_INDEX ? ' (cancel)' : ''}, ` +
        `which is reserved for built-in signals; awakeable ids name signal ${FIRST_AWAKEABLE_SIGNAL_INDEX} or above`,
    );
  }
  return { invocationId: InvocationId.fromBytes(b.subarray(0, INVOCATION_ID_BYTES)), signalIndex };
}
