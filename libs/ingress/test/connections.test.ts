/**
 * Idle timeouts and the connection limit of the ingress listener, over real HTTP/1.1 sockets and h2c sessions
 * (and both over TLS).
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { InvocationOutcome, TlsFiles } from '@stead/core';
import { Cleanup, makeTestCa, type TestCa } from '@stead/testing';
import { type IngressServer, startIngressServer } from '../src/index.ts';
import { RecordingBackend, request, SERVICES, StaticSchema, waitFor } from './helpers.ts';

const IDLE_MS = 300;

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Sends one HTTP/1.1 request on a kept-alive socket and resolves with the status and body of its answer. */
function exchange(socket: Socket, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const header = buf.subarray(0, end).toString('latin1');
      const length = Number(/content-length: *(\d+)/i.exec(header)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve({ status: Number(header.split(' ')[1]), body: buf.subarray(end + 4, end + 4 + length).toString() });
    };
    const onClose = () => reject(new Error('connection closed before the answer'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(head);
  });
}

const HEALTH = 'GET /restate/health HTTP/1.1\r\nhost: x\r\n\r\n';
const CALL = 'POST /Greeter/any HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n';

function closed(s: Socket | http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) resolve();
    else s.once('close', () => resolve());
  });
}

function h2Get(session: http2.ClientHttp2Session, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': path });
    let status = 0;
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', () => {});
    stream.on('end', () => resolve(status));
    stream.on('error', reject);
    stream.end();
  });
}

describe('ingress connections', () => {
  let server: IngressServer;
  let backend: RecordingBackend;
  const clients: (Socket | http2.ClientHttp2Session)[] = [];
  let release: (o: InvocationOutcome) => void = () => {};

  const start = async (opts: { idleTimeoutMs?: number; maxConnections?: number; tls?: TlsFiles }) => {
    backend = new RecordingBackend();
    backend.answer = () =>
      new Promise<InvocationOutcome>((resolve) => {
        release = resolve;
      });
    server = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend,
      schema: new StaticSchema(SERVICES),
      onError: () => {},
      ...opts,
    });
  };
  const track = <T extends Socket | http2.ClientHttp2Session>(c: T): T => {
    clients.push(c);
    c.on('error', () => {});
    return c;
  };

  afterEach(async () => {
    release({ ok: true, value: Buffer.from('"done"') });
    for (const c of clients.splice(0)) c.destroy();
    await server.close();
  });

  test('HTTP/1.1: an idle connection is closed after the idle timeout, a busy one is not', async () => {
    await start({ idleTimeoutMs: IDLE_MS });
    const busy = track(await connect(server.port));
    const call = exchange(busy, CALL);
    await waitFor(() => backend.calls.length === 1);
    // Opened after the busy one went quiet: when these time out, the busy one's timer has fired already.
    const idle = track(await connect(server.port));
    const silent = track(await connect(server.port)); // never sends a byte
    expect((await exchange(idle, HEALTH)).status).toBe(200);
    const idleSince = Date.now();
    await Promise.all([closed(idle), closed(silent)]);
    expect(Date.now() - idleSince).toBeGreaterThanOrEqual(IDLE_MS - 50);
    // The busy connection outlived the idle ones; once its answer came, it is idle in turn.
    expect(busy.destroyed).toBe(false);
    release({ ok: true, value: Buffer.from('"late"') });
    expect(await call).toEqual({ status: 200, body: '"late"' });
    await closed(busy);
    expect((await request(server.port, { method: 'GET', path: '/restate/health' })).status).toBe(200);
  });

  test('HTTP/2: an idle session gets GOAWAY and is closed, one with an open stream is not', async () => {
    await start({ idleTimeoutMs: IDLE_MS });
    const busy = track(http2.connect(`http://127.0.0.1:${server.port}`));
    const call = h2Get(busy, '/Greeter/any', 'POST');
    await waitFor(() => backend.calls.length === 1);
    const idle = track(http2.connect(`http://127.0.0.1:${server.port}`));
    let goaway = false;
    idle.on('goaway', () => {
      goaway = true;
    });
    expect(await h2Get(idle, '/restate/health')).toBe(200);
    await closed(idle);
    expect(goaway).toBe(true);
    expect(busy.closed || busy.destroyed).toBe(false);
    release({ ok: true, value: Buffer.from('"late"') });
    expect(await call).toBe(200);
    await closed(busy);
    expect((await request(server.port, { method: 'GET', path: '/restate/health' })).status).toBe(200);
  });

  test('a connection over the limit is closed at once; the others and later ones are served', async () => {
    await start({ maxConnections: 2 });
    const a = track(await connect(server.port));
    const b = track(await connect(server.port));
    expect((await exchange(a, HEALTH)).status).toBe(200);
    expect((await exchange(b, HEALTH)).status).toBe(200);
    const over = track(await connect(server.port));
    let answered = false;
    over.on('data', () => {
      answered = true;
    });
    over.write(HEALTH);
    await closed(over);
    expect(answered).toBe(false);
    // The two within the limit still work.
    expect((await exchange(a, HEALTH)).status).toBe(200);
    expect((await exchange(b, HEALTH)).status).toBe(200);
    // Once one is gone, a new connection is accepted again.
    a.destroy();
    // (each refused attempt is answered by a close at once, so this loop paces itself)
    const deadline = Date.now() + 5000;
    for (;;) {
      const c = track(await connect(server.port));
      const ok = await exchange(c, HEALTH).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error('no connection accepted after one was closed');
    }
  });
});

describe('ingress connections over TLS', () => {
  const cleanup = new Cleanup();
  let ca: TestCa;
  let server: IngressServer;
  let backend: RecordingBackend;
  let release: (o: InvocationOutcome) => void = () => {};
  const clients: (Socket | http2.ClientHttp2Session)[] = [];

  beforeAll(async () => {
    ca = makeTestCa(cleanup.tempDir());
    const { certFile, keyFile } = ca.issue('ingress');
    backend = new RecordingBackend();
    backend.answer = () =>
      new Promise<InvocationOutcome>((resolve) => {
        release = resolve;
      });
    server = await startIngressServer({
      port: 0,
      host: '127.0.0.1',
      backend,
      schema: new StaticSchema(SERVICES),
      onError: () => {},
      idleTimeoutMs: IDLE_MS,
      tls: { certFile, keyFile },
    });
    cleanup.add(() => server.close());
  });
  afterEach(() => {
    release({ ok: true, value: Buffer.from('"done"') });
    for (const c of clients.splice(0)) c.destroy();
  });
  afterAll(() => cleanup.run());

  const tlsConnect = async (): Promise<Socket> => {
    const s = tls.connect({ port: server.port, host: '127.0.0.1', servername: 'localhost', ca: ca.cert });
    s.on('error', () => {});
    clients.push(s);
    await once(s, 'secureConnect');
    return s;
  };
  const h2Connect = () => {
    const session = http2.connect(`https://localhost:${server.port}`, { ca: ca.cert });
    session.on('error', () => {});
    clients.push(session);
    return session;
  };

  test('HTTP/1.1 over TLS: an idle connection is closed after the idle timeout, a busy one is not', async () => {
    const calls = backend.calls.length;
    const busy = await tlsConnect();
    const call = exchange(busy, CALL);
    await waitFor(() => backend.calls.length === calls + 1);
    const idle = await tlsConnect();
    expect((await exchange(idle, HEALTH)).status).toBe(200);
    const idleSince = Date.now();
    await closed(idle);
    expect(Date.now() - idleSince).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(busy.destroyed).toBe(false);
    release({ ok: true, value: Buffer.from('"late"') });
    expect(await call).toEqual({ status: 200, body: '"late"' });
    await closed(busy);
  });

  test('h2 over TLS: an idle session is closed, one with an open stream is not', async () => {
    const calls = backend.calls.length;
    const busy = h2Connect();
    const call = h2Get(busy, '/Greeter/any', 'POST');
    await waitFor(() => backend.calls.length === calls + 1);
    const idle = h2Connect();
    expect(await h2Get(idle, '/restate/health')).toBe(200);
    await closed(idle);
    expect(busy.closed || busy.destroyed).toBe(false);
    release({ ok: true, value: Buffer.from('"late"') });
    expect(await call).toBe(200);
    await closed(busy);
  });
});
