#!/usr/bin/env node
// The admin deployable: `node apps/admin/src/main.ts --help`.
import { runNode } from '@stead/runtime';
import { startAdmin } from './app.ts';
import { adminSettings } from './settings.ts';

runNode({
  name: 'admin',
  title: 'stead admin: the admin REST API and the cluster controller',
  spec: adminSettings,
  start: startAdmin,
});
