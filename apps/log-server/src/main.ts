#!/usr/bin/env node
// The log-server deployable: `node apps/log-server/src/main.ts --help`.
import { runNode } from '@stead/runtime';
import { startLogServer } from './app.ts';
import { logServerSettings } from './settings.ts';

runNode({
  name: 'log-server',
  title: 'stead log-server: stores records of replicated loglets',
  spec: logServerSettings,
  start: startLogServer,
});
