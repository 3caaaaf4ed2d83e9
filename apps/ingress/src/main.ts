#!/usr/bin/env node
// The ingress deployable: `node apps/ingress/src/main.ts --help`.
import { runNode } from '@stead/runtime';
import { startIngress } from './app.ts';
import { ingressSettings } from './settings.ts';

runNode({
  name: 'ingress',
  title: 'stead ingress: the Restate ingress HTTP API, forwarding to partition leaders',
  spec: ingressSettings,
  start: startIngress,
});
