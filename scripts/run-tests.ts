// Runs every project's tests through nx and ends with one summary line: "N passed, N failed, N skipped".
//
// Two phases, each keeping both cores of a CI machine busy: first every project but the e2e suites, two projects
// at a time (each jest runs one test file at a time); then the e2e suites of both topologies (the one-process
// server and the 3-worker cluster) side by side. The e2e tests spend most of their time waiting on real
// processes and timers, so two of them at once share the machine well.
import { spawn } from 'node:child_process';

const E2E = '@stead/e2e';
const extra = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
// biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
const ansi = /\u001b\[[0-9;]*m/g;

/** Runs `cmd args`, streaming its output with `prefix` and counting jest's "Tests:" lines; resolves to its exit code. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, prefix = ''): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let buffered = '';
    const scan = (text: string, out: NodeJS.WriteStream) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const raw of lines) {
        out.write(`${prefix}${raw}\n`);
        const m = /Tests:\s+(.*)\btotal/.exec(raw.replace(ansi, ''));
        if (!m) continue;
        for (const [, n, what] of m[1].matchAll(/(\d+) (passed|failed|skipped|todo)/g)) {
          if (what === 'passed') passed += Number(n);
          else if (what === 'failed') failed += Number(n);
          else skipped += Number(n);
        }
      }
    };
    child.stdout.on('data', (d: Buffer) => scan(d.toString(), process.stdout));
    child.stderr.on('data', (d: Buffer) => scan(d.toString(), process.stderr));
    child.on('close', (code) => {
      scan('\n', process.stdout);
      resolve(code ?? 1);
    });
  });
}

const nx = (args: string[]) =>
  run('nx', ['run-many', '-t', 'test', '--outputStyle=stream', ...args, ...extra], process.env);

if (extra.length > 0) {
  // Arguments pick projects or targets (e.g. `npm test -- --projects=@stead/log`): one plain nx run.
  const code = await nx(['--parallel=1']);
  process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  process.exit(code);
}
const started = Date.now();
const units = await nx(['--parallel=2', `--exclude=${E2E}`]);
const unitsS = Math.round((Date.now() - started) / 1000);
// The e2e package's own `test` script runs the topologies one after the other (for `npm test -w e2e`); here
// each topology is its own jest run.
const e2eStarted = Date.now();
const e2e = await Promise.all([
  run('npm', ['run', 'test:single', '-w', 'e2e'], process.env, '[e2e single] '),
  run('npm', ['run', 'test:cluster', '-w', 'e2e'], process.env, '[e2e cluster] '),
]);
const e2eS = Math.round((Date.now() - e2eStarted) / 1000);
process.stdout.write(
  `\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped (projects ${unitsS} s, e2e ${e2eS} s)\n`,
);
process.exit([units, ...e2e].every((c) => c === 0) ? 0 : 1);
