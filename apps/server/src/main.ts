#!/usr/bin/env node
/**
 * stead-server: every role in one process (the embedded default). Data lives in --data-dir.
 */
import { runNode } from '@stead/runtime';
import { startServer, VERSION } from './server.ts';
import { serverSettings } from './settings.ts';

runNode({
  name: 'stead-server',
  component: 'server',
  title: `stead-server ${VERSION}: the all-in-one Stead server`,
  spec: serverSettings,
  settingsHint: '\nRun with --help to see every setting.\n',
  start: startServer,
});
