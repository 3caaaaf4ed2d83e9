#!/usr/bin/env node
// The metadata-store deployable: `node apps/metadata-store/src/main.ts --help`.
import { ConfigError, helpText, loadSettings } from '@stead/core';
import { StartupError, startMetadataStore } from './app.ts';
import { metadataStoreSettings } from './settings.ts';

async function main(): Promise<void> {
  let loaded: ReturnType<typeof loadSettings<typeof metadataStoreSettings>>;
  try {
    loaded = loadSettings(metadataStoreSettings, process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`metadata-store: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (loaded.help) {
    process.stdout.write(
      `${helpText('stead metadata-store: the Raft-replicated metadata store', metadataStoreSettings)}\n`,
    );
    return;
  }
  let app: Awaited<ReturnType<typeof startMetadataStore>>;
  try {
    app = await startMetadataStore(loaded.settings);
  } catch (e) {
    if (e instanceof StartupError) {
      process.stderr.write(`metadata-store: refusing to start: ${e.message}\n`);
      process.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: 'error', component: 'metadata-store', msg: 'refusing to start', error: e.message })}\n`,
      );
      process.exit(1);
    }
    throw e;
  }
  const stop = (signal: string) => {
    app.shutdown(signal).then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`metadata-store: shutdown failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`metadata-store: fatal: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
