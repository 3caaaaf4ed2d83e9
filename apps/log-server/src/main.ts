#!/usr/bin/env node
// The log-server deployable: `node apps/log-server/src/main.ts --help`.
import { runDeployable } from '@stead/core';
import { StartupError, startLogServer } from './app.ts';
import { logServerSettings } from './settings.ts';

runDeployable({
  name: 'log-server',
  title: 'stores records of replicated loglets',
  spec: logServerSettings,
  start: startLogServer,
  isStartupError: (e) => e instanceof StartupError,
});
