#!/usr/bin/env node
// The metadata-store deployable: `node apps/metadata-store/src/main.ts --help`.
import { runNode } from '@stead/runtime';
import { startMetadataStore } from './app.ts';
import { metadataStoreSettings } from './settings.ts';

runNode({
  name: 'metadata-store',
  title: 'stead metadata-store: the Raft-replicated metadata store',
  spec: metadataStoreSettings,
  start: startMetadataStore,
});
