#!/usr/bin/env node
// The sequencer deployable: `node apps/sequencer/src/main.ts --help`.
import { runDeployable } from '@stead/core';
import { StartupError, startSequencer } from './app.ts';
import { sequencerSettings } from './settings.ts';

runDeployable({
  name: 'sequencer',
  title: 'orders appends of replicated loglets',
  spec: sequencerSettings,
  start: startSequencer,
  isStartupError: (e) => e instanceof StartupError,
});
