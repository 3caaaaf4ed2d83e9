import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { createServer as createH2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as restate from '@restatedev/restate-sdk';
import { waitFor } from '@stead/testing';
import {
  base58,
  DiscoveryError,
  discover,
  followRequestSigner,
  InvocationStreamClient,
  InvokeError,
  JWT_V1_HEADER,
  loadRequestSigner,
  publicKeyId,
  RequestIdentityError,
  type RequestSigner,
  requestSigner,
  SIGNATURE_SCHEME_HEADER,
  UNSIGNED_REQUESTS,
} from '../src/index.ts';

// RFC 8032 section 7.1, test 1: the secret seed and the public key it derives.
const RFC_SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const RFC_PUBLIC = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
// Computed by hand-rolled base58 outside this code base (Python, big-integer division by 58) from RFC_PUBLIC.
const RFC_KEY_ID = 'publickeyv1_FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z';
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** The test's own base58 decoder (the library only encodes), to check the id round-trips to the key bytes. */
function decodeBase58(s: string): Buffer {
  let n = 0n;
  for (const c of s) {
    const d = ALPHABET.indexOf(c);
    if (d < 0) throw new Error(`not base58: ${c}`);
    n = n * 58n + BigInt(d);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  for (const c of s) {
    if (c !== '1') break;
    bytes.unshift(0);
  }
  return Buffer.from(bytes);
}

const rfcKey = () =>
  createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, RFC_SEED]), format: 'der', type: 'pkcs8' });

function decodeJwt(jwt: string) {
  const [h, p, sig] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    claims: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signed: Buffer.from(`${h}.${p}`),
    signature: Buffer.from(sig, 'base64url'),
    parts: [h, p, sig],
  };
}

describe('public key id', () => {
  it('is publickeyv1_ + base58 of the raw public key (RFC 8032 test key)', () => {
    expect(publicKeyId(rfcKey())).toBe(RFC_KEY_ID);
    expect(publicKeyId(createPublicKey(rfcKey()))).toBe(RFC_KEY_ID);
    expect(decodeBase58(RFC_KEY_ID.slice('publickeyv1_'.length))).toEqual(RFC_PUBLIC);
  });

  it('encodes leading zero bytes as 1s and round-trips random keys', () => {
    expect(base58(Uint8Array.from([0, 0, 1]))).toBe('112');
    expect(base58(Uint8Array.from([0]))).toBe('1');
    expect(base58(Uint8Array.from([57]))).toBe('z');
    expect(base58(Uint8Array.from([58]))).toBe('21');
    for (let i = 0; i < 20; i++) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
      expect(decodeBase58(publicKeyId(privateKey).slice('publickeyv1_'.length))).toEqual(raw);
    }
  });
});

describe('signed request headers', () => {
  const nowMs = { value: 1_800_000_000_500 };
  const signer = requestSigner(rfcKey(), () => nowMs.value);

  it('carry scheme v1 and an EdDSA JWT for the path that verifies with the public key', () => {
    const h = signer.headers('/invoke/Greeter/greet');
    expect(Object.keys(h).sort()).toEqual([JWT_V1_HEADER, SIGNATURE_SCHEME_HEADER].sort());
    expect(h[SIGNATURE_SCHEME_HEADER]).toBe('v1');
    const jwt = decodeJwt(h[JWT_V1_HEADER]);
    expect(jwt.header).toEqual({ typ: 'JWT', alg: 'EdDSA', kid: RFC_KEY_ID });
    expect(jwt.claims).toEqual({
      aud: '/invoke/Greeter/greet',
      iat: 1_800_000_000,
      nbf: 1_800_000_000 - 60,
      exp: 1_800_000_000 + 60,
    });
    // base64url without padding, as JWTs are.
    for (const part of jwt.parts) expect(part).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(verify(null, jwt.signed, createPublicKey(rfcKey()), jwt.signature)).toBe(true);
    // Not a signature of anything else: another audience fails to verify with the same signature.
    const forged = Buffer.from(
      `${jwt.parts[0]}.${Buffer.from(JSON.stringify({ ...jwt.claims, aud: '/discover' })).toString('base64url')}`,
    );
    expect(verify(null, forged, createPublicKey(rfcKey()), jwt.signature)).toBe(false);
    expect(signer.keyId).toBe(RFC_KEY_ID);
  });

  it('reuse a path’s JWT for 30 s, then sign anew; each path has its own', () => {
    nowMs.value = 1_900_000_000_000;
    const first = signer.headers('/discover')[JWT_V1_HEADER];
    nowMs.value += 29_999;
    expect(signer.headers('/discover')[JWT_V1_HEADER]).toBe(first);
    const other = signer.headers('/invoke/A/b')[JWT_V1_HEADER];
    expect(decodeJwt(other).claims.aud).toBe('/invoke/A/b');
    nowMs.value += 1;
    const renewed = signer.headers('/discover')[JWT_V1_HEADER];
    expect(renewed).not.toBe(first);
    expect(decodeJwt(renewed).claims.iat).toBe(1_900_000_030);
    // A clock that went back before the issue time signs anew too.
    nowMs.value = 1_899_999_000_000;
    expect(decodeJwt(signer.headers('/discover')[JWT_V1_HEADER]).claims.iat).toBe(1_899_999_000);
  });

  it('say unsigned without a key', () => {
    expect(UNSIGNED_REQUESTS.headers('/discover')).toEqual({ [SIGNATURE_SCHEME_HEADER]: 'unsigned' });
    expect(UNSIGNED_REQUESTS.keyId).toBeUndefined();
  });

  it('refuse keys that are not Ed25519 private keys', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(() => requestSigner(ec)).toThrow(/expected an Ed25519 private key, got a ec private key/);
    expect(() => requestSigner(createPublicKey(rfcKey()))).toThrow(/got a ed25519 public key/);
  });
});

describe('the key file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stead-identity-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a key openssl generated; its id is that of the raw public key openssl exports', () => {
    const file = join(dir, 'key.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', file]);
    const spki = execFileSync('openssl', ['pkey', '-in', file, '-pubout', '-outform', 'DER']);
    const signer = loadRequestSigner(file);
    expect(signer.keyId).toBe(`publickeyv1_${base58(spki.subarray(-32))}`);
    expect(decodeBase58(signer.keyId!.slice('publickeyv1_'.length))).toEqual(spki.subarray(-32));
  });

  it('is a clear error naming the file when missing, not a key, or not an Ed25519 private key', () => {
    const missing = join(dir, 'missing.pem');
    const expectRefusal = (file: string, why: RegExp) => {
      let err: unknown;
      try {
        loadRequestSigner(file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RequestIdentityError);
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).toMatch(why);
    };
    expectRefusal(missing, /cannot read .*ENOENT/);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a key\n');
    expectRefusal(garbage, /no PEM private key.*openssl genpkey -algorithm ed25519/);
    const ec = join(dir, 'ec.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', ec]);
    expectRefusal(ec, /expected an Ed25519 private key/);
    const pub = join(dir, 'public.pem');
    writeFileSync(pub, execFileSync('openssl', ['pkey', '-in', join(dir, 'key.pem'), '-pubout']));
    expectRefusal(pub, /no PEM private key/);
  });

  it('is followed: a replaced key signs from then on; an unusable replacement keeps the last good key', async () => {
    const sub = mkdtempSync(join(dir, 'follow-'));
    const file = join(sub, 'key.pem');
    const keyFile = (name: string) => {
      const f = join(sub, name);
      execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', f]);
      return f;
    };
    renameSync(keyFile('a.pem'), file);
    const reloads: [string | undefined, string | undefined][] = [];
    const signer = followRequestSigner(file, (keyId, err) => reloads.push([keyId, err?.message]), {
      pollIntervalMs: 50,
    });
    try {
      const first = signer.keyId;
      const next = keyFile('b.pem');
      const nextId = loadRequestSigner(next).keyId;
      expect(nextId).not.toBe(first);
      renameSync(next, file); // as a Secret volume or `mv` replaces it
      await waitFor(() => signer.keyId === nextId, { what: 'the new key to be used' });
      const jwt = signer.headers('/invoke/S/h')[JWT_V1_HEADER];
      expect(JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid).toBe(nextId);

      writeFileSync(join(sub, 'bad.pem'), 'not a key\n');
      renameSync(join(sub, 'bad.pem'), file);
      await waitFor(() => reloads.some(([, err]) => err?.includes('no PEM private key')), {
        what: 'the failed reload',
      });
      expect(signer.keyId).toBe(nextId);
      expect(reloads.find(([, err]) => err !== undefined)?.[0]).toBe(nextId);
    } finally {
      signer.close();
    }
  });
});

describe('an SDK endpoint with identityKeys', () => {
  const greeter = restate.service({
    name: 'Greeter',
    handlers: { greet: async (_ctx: restate.Context, name: string) => `hi ${name}` },
  });
  const key = (): KeyObject => generateKeyPairSync('ed25519').privateKey;
  const oldKey = key();
  const newKey = key();
  const strangerKey = key();
  const servers: { close: () => Promise<void> }[] = [];

  /** A real SDK endpoint verifying `keys`, over h2c or HTTP/1.1. */
  async function endpoint(keys: KeyObject[], useHttp11 = false): Promise<string> {
    const e = restate
      .endpoint()
      .bind(greeter)
      .withIdentityV1(...keys.map(publicKeyId));
    const server = useHttp11 ? http.createServer(e.http1Handler()) : createH2(e.http2Handler());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push({ close: () => new Promise((r) => server.close(() => r())) });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  const refusal = async (uri: string, opts: { signer?: RequestSigner; useHttp11?: boolean }) =>
    (await discover(uri, opts).then(
      () => undefined,
      (e) => e,
    )) as DiscoveryError | undefined;

  it.each([false, true])(
    'accepts signed discovery, refuses unsigned or foreign keys (HTTP/1.1: %s)',
    async (useHttp11) => {
      const uri = await endpoint([oldKey], useHttp11);
      const d = await discover(uri, { signer: requestSigner(oldKey), useHttp11 });
      expect(d.services.map((s) => s.name)).toEqual(['Greeter']);
      const unsigned = await refusal(uri, { useHttp11 });
      expect(unsigned).toBeInstanceOf(DiscoveryError);
      expect(unsigned!.message).toMatch(/answered discovery with HTTP 401/);
      expect(unsigned!.message).toMatch(/sends unsigned requests; set --request-identity-private-key-pem-file/);
      const stranger = await refusal(uri, { signer: requestSigner(strangerKey), useHttp11 });
      expect(stranger!.message).toMatch(/HTTP 401/);
      expect(stranger!.message).toContain(`does not accept this Stead's key ${publicKeyId(strangerKey)}`);
    },
  );

  it('accepts either of two keys (rotation)', async () => {
    const uri = await endpoint([oldKey, newKey]);
    for (const k of [oldKey, newKey]) {
      expect((await discover(uri, { signer: requestSigner(k) })).services).toHaveLength(1);
    }
    expect((await refusal(uri, { signer: requestSigner(strangerKey) }))?.message).toMatch(/HTTP 401/);
  });

  it.each([false, true])(
    'accepts a signed invocation request, refuses an unsigned one (HTTP/1.1: %s)',
    async (useHttp11) => {
      const uri = await endpoint([newKey], useHttp11);
      /**
       * `endFirst`: end our side before reading (no start message: the SDK answers with an error frame). Else our
       * side stays open, as the invoker keeps it over HTTP/2 (the SDK sends a refusal's body only once it ended).
       */
      const firstStatus = async (client: InvocationStreamClient, endFirst = false) => {
        const s = client.open({ uri, service: 'Greeter', handler: 'greet', protocolVersion: 5, useHttp11 });
        if (endFirst) s.end();
        try {
          for await (const _ of s.frames()) break;
          return 200;
        } catch (e) {
          if (e instanceof InvokeError && e.status !== undefined) return e;
          throw e;
        } finally {
          s.close();
          client.close();
        }
      };
      // Signed: the SDK answers 200 and speaks the protocol (it then fails the empty attempt in a frame).
      expect(await firstStatus(new InvocationStreamClient({ signer: requestSigner(newKey) }), true)).toBe(200);
      const unsigned = await firstStatus(new InvocationStreamClient());
      expect(unsigned).toBeInstanceOf(InvokeError);
      expect((unsigned as InvokeError).status).toBe(401);
      expect((unsigned as InvokeError).message).toMatch(/answered HTTP 401: \{"message":"Unauthorized"\}/);
      expect((unsigned as InvokeError).message).toMatch(/sends unsigned requests/);
      const stranger = await firstStatus(new InvocationStreamClient({ signer: requestSigner(oldKey) }));
      expect((stranger as InvokeError).status).toBe(401);
    },
  );
});
