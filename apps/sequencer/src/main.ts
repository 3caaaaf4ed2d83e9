#!/usr/bin/env node
// The sequencer deployable: `node apps/sequencer/src/main.ts --help`.
import { runNode } from '@stead/runtime';
import { startSequencer } from './app.ts';
import { sequencerSettings } from './settings.ts';

runNode({
  name: 'sequencer',
  title: 'stead sequencer: orders appends of replicated loglets',
  spec: sequencerSettings,
  start: startSequencer,
});
