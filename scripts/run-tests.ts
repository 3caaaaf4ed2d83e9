// Runs every project's tests through nx and ends with one summary line: "N passed, N failed, N skipped".
//
// Two phases: first every project but the e2e suites, two projects at a time (each jest runs one test file at a
// time, so both cores of a CI machine work); then the e2e suites alone (the one-process topology, then the
// 3-worker cluster), since their clusters of real processes need the whole machine: run beside each other they
// took twice as long and timed out.
//
// Every Node process of the run (tests, and the servers and clusters they start) shares one V8 compile cache
// (NODE_COMPILE_CACHE): a Stead process then starts with about a third less CPU, and the e2e suites start hundreds.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const E2E = '@stead/e2e';
process.env.NODE_COMPILE_CACHE ??= join(import.meta.dirname, '../node_modules/.cache/node-compile');
const extra = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
// biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
const ansi = /\u001b\[[0-9;]*m/g;

/** Runs `cmd args`, streaming its output and counting jest's "Tests:" lines; resolves to its exit code. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let buffered = '';
    const scan = (text: string, out: NodeJS.WriteStream) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const raw of lines) {
        out.write(`${raw}\n`);
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
const e2eStarted = Date.now();
const e2e = await nx([`--projects=${E2E}`]);
const e2eS = Math.round((Date.now() - e2eStarted) / 1000);
process.stdout.write(
  `\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped (projects ${unitsS} s, e2e ${e2eS} s)\n`,
);
process.exit(units === 0 && e2e === 0 ? 0 : 1);
