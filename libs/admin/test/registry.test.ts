import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deploymentIdProblem,
  FileSchemaStore,
  MemorySchemaStore,
  newDeploymentId,
  SchemaError,
  SchemaRegistry,
} from '../src/index.ts';
import { ScriptedDiscover, svc } from './helpers.ts';

const A = 'http://127.0.0.1:9081/';
const B = 'http://127.0.0.1:9082/';

async function rejection(p: Promise<unknown>): Promise<SchemaError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SchemaError);
    return err as SchemaError;
  }
  throw new Error('expected a rejection');
}

describe('deployment ids', () => {
  test('Restate format: dp_ + codec version 1 + 22 base62 characters, unique', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newDeploymentId()));
    expect(ids.size).toBe(200);
    for (const id of ids) {
      expect(id).toMatch(/^dp_1[0-9A-Za-z]{22}$/);
      expect(deploymentIdProblem(id)).toBeUndefined();
    }
    expect(deploymentIdProblem('dp_16xl0t9NCj52mqJLyea4Grf')).toBeUndefined();
    expect(deploymentIdProblem('xyz')).toBe('bad format');
    expect(deploymentIdProblem('dp_nope')).toBe('unrecognized codec version');
    expect(deploymentIdProblem('dp_1short')).toBe('bad format');
  });
});

describe('SchemaRegistry', () => {
  let dir: string;
  let d: ScriptedDiscover;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stead-admin-'));
    d = new ScriptedDiscover();
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const open = () => SchemaRegistry.open({ dataDir: dir, discover: d.fn });

  test('refuses link-local and metadata uris before any discovery unless allowed; passes the policy on', async () => {
    const reg = await open();
    for (const uri of ['http://169.254.169.254/latest/', 'http://[fe80::1]:9080/', 'http://metadata.goog/']) {
      const err = await rejection(reg.register({ uri }));
      expect(err.status).toBe(400);
      expect(err.message).toMatch(/link-local or cloud metadata|cloud metadata host name/);
    }
    expect(d.calls).toEqual([]);
    expect(reg.deployments()).toEqual([]);
    const seen: unknown[] = [];
    const allowed = await SchemaRegistry.open({
      dataDir: dir,
      discover: (uri, opts) => {
        seen.push(opts);
        return d.fn(uri, opts);
      },
      allowLinkLocal: true,
      maxDiscoveryResponseBytes: 1234,
    });
    const link = 'http://169.254.10.20:9080/';
    d.set(link, [svc('Edge')]);
    expect((await allowed.register({ uri: link })).created).toBe(true);
    expect(seen).toEqual([expect.objectContaining({ allowLinkLocal: true, maxResponseBytes: 1234 })]);
  });

  test('registers a deployment: id, revisions, views', async () => {
    d.set(A, [svc('Greeter'), svc('Counter', 'VIRTUAL_OBJECT', ['add', 'get'])], { sdkVersion: 'sdk/1' });
    const reg = await open();
    const r = await reg.register({ uri: 'http://127.0.0.1:9081', additionalHeaders: { 'x-a': 'b' } });
    expect(r.created).toBe(true);
    expect(r.deployment.id).toMatch(/^dp_1[0-9A-Za-z]{22}$/);
    expect(r.deployment).toMatchObject({
      uri: A,
      protocolType: 'BidiStream',
      minProtocolVersion: 5,
      maxProtocolVersion: 7,
      manifestVersion: 3,
      additionalHeaders: { 'x-a': 'b' },
      useHttp11: false,
      sdkVersion: 'sdk/1',
      services: [
        { name: 'Greeter', revision: 1 },
        { name: 'Counter', revision: 1 },
      ],
    });
    expect(reg.service('Greeter')).toMatchObject({
      ty: 'SERVICE',
      revision: 1,
      deploymentId: r.deployment.id,
      public: true,
    });
    expect(reg.service('Counter')?.handlers.map((h) => h.name)).toEqual(['add', 'get']);
    expect(reg.deployment(r.deployment.id)?.uri).toBe(A);
    expect(reg.deployments()).toHaveLength(1);
    expect(reg.version).toBe(1);
    expect(d.calls).toEqual([A]);
  });

  test('same uri again answers the existing deployment without discovery; force overwrites in place', async () => {
    d.set(A, [svc('Greeter')]);
    const reg = await open();
    const first = await reg.register({ uri: A });
    const again = await reg.register({ uri: A });
    expect(again.created).toBe(false);
    expect(again.deployment.id).toBe(first.deployment.id);
    expect(d.calls).toHaveLength(1);
    expect(reg.version).toBe(1);

    d.set(A, [svc('Greeter', 'SERVICE', ['greet', 'hello'])]);
    const forced = await reg.register({ uri: A, force: true });
    expect(forced.created).toBe(false);
    expect(forced.deployment.id).toBe(first.deployment.id);
    expect(reg.service('Greeter')?.revision).toBe(2);
    expect(reg.service('Greeter')?.handlers.map((h) => h.name)).toEqual(['greet', 'hello']);
    expect(reg.deployments()).toHaveLength(1);
  });

  test('a new deployment of a known service gets the next revision; the old one keeps its own', async () => {
    d.set(A, [svc('Greeter')]);
    d.set(B, [svc('Greeter', 'SERVICE', ['greet', 'v2'])]);
    const reg = await open();
    const a = await reg.register({ uri: A });
    const b = await reg.register({ uri: B });
    expect(reg.service('Greeter')).toMatchObject({ revision: 2, deploymentId: b.deployment.id });
    expect(reg.serviceInDeployment(a.deployment.id, 'Greeter')?.revision).toBe(1);
    expect(reg.deployment(a.deployment.id)?.services).toEqual([{ name: 'Greeter', revision: 1 }]);

    // removing the newest falls back to the older deployment's revision; removing all forgets the service
    expect(await reg.removeDeployment(b.deployment.id)).toBe(true);
    expect(reg.service('Greeter')).toMatchObject({ revision: 1, deploymentId: a.deployment.id });
    expect(await reg.removeDeployment(b.deployment.id)).toBe(false);
    expect(await reg.removeDeployment(a.deployment.id)).toBe(true);
    expect(reg.service('Greeter')).toBeUndefined();

    // revisions never go back
    const c = await reg.register({ uri: A });
    expect(reg.service('Greeter')).toMatchObject({ revision: 3, deploymentId: c.deployment.id });
  });

  test('a service type change is refused with 409 unless breaking or force', async () => {
    d.set(A, [svc('Greeter')]);
    d.set(B, [svc('Greeter', 'VIRTUAL_OBJECT')]);
    const reg = await open();
    await reg.register({ uri: A });
    const err = await rejection(reg.register({ uri: B }));
    expect(err.status).toBe(409);
    expect(err.restateCode).toBe('META0006');
    expect(err.message).toContain("'Greeter'");
    expect(reg.deployments()).toHaveLength(1);
    await reg.register({ uri: B, breaking: true });
    expect(reg.service('Greeter')?.ty).toBe('VIRTUAL_OBJECT');
    d.set(A, [svc('Greeter', 'WORKFLOW', ['run'])]);
    await reg.register({ uri: A, force: true });
    expect(reg.service('Greeter')?.ty).toBe('WORKFLOW');
  });

  test('protocol versions must intersect 5..7', async () => {
    d.set(A, [svc('X')], { minProtocolVersion: 1, maxProtocolVersion: 2 });
    d.set(B, [svc('Y')], { minProtocolVersion: 6, maxProtocolVersion: 9 });
    const reg = await open();
    const err = await rejection(reg.register({ uri: A }));
    expect(err.status).toBe(400);
    expect(err.restateCode).toBe('META0012');
    expect(err.message).toContain('unsupported service protocol versions: [1, 2]');
    await reg.register({ uri: B });
    expect(reg.service('Y')).toBeDefined();
  });

  test('manifest problems are 400; discovery failures keep their status', async () => {
    d.set(A, [svc('X'), svc('X')]);
    const reg = await open();
    expect((await rejection(reg.register({ uri: A }))).status).toBe(400);
    d.set(A, [{ name: 'X', ty: 'BOGUS' as never, handlers: [] }]);
    expect((await rejection(reg.register({ uri: A }))).message).toContain("unknown type 'BOGUS'");
    const unreachable = await rejection(reg.register({ uri: 'http://127.0.0.1:1/' }));
    expect(unreachable.status).toBe(503);
    expect(unreachable.message).toContain('cannot reach');
    expect(reg.deployments()).toHaveLength(0);
  });

  test('uris are validated and normalized', async () => {
    d.set(A, [svc('X')]);
    const reg = await open();
    for (const bad of ['not a uri', '127.0.0.1:1', 'ftp://host/x', '']) {
      const err = await rejection(reg.register({ uri: bad }));
      expect(err.status).toBe(400);
      expect(err.message).toMatch(/^The request field 'uri' is invalid/);
    }
    expect((await reg.register({ uri: 'HTTP://127.0.0.1:9081' })).deployment.uri).toBe(A);
  });

  test('dry run validates without registering', async () => {
    d.set(A, [svc('Greeter')]);
    const reg = await open();
    const r = await reg.register({ uri: A, dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.created).toBe(true);
    expect(r.services[0].revision).toBe(1);
    expect(reg.deployments()).toHaveLength(0);
    expect(reg.service('Greeter')).toBeUndefined();
    expect(reg.version).toBe(0);
  });

  test('private services and handlers are kept as not public', async () => {
    d.set(A, [
      { ...svc('Hidden'), public: false },
      {
        name: 'Mixed',
        ty: 'SERVICE',
        handlers: [{ name: 'open' }, { name: 'closed', public: false }],
      },
    ]);
    const reg = await open();
    await reg.register({ uri: A });
    expect(reg.service('Hidden')?.public).toBe(false);
    expect(reg.service('Mixed')?.public).toBe(true);
    expect(reg.service('Mixed')?.handlers.find((h) => h.name === 'closed')?.public).toBe(false);
  });

  test('persists across a re-created registry on the same directory', async () => {
    d.set(A, [svc('Greeter')]);
    d.set(B, [svc('Counter', 'VIRTUAL_OBJECT', ['add'])]);
    const reg = await open();
    const a = await reg.register({ uri: A, additionalHeaders: { authorization: 'Bearer x' }, useHttp11: true });
    const b = await reg.register({ uri: B });
    await reg.removeDeployment(b.deployment.id);
    await reg.register({ uri: B });

    const reopened = await open();
    expect(reopened.version).toBe(reg.version);
    expect(reopened.deployments()).toEqual(reg.deployments());
    expect(reopened.services()).toEqual(reg.services());
    expect(reopened.deployment(a.deployment.id)).toMatchObject({
      additionalHeaders: { authorization: 'Bearer x' },
      useHttp11: true,
    });
    expect(reopened.service('Counter')?.revision).toBe(2);
    // nothing but the snapshot file is left behind
    expect(await readdir(dir)).toEqual(['schema.json']);
    // and the revision counter survives too
    d.set(B, [svc('Counter', 'VIRTUAL_OBJECT', ['add', 'get'])]);
    await reopened.register({ uri: B, force: true });
    expect(reopened.service('Counter')?.revision).toBe(3);
  });

  test('a corrupt snapshot file is reported, not silently dropped', async () => {
    await writeFile(join(dir, 'schema.json'), '{"formatVersion":1,"deplo');
    await expect(open()).rejects.toThrow(/corrupt/);
  });

  test('concurrent registrations are serialized', async () => {
    const uris = Array.from({ length: 8 }, (_, i) => `http://127.0.0.1:${9100 + i}/`);
    for (const u of uris) d.set(u, [svc('Shared')]);
    const store = new MemorySchemaStore();
    const reg = await SchemaRegistry.open({ store, discover: d.fn });
    await Promise.all(uris.map((uri) => reg.register({ uri })));
    expect(reg.deployments()).toHaveLength(8);
    const revisions = reg.deployments().map((dep) => dep.services[0].revision);
    expect(revisions.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(reg.service('Shared')?.revision).toBe(8);
    expect(store.snapshot?.version).toBe(8);
  });

  test('change listeners fire after each committed change', async () => {
    d.set(A, [svc('Greeter')]);
    const reg = await open();
    const seen: number[] = [];
    const off = reg.onChange(() => seen.push(reg.version));
    const r = await reg.register({ uri: A });
    await reg.register({ uri: A }); // no change
    await reg.removeDeployment(r.deployment.id);
    off();
    await reg.register({ uri: A });
    expect(seen).toEqual([1, 2]);
  });

  test('FileSchemaStore: missing file loads as undefined', async () => {
    expect(await new FileSchemaStore(join(dir, 'nested', 'schema.json')).load()).toBeUndefined();
  });
});
