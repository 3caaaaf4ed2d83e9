#!/usr/bin/env node
// `stead`, the workspace's command line (`npx stead ctl --help`).
import { run } from './program.ts';

process.exitCode = await run(process.argv.slice(2), {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
});
