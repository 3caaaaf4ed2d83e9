#!/usr/bin/env node
// The metadata-store deployable: `node apps/metadata-store/src/main.ts --help`.
import { runDeployable } from '@stead/core';
import { StartupError, startMetadataStore } from './app.ts';
import { metadataStoreSettings } from './settings.ts';

runDeployable({
  name: 'metadata-store',
  title: 'the Raft-replicated metadata store',
  spec: metadataStoreSettings,
  start: startMetadataStore,
  isStartupError: (e) => e instanceof StartupError,
});
