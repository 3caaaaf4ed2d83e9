#!/usr/bin/env node
// The log-server deployable: `node apps/log-server/src/main.ts --help`.
import { ConfigError, helpText, loadSettings } from '@stead/core';
import { StartupError, startLogServer } from './app.ts';
import { logServerSettings } from './settings.ts';

async function main(): Promise<void> {
  let loaded: ReturnType<typeof loadSettings<typeof logServerSettings>>;
  try {
    loaded = loadSettings(logServerSettings, process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`log-server: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (loaded.help) {
    process.stdout.write(`${helpText('stead log-server: stores records of replicated loglets', logServerSettings)}\n`);
    return;
  }
  let app: Awaited<ReturnType<typeof startLogServer>>;
  try {
    app = await startLogServer(loaded.settings);
  } catch (e) {
    if (e instanceof StartupError) {
      process.stderr.write(`log-server: refusing to start: ${e.message}\n`);
      process.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: 'error', component: 'log-server', msg: 'refusing to start', error: e.message })}\n`,
      );
      process.exit(1);
    }
    throw e;
  }
  const stop = (signal: string) => {
    app.shutdown(signal).then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`log-server: shutdown failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`log-server: fatal: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
