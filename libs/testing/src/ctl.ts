import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { NODE, REPO } from './process.ts';

const CLI = join(REPO, 'apps/cli/src/main.ts');

export interface CtlResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `stead ctl <args> --address <address>` as a child process (killed after `timeoutMs`, default 20 s). */
export function ctl(address: string, args: readonly string[], timeoutMs = 20_000): Promise<CtlResult> {
  return new Promise((resolve) => {
    execFile(NODE, [CLI, 'ctl', ...args, '--address', address], { timeout: timeoutMs }, (error, out, err) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, out, err });
    });
  });
}

/** Runs the command, expects exit status 0 and returns its standard output. */
export async function ctlOk(address: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await ctl(address, args, timeoutMs);
  if (r.code !== 0) throw new Error(`stead ctl ${args.join(' ')} exited ${r.code}: ${r.err}${r.out}`);
  return r.out;
}

/** Runs the command with `--json` and parses what it prints. */
export async function ctlJson<T>(address: string, args: readonly string[], timeoutMs?: number): Promise<T> {
  return JSON.parse(await ctlOk(address, [...args, '--json'], timeoutMs)) as T;
}
