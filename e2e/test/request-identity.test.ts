/**
 * Issue 17, request identity: Stead signs every request to a deployment (discovery, invocations) with the Ed25519
 * key of --request-identity-private-key-pem-file, so that a real SDK endpoint started with `identityKeys` accepts
 * it; the same endpoint refuses a Stead without a key or with another key (at registration, with the
 * deployment's 401 in the answer, and at invocation); an endpoint that trusts an old and a new key accepts a
 * Stead signing with either (rotation). Keys come from the openssl CLI; their ids are computed here from the raw
 * public key openssl exports, with this test's own base58.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Cleanup, ServiceProcess, SteadServer, type SteadUnderTest, startStead, waitFor } from '@stead/testing';

const SERVICE = new URL('../services/identity.ts', import.meta.url).pathname;
const KEY_FLAG = '--request-identity-private-key-pem-file';

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function base58(bytes: Buffer): string {
  let n = BigInt(`0x${bytes.toString('hex')}`);
  let s = '';
  for (; n > 0n; n /= 58n) s = ALPHABET[Number(n % 58n)] + s;
  for (let i = 0; i < bytes.length && bytes[i] === 0; i++) s = `1${s}`;
  return s;
}

/** A new Ed25519 key in `dir`/`name`.pem, and its public key id. */
function newKey(dir: string, name: string): { file: string; id: string } {
  const file = join(dir, `${name}.pem`);
  execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', file]);
  const spki = execFileSync('openssl', ['pkey', '-in', file, '-pubout', '-outform', 'DER']);
  return { file, id: `publickeyv1_${base58(spki.subarray(-32))}` };
}

async function register(adminUrl: string, uri: string, force = false): Promise<{ status: number; message: string }> {
  const res = await fetch(`${adminUrl}/deployments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uri, force }),
  });
  const body = (await res.json()) as { message?: string };
  return { status: res.status, message: body.message ?? JSON.stringify(body) };
}

async function greet(ingressUrl: string, service: string, who: string): Promise<unknown> {
  const res = await fetch(`${ingressUrl}/${service}/greet`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(who),
    signal: AbortSignal.timeout(30_000),
  });
  expect(res.status).toBe(200);
  return res.json();
}

describe('request identity: signed requests to deployments', () => {
  const cleanup = new Cleanup();
  let oldKey: { file: string; id: string };
  let newKey_: { file: string; id: string };
  let stead: SteadUnderTest;
  let trustsOld: ServiceProcess;
  let trustsBoth: ServiceProcess;

  beforeAll(async () => {
    const dir = cleanup.tempDir('stead-identity-');
    oldKey = newKey(dir, 'old');
    newKey_ = newKey(dir, 'new');
    stead = await startStead(cleanup, [KEY_FLAG, oldKey.file]);
    trustsOld = await ServiceProcess.start(cleanup, SERVICE, { SERVICE_NAME: 'TrustsOld', IDENTITY_KEYS: oldKey.id });
    trustsBoth = await ServiceProcess.start(cleanup, SERVICE, {
      SERVICE_NAME: 'TrustsBoth',
      IDENTITY_KEYS: `${oldKey.id},${newKey_.id}`,
    });
  }, 180_000);
  afterAll(() => cleanup.run());

  it('logs the public key id at start, for the SDKs identityKeys', () => {
    // The processes that invoke (the server, or every worker) say which key they sign with.
    expect(stead.output()).toContain(`"requestIdentityKeyId":"${oldKey.id}"`);
  });

  it('registers and invokes an endpoint that trusts its key (discovery and both invocations signed)', async () => {
    expect((await register(stead.adminUrl, trustsOld.uri)).status).toBe(201);
    expect(await greet(stead.ingressUrl, 'TrustsOld', 'ada')).toBe('HELLO ADA');
  });

  it('refuses to start with a key file that is missing or not an Ed25519 key, naming the file', async () => {
    const dir = cleanup.tempDir('stead-identity-bad-');
    const missing = join(dir, 'missing.pem');
    const ec = join(dir, 'ec.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', ec]);
    for (const [file, why] of [
      [missing, /cannot read the request identity key file .*missing\.pem: ENOENT/],
      [ec, /the request identity key file .*ec\.pem: expected an Ed25519 private key/],
    ] as const) {
      const err = await SteadServer.start(cleanup, [KEY_FLAG, file]).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/stead-server exited during start/);
      expect(err?.message).toMatch(why);
    }
  });

  it('is refused by the same endpoint without a key: registration fails (400) quoting the deployment 401', async () => {
    const unsigned = await SteadServer.start(cleanup);
    const r = await register(unsigned.adminUrl, trustsOld.uri);
    expect(r.status).toBe(400);
    expect(r.message).toMatch(/answered discovery with HTTP 401/);
    expect(r.message).toMatch(/this Stead sends unsigned requests; set --request-identity-private-key-pem-file/);
    await unsigned.stop();
  });

  it('rotation: an endpoint with the old and the new key accepts either; one with the old only refuses the new', async () => {
    const rotating = await SteadServer.start(cleanup, [KEY_FLAG, oldKey.file]);
    expect((await register(rotating.adminUrl, trustsBoth.uri)).status).toBe(201);
    expect((await register(rotating.adminUrl, trustsOld.uri)).status).toBe(201);
    expect(await greet(rotating.ingressUrl, 'TrustsBoth', 'bob')).toBe('HELLO BOB');

    // The operator switches Stead to the new key (the endpoints were given both ids beforehand).
    rotating.extraArgs = [KEY_FLAG, newKey_.file];
    await rotating.restart();
    expect(rotating.proc!.output()).toContain(`"requestIdentityKeyId":"${newKey_.id}"`);
    expect(await greet(rotating.ingressUrl, 'TrustsBoth', 'cy')).toBe('HELLO CY');
    expect((await register(rotating.adminUrl, trustsBoth.uri, true)).status).toBe(200);

    // An endpoint that still trusts only the old key refuses the new one: discovery...
    const refused = await register(rotating.adminUrl, trustsOld.uri, true);
    expect(refused.status).toBe(400);
    expect(refused.message).toMatch(/HTTP 401/);
    expect(refused.message).toContain(`does not accept this Stead's key ${newKey_.id}`);
    // ...and invocations: the attempt fails with the deployment's 401 and is retried.
    const sent = await fetch(`${rotating.ingressUrl}/TrustsOld/greet/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify('dee'),
    });
    expect(sent.status).toBe(202);
    const { invocationId } = (await sent.json()) as { invocationId: string };
    let lastFailure = '';
    await waitFor(
      async () => {
        const res = await fetch(`${rotating.adminUrl}/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ query: `SELECT last_failure FROM sys_invocation WHERE id = '${invocationId}'` }),
        });
        const rows = ((await res.json()) as { rows: { last_failure?: string }[] }).rows;
        lastFailure = rows[0]?.last_failure ?? '';
        return lastFailure !== '';
      },
      { timeoutMs: 20_000, what: 'the refused attempt to be recorded' },
    );
    expect(lastFailure).toMatch(/HTTP 401/);
    expect(lastFailure).toContain(newKey_.id);
    await rotating.stop();
  });
});
