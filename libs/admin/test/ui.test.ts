import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AdminServer, SchemaRegistry, startAdminServer } from '../src/index.ts';
import { request } from './helpers.ts';

const INDEX = '<!doctype html><title>ui</title><script type="module" src="/ui/assets/app-1a2b.js"></script>';

describe('the web UI under /ui', () => {
  let dir: string;
  let admin: AdminServer;
  let bare: AdminServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stead-ui-'));
    const dist = join(dir, 'dist');
    mkdirSync(join(dist, 'assets'), { recursive: true });
    writeFileSync(join(dist, 'index.html'), INDEX);
    writeFileSync(join(dist, 'assets/app-1a2b.js'), 'console.log(1)');
    writeFileSync(join(dist, 'assets/app-1a2b.css'), 'body{}');
    writeFileSync(join(dist, 'favicon.svg'), '<svg/>');
    writeFileSync(join(dist, '.env'), 'secret');
    writeFileSync(join(dir, 'secret.txt'), 'outside');
    const registry = await SchemaRegistry.open({ dataDir: join(dir, 'data'), discover: async () => Promise.reject() });
    admin = await startAdminServer({ port: 0, host: '127.0.0.1', registry, uiDir: dist, onError: () => {} });
    bare = await startAdminServer({ port: 0, host: '127.0.0.1', registry, onError: () => {} });
  });
  afterAll(async () => {
    await admin.close();
    await bare.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (path: string, method = 'GET') => request(admin.port, { method, path });

  it('answers /ui, /ui/ and client routes with index.html, revalidated on every load', async () => {
    for (const path of ['/ui', '/ui/', '/ui/invocations', '/ui/invocations/inv_1abc?status=running']) {
      const res = await get(path);
      expect([path, res.status, res.text]).toEqual([path, 200, INDEX]);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('serves hashed assets with their content type, cached for a year', async () => {
    const js = await get('/ui/assets/app-1a2b.js');
    expect(js.status).toBe(200);
    expect(js.text).toBe('console.log(1)');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const css = await get('/ui/assets/app-1a2b.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const svg = await get('/ui/favicon.svg');
    expect([svg.status, svg.headers['content-type'], svg.headers['cache-control']]).toEqual([
      200,
      'image/svg+xml',
      'no-cache',
    ]);
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await get('/ui/assets/app-1a2b.js', 'HEAD');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('14');
    expect(res.text).toBe('');
  });

  it('answers 404 for a missing asset or file, not index.html', async () => {
    for (const path of ['/ui/assets/gone-0000.js', '/ui/assets/x', '/ui/missing.png']) {
      const res = await get(path);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.text).not.toContain('<title>');
    }
  });

  it('never serves a file outside the built directory, nor a dot file', async () => {
    for (const path of [
      '/ui/../secret.txt',
      '/ui/%2e%2e/secret.txt',
      '/ui/assets/%2e%2e/%2e%2e/secret.txt',
      '/ui/..%2fsecret.txt',
      '/ui/%2e%2e%5csecret.txt',
      '/ui/.env',
      '/ui/assets/app-1a2b.js%00.html',
      '/ui/%E0%A4%A',
    ]) {
      const res = await get(path);
      expect(res.text).not.toContain('outside');
      expect(res.text).not.toContain('secret\n');
      // `..` the client sends unencoded is resolved by URL parsing to /secret.txt, outside /ui: a 404 of the API.
      expect([path, res.status]).toEqual([path, 404]);
    }
  });

  it('refuses other methods with 405 and leaves the API paths to the API', async () => {
    const post = await get('/ui/', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const other = await get('/uix');
    expect(other.status).toBe(404);
    expect(other.json).toMatchObject({ message: 'no such path: /uix' });
    const api = await get('/health');
    expect(api.status).toBe(200);
  });

  it('is a 404 of the API when the server has no UI directory', async () => {
    const res = await request(bare.port, { path: '/ui/' });
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ message: 'no such path: /ui/' });
  });
});
