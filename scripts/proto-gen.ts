// Generates libs/proto/src/gen from proto/ with buf + ts-proto.
// `--check` regenerates into a temp dir and fails when the committed code differs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { differences, walk } from './committed-build.ts';

const root = new URL('..', import.meta.url).pathname;
const committed = join(root, 'libs/proto/src/gen');
const check = process.argv.includes('--check');

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
    const stale = differences(committed, out);
    if (stale.length > 0) {
      console.error(`generated code in libs/proto/src/gen is stale (run npm run proto:gen): ${stale.join(', ')}`);
      // Not process.exit: the temp dir is removed below first.
      process.exitCode = 1;
    } else console.log(`proto: ${protos.length} .proto files, generated code up to date`);
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
