/**
 * Request identity: every request Stead sends to a deployment (discovery, invocations) says who sends it, in the
 * scheme Restate's SDKs verify (`identityKeys`). With an Ed25519 key the request carries
 * `x-restate-signature-scheme: v1` and a short-lived JWT (`x-restate-jwt-v1`, EdDSA, audience = the request's
 * URL path); without one it says `unsigned`. The SDK names the keys it trusts by their public key id,
 * `publickeyv1_` + base58 of the raw 32-byte public key, which Stead logs at start.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { watchFiles } from '@stead/core';

export const SIGNATURE_SCHEME_HEADER = 'x-restate-signature-scheme';
export const JWT_V1_HEADER = 'x-restate-jwt-v1';
const KEY_ID_PREFIX = 'publickeyv1_';

/** How long a JWT is valid after (and, for clock skew, before) its issue time. */
const JWT_VALIDITY_SECONDS = 60;
/**
 * A JWT is reused for the same path until it is this old: half its validity, so that a request sent with it still
 * has at least 30 s before expiry (and skew between our clock and the deployment's stays covered).
 */
const JWT_REUSE_SECONDS = JWT_VALIDITY_SECONDS / 2;
/** Paths whose JWT is remembered (one per handler in practice); the cache is emptied beyond this. */
const MAX_CACHED_PATHS = 4096;

/** What makes the identity headers of requests to deployments. */
export interface RequestSigner {
  /** The public key id deployments list in `identityKeys`; undefined when requests go unsigned. */
  readonly keyId: string | undefined;
  /** The headers of a request to `path`, the URL path the deployment sees (`/discover`, `/invoke/Svc/handler`). */
  headers(path: string): Record<string, string>;
}

const UNSIGNED_HEADERS: Readonly<Record<string, string>> = Object.freeze({ [SIGNATURE_SCHEME_HEADER]: 'unsigned' });

/** Requests without a signature (no key configured): they say so, and a deployment that verifies refuses them. */
export const UNSIGNED_REQUESTS: RequestSigner = {
  keyId: undefined,
  headers: () => ({ ...UNSIGNED_HEADERS }),
};

/** The key file cannot be used: missing, unreadable, or not an Ed25519 private key in PEM. */
export class RequestIdentityError extends Error {
  override name = 'RequestIdentityError';
}

const BASE58_ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Base58 in the Bitcoin alphabet (leading zero bytes become leading '1's), as the public key id uses. */
export function base58(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  while (n > 0n) {
    out = BASE58_ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

/** The raw 32 bytes of an Ed25519 public key (from its JWK, whose `x` is exactly those bytes). */
function rawPublicKey(key: KeyObject): Buffer {
  const jwk = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new RequestIdentityError('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** `publickeyv1_<base58 of the raw public key>` of an Ed25519 key (private or public). */
export function publicKeyId(key: KeyObject): string {
  return KEY_ID_PREFIX + base58(rawPublicKey(key));
}

const base64url = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** Signs with `key` (an Ed25519 private key); `nowMs` is the clock of the claims (tests move it). */
export function requestSigner(key: KeyObject, nowMs: () => number = Date.now): RequestSigner {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519')
    throw new RequestIdentityError(
      `expected an Ed25519 private key, got a ${key.asymmetricKeyType ?? 'symmetric'} ${key.type} key`,
    );
  const keyId = publicKeyId(key);
  const header = base64url({ typ: 'JWT', alg: 'EdDSA', kid: keyId });
  const cache = new Map<string, { jwt: string; iat: number }>();
  const jwt = (path: string, now: number): string => {
    const payload = base64url({
      aud: path,
      iat: now,
      nbf: now - JWT_VALIDITY_SECONDS,
      exp: now + JWT_VALIDITY_SECONDS,
    });
    const signature = sign(null, Buffer.from(`${header}.${payload}`), key).toString('base64url');
    return `${header}.${payload}.${signature}`;
  };
  return {
    keyId,
    headers(path) {
      const now = Math.floor(nowMs() / 1000);
      let entry = cache.get(path);
      // Also re-signed when the clock went back past the issue time (the JWT would not be valid yet, nbf aside).
      if (entry === undefined || now - entry.iat >= JWT_REUSE_SECONDS || now < entry.iat) {
        if (cache.size >= MAX_CACHED_PATHS) cache.clear();
        entry = { jwt: jwt(path, now), iat: now };
        cache.set(path, entry);
      }
      return { [SIGNATURE_SCHEME_HEADER]: 'v1', [JWT_V1_HEADER]: entry.jwt };
    },
  };
}

/**
 * The signer of the Ed25519 private key in the PEM file `pemFile` (as `openssl genpkey -algorithm ed25519` writes
 * it). Throws RequestIdentityError naming the file when it is missing, unreadable or holds another kind of key.
 */
export function loadRequestSigner(pemFile: string, nowMs?: () => number): RequestSigner {
  let pem: string;
  try {
    pem = readFileSync(pemFile, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new RequestIdentityError(`cannot read the request identity key file ${pemFile}: ${code}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new RequestIdentityError(
      `the request identity key file ${pemFile} holds no PEM private key (${(e as Error).message}); generate one with: openssl genpkey -algorithm ed25519 -out ${pemFile}`,
    );
  }
  try {
    return requestSigner(key, nowMs);
  } catch (e) {
    throw new RequestIdentityError(
      `the request identity key file ${pemFile}: ${(e as Error).message}; generate one with: openssl genpkey -algorithm ed25519`,
    );
  }
}

/**
 * What to add to the message of a deployment's 401 or 403: that it checks request identity and what Stead sent,
 * so that an operator knows which key to configure (empty for other statuses).
 */
export function identityRefusal(status: number, signer: RequestSigner): string {
  if (status !== 401 && status !== 403) return '';
  return signer.keyId === undefined
    ? " (the deployment refused the request: it verifies request identity and this Stead sends unsigned requests; set --request-identity-private-key-pem-file and add its public key id to the deployment's identityKeys)"
    : ` (the deployment refused the request: it verifies request identity and does not accept this Stead's key ${signer.keyId}; add that id to the deployment's identityKeys)`;
}

/** A signer that follows its key file; `close` stops following it. */
export interface FollowedRequestSigner extends RequestSigner {
  close(): void;
}

/**
 * The signer of the key in `pemFile`, switching to the file's new key when it changes (rotation without a restart:
 * list the new key id in the SDKs' `identityKeys` beside the old one, replace the file, then drop the old id). A
 * file that cannot be used keeps the last good key; `onReload` is told of each attempt (an error when it failed).
 * Throws RequestIdentityError when the file is unusable at the start.
 */
export function followRequestSigner(
  pemFile: string,
  onReload: (keyId: string | undefined, err: RequestIdentityError | undefined) => void,
  opts: { pollIntervalMs?: number; nowMs?: () => number } = {},
): FollowedRequestSigner {
  let current = loadRequestSigner(pemFile, opts.nowMs);
  const watch = watchFiles(
    [pemFile],
    () => {
      try {
        current = loadRequestSigner(pemFile, opts.nowMs);
        onReload(current.keyId, undefined);
      } catch (e) {
        if (!(e instanceof RequestIdentityError)) throw e;
        onReload(current.keyId, e);
      }
    },
    opts.pollIntervalMs !== undefined ? { pollIntervalMs: opts.pollIntervalMs } : {},
  );
  return {
    get keyId() {
      return current.keyId;
    },
    headers: (path) => current.headers(path),
    close: () => watch.close(),
  };
}
