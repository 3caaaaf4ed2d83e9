// Runs every project's tests through nx and ends with one summary line: "N passed, N failed, N skipped".
import { spawn } from 'node:child_process';

const args = ['run-many', '-t', 'test', '--parallel=1', '--outputStyle=stream', ...process.argv.slice(2)];
const child = spawn('nx', args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
let passed = 0;
let failed = 0;
let skipped = 0;
let buffered = '';
// biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
const ansi = /\u001b\[[0-9;]*m/g;

function scan(text: string): void {
  buffered += text;
  const lines = buffered.split('\n');
  buffered = lines.pop() ?? '';
  for (const raw of lines) {
    const line = raw.replace(ansi, '');
    const m = /Tests:\s+(.*)\btotal/.exec(line);
    if (!m) continue;
    for (const [, n, what] of m[1].matchAll(/(\d+) (passed|failed|skipped|todo)/g)) {
      if (what === 'passed') passed += Number(n);
      else if (what === 'failed') failed += Number(n);
      else skipped += Number(n);
    }
  }
}

child.stdout.on('data', (d: Buffer) => {
  process.stdout.write(d);
  scan(d.toString());
});
child.stderr.on('data', (d: Buffer) => {
  process.stderr.write(d);
  scan(d.toString());
});
child.on('close', (code) => {
  scan('\n');
  process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  process.exit(code ?? 1);
});
