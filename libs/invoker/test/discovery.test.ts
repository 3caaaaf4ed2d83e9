import { createServer as createH2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as restate from '@restatedev/restate-sdk';
import { DiscoveryError, discover } from '../src/index.ts';

const greeter = restate.service({
  name: 'Greeter',
  handlers: { greet: async (_ctx: restate.Context, name: string) => `hi ${name}` },
});
const counter = restate.object({
  name: 'Counter',
  handlers: {
    add: async (_ctx: restate.ObjectContext, n: number) => n,
    get: restate.handlers.object.shared(async () => 0),
  },
});
const signup = restate.workflow({
  name: 'Signup',
  handlers: {
    run: async () => 'done',
    confirm: async () => {},
  },
});

describe('endpoint discovery', () => {
  let endpointPort: number;
  let closeEndpoint: () => Promise<void>;
  beforeAll(async () => {
    const server = restate.endpoint().bind(greeter).bind(counter).bind(signup).http2Handler();
    const h2 = createH2(server);
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    endpointPort = (h2.address() as AddressInfo).port;
    closeEndpoint = () => new Promise((r) => h2.close(() => r()));
  });
  afterAll(() => closeEndpoint());

  it('reads the manifest of a real SDK endpoint', async () => {
    const d = await discover(`http://127.0.0.1:${endpointPort}`);
    expect(d.minProtocolVersion).toBeLessThanOrEqual(6);
    expect(d.maxProtocolVersion).toBeGreaterThanOrEqual(6);
    expect(d.protocolMode).toBe('BIDI_STREAM');
    expect([2, 3, 4]).toContain(d.manifestVersion);
    const byName = new Map(d.services.map((s) => [s.name, s]));
    expect(byName.get('Greeter')?.ty).toBe('SERVICE');
    expect(
      byName
        .get('Counter')
        ?.handlers.map((h) => [h.name, h.ty])
        .sort(),
    ).toEqual([
      ['add', 'EXCLUSIVE'],
      ['get', 'SHARED'],
    ]);
    expect(byName.get('Signup')?.handlers.find((h) => h.name === 'run')?.ty).toBe('WORKFLOW');
  });

  async function fakeEndpoint(answer: { status: number; contentType: string; body: string }) {
    const h2 = createH2((_req, res) => {
      res.writeHead(answer.status, { 'content-type': answer.contentType });
      res.end(answer.body);
    });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    return {
      uri: `http://127.0.0.1:${(h2.address() as AddressInfo).port}`,
      close: () => new Promise<void>((r) => h2.close(() => r())),
    };
  }

  it.each([
    ['not JSON', 'application/vnd.restate.endpointmanifest.v3+json', '{oops', /not valid JSON/],
    [
      'no services',
      'application/vnd.restate.endpointmanifest.v3+json',
      '{"minProtocolVersion":5,"maxProtocolVersion":6}',
      /services must be an array/,
    ],
    [
      'a bad service type',
      'application/vnd.restate.endpointmanifest.v3+json',
      '{"minProtocolVersion":5,"maxProtocolVersion":6,"services":[{"name":"S","ty":"ACTOR","handlers":[]}]}',
      /ty must be SERVICE, VIRTUAL_OBJECT or WORKFLOW/,
    ],
    ['the wrong content type', 'text/html', '<html>', /content type 'text\/html'/],
  ])('answers 400 for a manifest with %s', async (_what, contentType, body, message) => {
    const ep = await fakeEndpoint({ status: 200, contentType, body });
    try {
      const err = await discover(ep.uri).catch((e) => e);
      expect(err).toBeInstanceOf(DiscoveryError);
      expect(err.status).toBe(400);
      expect(err.message).toMatch(message);
    } finally {
      await ep.close();
    }
  });

  it('answers 503 naming the cause for an unreachable or failing endpoint, 400 for one that refuses', async () => {
    const closed = await fakeEndpoint({ status: 200, contentType: 'x', body: '' });
    await closed.close();
    const err = await discover(closed.uri, { timeoutMs: 2000 }).catch((e) => e);
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/cannot reach the deployment.*ECONNREFUSED/);
    const failing = await fakeEndpoint({ status: 503, contentType: 'text/plain', body: 'overloaded' });
    try {
      const e2 = await discover(failing.uri).catch((e) => e);
      expect(e2.status).toBe(503);
      expect(e2.message).toMatch(/HTTP 503: overloaded/);
    } finally {
      await failing.close();
    }
    // A path where no SDK listens (or an endpoint that refuses us): the request is wrong, not the server.
    const missing = await fakeEndpoint({ status: 404, contentType: 'text/plain', body: 'no such path' });
    try {
      const e3 = await discover(missing.uri).catch((e) => e);
      expect(e3.status).toBe(400);
      expect(e3.message).toMatch(/HTTP 404: no such path/);
    } finally {
      await missing.close();
    }
    expect((await discover('ftp://x').catch((e) => e)).status).toBe(400);
  });

  describe('link-local and cloud metadata addresses', () => {
    const calls: string[] = [];
    /** A resolver with a few names: the real endpoint's loopback, and names that lead to metadata addresses. */
    const resolve = async (hostname: string) => {
      calls.push(hostname);
      const table: Record<string, { address: string; family: number }[]> = {
        'sdk.test': [{ address: '127.0.0.1', family: 4 }],
        'sneaky.test': [{ address: '169.254.169.254', family: 4 }],
        'mixed.test': [
          { address: '127.0.0.1', family: 4 },
          { address: 'fe80::1', family: 6 },
        ],
        'ec2v6.test': [{ address: 'fd00:ec2::254', family: 6 }],
      };
      const found = table[hostname];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return found;
    };

    it('refuses literal addresses and metadata host names before connecting', async () => {
      for (const uri of [
        'http://169.254.169.254/',
        'http://[fe80::abcd]:9080/',
        'http://[fd00:ec2::254]/',
        'http://0xa9fea9fe/',
        'http://metadata.google.internal/',
      ]) {
        const err = await discover(uri, { resolve, timeoutMs: 2000 }).catch((e) => e);
        expect(err).toBeInstanceOf(DiscoveryError);
        expect({ uri, status: err.status }).toEqual({ uri, status: 400 });
        expect(err.message).toMatch(/link-local or cloud metadata|cloud metadata host name/);
      }
    });

    it('refuses a name that resolves to such an address, over HTTP/2 and HTTP/1.1', async () => {
      for (const useHttp11 of [false, true]) {
        for (const host of ['sneaky.test', 'mixed.test', 'ec2v6.test']) {
          const err = await discover(`http://${host}:${endpointPort}`, { resolve, useHttp11, timeoutMs: 2000 }).catch(
            (e) => e,
          );
          expect(err).toBeInstanceOf(DiscoveryError);
          expect({ host, status: err.status }).toEqual({ host, status: 400 });
          expect(err.message).toMatch(
            new RegExp(`'${host.replace('.', '\\.')}' resolves to .*link-local or cloud metadata`),
          );
        }
      }
    });

    it('connects through the same resolver to an allowed address; allowLinkLocal turns the check off', async () => {
      calls.length = 0;
      const d = await discover(`http://sdk.test:${endpointPort}`, { resolve });
      expect(d.services.map((s) => s.name).sort()).toEqual(['Counter', 'Greeter', 'Signup']);
      expect(calls).toContain('sdk.test');
      // Allowed: the guard (and its resolver) is out of the way, the system resolver answers (the .test name
      // does not exist, so it is a 500 naming the cause) and nothing is refused. No traffic to 169.254/16.
      calls.length = 0;
      const err = await discover(`http://mixed.test:${endpointPort}`, { resolve, allowLinkLocal: true }).catch(
        (e) => e,
      );
      expect(err.status).toBe(503);
      expect(err.message).toMatch(/ENOTFOUND|EAI_AGAIN/);
      expect(calls).toEqual([]);
    });
  });

  it('refuses an answer over the size limit with 400, declared or streamed', async () => {
    const big = await fakeEndpoint({
      status: 200,
      contentType: 'application/vnd.restate.endpointmanifest.v3+json',
      body: 'x'.repeat(100_000),
    });
    const streamed = createH2((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.restate.endpointmanifest.v3+json' });
      for (let i = 0; i < 10; i++) res.write('y'.repeat(10_000));
      res.end();
    });
    await new Promise<void>((r) => streamed.listen(0, '127.0.0.1', r));
    try {
      const urls = [big.uri, `http://127.0.0.1:${(streamed.address() as AddressInfo).port}`];
      for (const uri of urls) {
        const err = await discover(uri, { maxResponseBytes: 50_000 }).catch((e) => e);
        expect(err).toBeInstanceOf(DiscoveryError);
        expect(err.status).toBe(400);
        expect(err.message).toMatch(/is larger than the limit of 50000 bytes/);
      }
      // the real manifest is far below the default limit
      expect((await discover(`http://127.0.0.1:${endpointPort}`)).services).toHaveLength(3);
    } finally {
      await big.close();
      await new Promise<void>((r) => streamed.close(() => r()));
    }
  });
});
