#!/usr/bin/env node
// `stead`, the one entrypoint: `stead <role> [flags]` starts a deployable (the container image's command),
// `stead ctl …` operates a running cluster (`npx stead --help`).
import { run } from './program.ts';
import { isRole, roleMain } from './roles.ts';

const role = process.argv[2];
if (isRole(role)) {
  // The app's main reads process.argv.slice(2) as its flags: drop the role so that they line up.
  process.argv.splice(2, 1);
  await import(roleMain(role).href);
} else {
  process.exitCode = await run(process.argv.slice(2), {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
}
