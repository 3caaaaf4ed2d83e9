/**
 * The admin server's edges over real sockets: CORS (no reflected origin with credentials), idle connections
 * closed, a connection limit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CorsPolicy, corsPolicy } from '@stead/core';
import { type AdminServer, SchemaRegistry, startAdminServer } from '../src/index.ts';
import { request } from './helpers.ts';

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function exchange(socket: Socket, head: string): Promise<number> {
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
      resolve(Number(header.split(' ')[1]));
    };
    const onClose = () => reject(new Error('connection closed before the answer'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(head);
  });
}

const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', resolve)));
const HEALTH = 'GET /health HTTP/1.1\r\nhost: x\r\n\r\n';

describe('admin server edges', () => {
  let dir: string;
  let admin: AdminServer | undefined;
  const sockets: Socket[] = [];

  const start = async (opts: { cors?: CorsPolicy; idleTimeoutMs?: number; maxConnections?: number } = {}) => {
    const registry = await SchemaRegistry.open({ dataDir: dir });
    admin = await startAdminServer({ port: 0, host: '127.0.0.1', registry, onError: () => {}, ...opts });
    return admin.port;
  };
  const track = (s: Socket) => {
    sockets.push(s);
    s.on('error', () => {});
    return s;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stead-admin-edges-'));
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await admin?.close();
    admin = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const preflight = (port: number, origin: string) =>
    request(port, {
      method: 'OPTIONS',
      path: '/deployments',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });

  test('CORS by default: no CORS headers for any origin, preflight not answered', async () => {
    const port = await start();
    const pre = await preflight(port, 'https://evil.example');
    expect(pre.status).toBe(405);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const r = await request(port, { path: '/deployments', headers: { origin: 'https://evil.example' } });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
  });

  test('CORS with a list: listed origins echoed (credentials when allowed), others get nothing', async () => {
    const port = await start({ cors: corsPolicy('https://ui.example.com', true) });
    const pre = await preflight(port, 'https://ui.example.com');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://ui.example.com');
    expect(pre.headers['access-control-allow-credentials']).toBe('true');
    expect(pre.headers['access-control-allow-methods']).toBe('POST');
    expect(pre.headers['access-control-allow-headers']).toBe('content-type');
    const ok = await request(port, { path: '/deployments', headers: { origin: 'https://ui.example.com' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://ui.example.com');
    const evilPre = await preflight(port, 'https://evil.example');
    expect(evilPre.headers['access-control-allow-origin']).toBeUndefined();
    expect(evilPre.headers['access-control-allow-credentials']).toBeUndefined();
    const evil = await request(port, { path: '/deployments', headers: { origin: 'https://evil.example' } });
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    expect(evil.headers['access-control-allow-credentials']).toBeUndefined();
  });

  test('CORS *: any origin as *, never with credentials', async () => {
    const port = await start({ cors: corsPolicy('*', true) });
    const pre = await preflight(port, 'https://evil.example');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('*');
    expect(pre.headers['access-control-allow-credentials']).toBeUndefined();
    const r = await request(port, { path: '/version', headers: { origin: 'https://evil.example' } });
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
  });

  test('an idle connection is closed after the idle timeout; the server keeps serving', async () => {
    const idleMs = 300;
    const port = await start({ idleTimeoutMs: idleMs });
    const kept = track(await connect(port));
    const silent = track(await connect(port));
    expect(await exchange(kept, HEALTH)).toBe(200);
    const since = Date.now();
    await Promise.all([closed(kept), closed(silent)]);
    expect(Date.now() - since).toBeGreaterThanOrEqual(idleMs - 50);
    expect((await request(port, { path: '/health' })).status).toBe(200);
  });

  test('a connection over the limit is closed at once; the others keep working', async () => {
    const port = await start({ maxConnections: 2 });
    const a = track(await connect(port));
    const b = track(await connect(port));
    expect(await exchange(a, HEALTH)).toBe(200);
    expect(await exchange(b, HEALTH)).toBe(200);
    const over = track(await connect(port));
    let answered = false;
    over.on('data', () => {
      answered = true;
    });
    over.write(HEALTH);
    await closed(over);
    expect(answered).toBe(false);
    expect(await exchange(a, HEALTH)).toBe(200);
    expect(await exchange(b, HEALTH)).toBe(200);
  });
});
