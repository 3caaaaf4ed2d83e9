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

  it('answers 500 naming the cause for an unreachable or failing endpoint', async () => {
    const closed = await fakeEndpoint({ status: 200, contentType: 'x', body: '' });
    await closed.close();
    const err = await discover(closed.uri, { timeoutMs: 2000 }).catch((e) => e);
    expect(err.status).toBe(500);
    expect(err.message).toMatch(/cannot reach the deployment.*ECONNREFUSED/);
    const failing = await fakeEndpoint({ status: 503, contentType: 'text/plain', body: 'overloaded' });
    try {
      const e2 = await discover(failing.uri).catch((e) => e);
      expect(e2.status).toBe(500);
      expect(e2.message).toMatch(/HTTP 503: overloaded/);
    } finally {
      await failing.close();
    }
    expect((await discover('ftp://x').catch((e) => e)).status).toBe(400);
  });
});
