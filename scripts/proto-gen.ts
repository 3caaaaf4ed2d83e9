// Generates libs/proto/src/gen from proto/ with buf + ts-proto.
// `--check` regenerates into a temp dir and fails when the committed code differs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const committed = join(root, 'libs/proto/src/gen');
const check = process.argv.includes('--check');

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const protos = walk(join(root, 'proto')).filter((p) => p.endsWith('.proto'));
const out = check ? mkdtempSync(join(tmpdir(), 'stead-proto-')) : committed;
try {
  if (!check) {
    rmSync(committed, { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
  if (protos.length > 0) {
    execFileSync(
      join(root, 'node_modules/.bin/buf'),
      ['generate', 'proto', '--template', JSON.stringify(templateWithOut(out))],
      { cwd: root, stdio: 'inherit' },
    );
  }
  if (check) {
    const a = walk(committed)
      .map((p) => relative(committed, p))
      .sort();
    const b = walk(out)
      .map((p) => relative(out, p))
      .sort();
    const stale: string[] = [];
    for (const f of new Set([...a, ...b])) {
      const x = existsSync(join(committed, f)) ? readFileSync(join(committed, f), 'utf8') : null;
      const y = existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8') : null;
      if (x !== y) stale.push(f);
    }
    if (stale.length > 0) {
      console.error(`generated code in libs/proto/src/gen is stale (run npm run proto:gen): ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log(`proto: ${protos.length} .proto files, generated code up to date`);
  } else {
    console.log(`proto: generated ${walk(out).length} files from ${protos.length} .proto files`);
  }
} finally {
  if (check) rmSync(out, { recursive: true, force: true });
}

function templateWithOut(dir: string) {
  const tpl = readFileSync(join(root, 'buf.gen.yaml'), 'utf8');
  const opts = [...tpl.matchAll(/^\s+- (\w+=\S+)$/gm)].map((m) => m[1]);
  return {
    version: 'v2',
    plugins: [{ local: join(root, 'node_modules/.bin/protoc-gen-ts_proto'), out: dir, opt: opts }],
  };
}
