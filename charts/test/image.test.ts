// The Dockerfile cannot be built here (no container engine): check what it names exists, and that the `stead`
// wrapper it installs as the entrypoint starts the command line and the roles.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './k8s.ts';

const exec = promisify(execFile);

/** The instructions of a Dockerfile: [keyword, arguments], continuation lines joined, comments dropped. */
function instructions(text: string): [string, string][] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [keyword, ...rest] = l.split(/\s+/);
      return [keyword.toUpperCase(), rest.join(' ')];
    });
}

const dockerfile = instructions(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const all = (keyword: string) => dockerfile.filter(([k]) => k === keyword).map(([, a]) => a);

/** The `-w <workspace>` directories of the npm ci step. */
const installed = () =>
  [
    ...all('RUN')
      .join(' ')
      .matchAll(/-w (\S+)/g),
  ].map((m) => m[1]);

describe('Dockerfile', () => {
  it('builds on node:24-bookworm-slim in two stages', () => {
    expect(all('ARG')).toContain('NODE_IMAGE=node:24-bookworm-slim');
    const image = '$' + '{NODE_IMAGE}';
    expect(all('FROM')).toEqual([`${image} AS deps`, image]);
  });

  it('installs without devDependencies only the workspaces that exist, the CLI and every app among them', () => {
    const run = all('RUN').join(' ');
    expect(run).toMatch(/npm ci --omit=dev/);
    const dirs = installed();
    for (const dir of dirs) expect([dir, existsSync(join(REPO, dir, 'package.json'))]).toEqual([dir, true]);
    expect(dirs.sort()).toEqual(
      ['cli', 'server', 'metadata-store', 'log-server', 'sequencer', 'worker', 'ingress', 'admin']
        .map((a) => `apps/${a}`)
        .sort(),
    );
  });

  it('copies only paths of the repository, and the wrapper to /usr/local/bin/stead', () => {
    const copies = all('COPY').filter((a) => !a.startsWith('--from'));
    for (const copy of copies) {
      const [src] = copy.split(/\s+/);
      expect([src, existsSync(join(REPO, src))]).toEqual([src, true]);
    }
    expect(copies).toContain('docker/stead /usr/local/bin/stead');
    expect(all('COPY')).toContain('--from=deps /opt/stead /opt/stead');
  });

  it('runs as a non-root user, with the stead entrypoint, the ports and the data volume', () => {
    expect(all('USER')).toEqual(['10001:10001']);
    expect(all('ENTRYPOINT')).toEqual(['["stead"]']);
    expect(all('EXPOSE').join(' ').split(' ').sort()).toEqual(['5122', '5123', '8080', '8090', '9070']);
    expect(all('VOLUME')).toEqual(['/var/lib/stead']);
  });

  it('keeps in the build context the package.json of every workspace (npm ci checks them) and the built web UI', () => {
    const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    // .dockerignore globs: `**/` any directories, `*` within one path segment; a match also covers what is below.
    const toRegex = (p: string) => {
      const escaped = p.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      const glob = escaped.replaceAll('**/', '\u0000').replaceAll('*', '[^/]*').replaceAll('\u0000', '(.*/)?');
      return new RegExp(`^${glob}(/.*)?$`);
    };
    const ignored = (path: string) =>
      ignore.reduce(
        (out, p) => (p.startsWith('!') ? (toRegex(p.slice(1)).test(path) ? false : out) : toRegex(p).test(path) || out),
        false,
      );
    const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { workspaces: string[] };
    for (const ws of root.workspaces) {
      const path = `${ws.replace('/*', '/admin')}/package.json`;
      expect([path, ignored(path)]).toEqual([path, false]);
    }
    expect(ignored('e2e/test/x.test.ts')).toBe(true);
    expect(ignored('apps/worker/test/app.test.ts')).toBe(true);
    expect(ignored('apps/worker/src/main.ts')).toBe(false);
    // The web UI is in the image as its committed build, which the admin API serves under /ui.
    expect(ignored('apps/ui/index.ts')).toBe(false);
    expect(ignored('apps/ui/dist/index.html')).toBe(false);
    expect(ignored('apps/ui/dist/assets/index-0a1b2c3d.js')).toBe(false);
    expect(ignored('apps/ui/src/app.tsx')).toBe(true);
  });
});

describe('the stead wrapper (docker/stead)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stead-wrapper-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** The wrapper with the image's /opt/stead pointing at this checkout. */
  const wrapper = join(dir, 'stead');
  writeFileSync(wrapper, readFileSync(join(REPO, 'docker/stead'), 'utf8').replaceAll('/opt/stead/', REPO));
  const env = { ...process.env, PATH: `${join(REPO, 'node_modules/.bin')}:${process.env.PATH}` };

  it('execs node on the CLI of the tree the image copies to /opt/stead', () => {
    const text = readFileSync(join(REPO, 'docker/stead'), 'utf8');
    expect(text).toMatch(/^exec node .*\/opt\/stead\/apps\/cli\/src\/main\.ts "\$@"$/m);
    expect(existsSync(join(REPO, 'apps/cli/src/main.ts'))).toBe(true);
  });

  it('starts: `stead --help` lists the roles and `stead worker --help` the worker settings', async () => {
    const root = await exec('sh', [wrapper, '--help'], { env });
    expect(root.stdout).toMatch(/^ {2}worker /m);
    expect(root.stdout).toMatch(/^ {2}metadata-store /m);
    const worker = await exec('sh', [wrapper, 'worker', '--help'], { env });
    expect(worker.stdout).toMatch(/STEAD_METADATA_ADDRESS/);
  }, 30_000);
});
