#!/usr/bin/env node
// The sequencer deployable: `node apps/sequencer/src/main.ts --help`.
import { ConfigError, helpText, loadSettings } from '@stead/core';
import { StartupError, startSequencer } from './app.ts';
import { sequencerSettings } from './settings.ts';

async function main(): Promise<void> {
  let loaded: ReturnType<typeof loadSettings<typeof sequencerSettings>>;
  try {
    loaded = loadSettings(sequencerSettings, process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`sequencer: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (loaded.help) {
    process.stdout.write(`${helpText('stead sequencer: orders appends of replicated loglets', sequencerSettings)}\n`);
    return;
  }
  let app: Awaited<ReturnType<typeof startSequencer>>;
  try {
    app = await startSequencer(loaded.settings);
  } catch (e) {
    if (e instanceof StartupError) {
      process.stderr.write(`sequencer: refusing to start: ${e.message}\n`);
      process.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: 'error', component: 'sequencer', msg: 'refusing to start', error: e.message })}\n`,
      );
      process.exit(1);
    }
    throw e;
  }
  const stop = (signal: string) => {
    app.shutdown(signal).then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`sequencer: shutdown failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`sequencer: fatal: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
