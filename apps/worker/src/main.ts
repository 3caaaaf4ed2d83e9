#!/usr/bin/env node
// The worker deployable: `node apps/worker/src/main.ts --help`.
import { runNode } from '@stead/runtime';
import { startWorker } from './app.ts';
import { workerSettings } from './settings.ts';

runNode({
  name: 'worker',
  title: 'stead worker: hosts partition replicas, leads some, runs their invocations',
  spec: workerSettings,
  start: startWorker,
});
