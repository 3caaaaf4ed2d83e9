// Schema registries of several processes sharing one real metadata store.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetadataStore, GrpcMetadataClient, type MetadataClient } from '@stead/metadata';
import {
  MetadataSchemaStore,
  SCHEMA_KEY,
  SchemaConflictError,
  SchemaRegistry,
  type SchemaSnapshot,
  type SchemaStore,
} from '../src/index.ts';
import { ScriptedDiscover, svc } from './helpers.ts';

const A = 'http://127.0.0.1:9081/';
const B = 'http://127.0.0.1:9082/';
const C = 'http://127.0.0.1:9083/';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function until<T>(f: () => T | undefined | false, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stead-admin-md-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A single-member metadata store; `client()` gives each simulated process its own gRPC connection. */
async function metadata(): Promise<{ client: () => MetadataClient }> {
  const port = await freePort();
  const store = await createMetadataStore({
    dataDir: await tempDir(),
    nodeId: '1',
    tickMs: 10,
    grpcPort: port,
    grpcHost: '127.0.0.1',
    address: `127.0.0.1:${port}`,
  });
  cleanups.push(() => store.close());
  return {
    client: () => {
      const c = new GrpcMetadataClient({ addresses: [`127.0.0.1:${port}`] });
      cleanups.push(() => c.close());
      return c;
    },
  };
}

async function registry(store: SchemaStore, d: ScriptedDiscover): Promise<SchemaRegistry> {
  const r = await SchemaRegistry.open({ store, discover: d.fn });
  cleanups.push(() => r.close());
  return r;
}

/** Counts the conflicts a store reports; `follow: false` hides its watch (a registry that never hears of others). */
function counting(inner: MetadataSchemaStore, follow = true): SchemaStore & { conflicts: number } {
  const s = {
    conflicts: 0,
    load: () => inner.load(),
    save: async (snap: SchemaSnapshot) => {
      try {
        await inner.save(snap);
      } catch (e) {
        if (e instanceof SchemaConflictError) s.conflicts++;
        throw e;
      }
    },
    ...(follow ? { watch: (f: () => void) => inner.watch(f) } : {}),
  };
  return s;
}

describe('schema in the metadata store', () => {
  test('a deployment registered through one registry shows up in the other', async () => {
    const md = await metadata();
    const d = new ScriptedDiscover();
    d.set(A, [svc('Greeter'), svc('Counter', 'VIRTUAL_OBJECT')]);
    const one = await registry(new MetadataSchemaStore({ client: md.client() }), d);
    const two = await registry(new MetadataSchemaStore({ client: md.client() }), d);
    let changes = 0;
    two.onChange(() => changes++);

    const reg = await one.register({ uri: A });
    expect(reg.created).toBe(true);
    await until(() => two.service('Counter'));
    expect(two.service('Greeter')?.deploymentId).toBe(reg.deployment.id);
    expect(two.deployments().map((x) => x.uri)).toEqual([A]);
    expect(two.version).toBe(one.version);
    expect(changes).toBe(1);

    // And back: a removal through the second registry reaches the first.
    expect(await two.removeDeployment(reg.deployment.id)).toBe(true);
    await until(() => one.service('Greeter') === undefined);
    expect(one.deployments()).toEqual([]);
  });

  test('concurrent changes through two registries lose neither', async () => {
    const md = await metadata();
    const d = new ScriptedDiscover();
    d.set(A, [svc('Alpha')]);
    d.set(B, [svc('Beta')]);
    d.set(C, [svc('Gamma')]);
    const one = await registry(new MetadataSchemaStore({ client: md.client() }), d);
    const stale = counting(new MetadataSchemaStore({ client: md.client() }), false);
    const two = await registry(stale, d);

    // `two` does not follow: its change is based on an old version, conflicts, reloads and is applied again.
    await one.register({ uri: A });
    const beta = await two.register({ uri: B });
    expect(beta.created).toBe(true);
    expect(stale.conflicts).toBe(1);
    expect(
      two
        .services()
        .map((s) => s.name)
        .sort(),
    ).toEqual(['Alpha', 'Beta']);

    // Both at once, each registry following the other.
    const three = await registry(new MetadataSchemaStore({ client: md.client() }), d);
    await until(() => three.service('Beta'));
    await Promise.all([one.modifyService('Alpha', { public: false }), three.register({ uri: C })]);
    for (const r of [one, three]) {
      await until(() => r.service('Gamma') && r.service('Alpha')?.public === false);
      expect(r.services().length).toBe(3);
    }
    const stored = await new MetadataSchemaStore({ client: md.client() }).load();
    expect(stored?.deployments.map((e) => e.deployment.uri).sort()).toEqual([A, B, C]);
    expect(stored?.version).toBe(one.version);
  });

  test('imports a legacy schema file once, and refuses a key that holds something else', async () => {
    const md = await metadata();
    const d = new ScriptedDiscover();
    d.set(A, [svc('Legacy')]);
    const dataDir = await tempDir();
    const file = join(dataDir, 'schema.json');
    const old = await SchemaRegistry.open({ dataDir, discover: d.fn });
    await old.register({ uri: A });

    const client = md.client();
    const migrated = await registry(new MetadataSchemaStore({ client, legacyFile: file }), d);
    expect(migrated.service('Legacy')?.revision).toBe(1);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.imported`)).toBe(true);

    // A new legacy file later is not imported over what the key holds.
    d.set(B, [svc('Other')]);
    const other = await SchemaRegistry.open({ dataDir, discover: d.fn });
    await other.register({ uri: B });
    const again = await registry(new MetadataSchemaStore({ client, legacyFile: file }), d);
    expect(again.service('Legacy')).toBeDefined();
    expect(again.service('Other')).toBeUndefined();

    await client.put(SCHEMA_KEY, new TextEncoder().encode('{"format":"something-else"}'));
    await expect(new MetadataSchemaStore({ client }).load()).rejects.toThrow(
      /metadata key 'schema' does not hold a schema snapshot/,
    );
  });
});
