/**
 * The deployables `stead <role>` starts: one image and one command for every pod of a cluster. Each role is the
 * `main.ts` of its app, imported in this process (signals reach it directly) with the role removed from argv.
 */
export const ROLES = {
  server: { app: 'server', what: 'every role in one process (the single-node server)' },
  'metadata-store': { app: 'metadata-store', what: 'a member of the Raft-replicated metadata store' },
  'log-server': { app: 'log-server', what: 'stores copies of the partition log records' },
  sequencer: { app: 'sequencer', what: 'orders the appends of the partition logs' },
  worker: { app: 'worker', what: 'hosts partition replicas and runs their invocations' },
  ingress: { app: 'ingress', what: 'the HTTP ingress that calls handlers' },
  admin: { app: 'admin', what: 'the admin REST API and the cluster controller' },
} as const;

export type Role = keyof typeof ROLES;

export function isRole(name: string | undefined): name is Role {
  return name !== undefined && Object.hasOwn(ROLES, name);
}

/** The URL of the app main of `role` (apps/<app>/src/main.ts beside this app). */
export function roleMain(role: Role): URL {
  return new URL(`../../${ROLES[role].app}/src/main.ts`, import.meta.url);
}

/** The "Roles" section of `stead --help`. */
export function rolesHelp(): string {
  const width = Math.max(...Object.keys(ROLES).map((r) => r.length));
  const lines = Object.entries(ROLES).map(([role, r]) => `  ${role.padEnd(width)}  ${r.what}`);
  return [
    '',
    'Roles (`stead <role> --help` lists the settings of one; each is also a STEAD_* variable):',
    ...lines,
    '',
  ].join('\n');
}
