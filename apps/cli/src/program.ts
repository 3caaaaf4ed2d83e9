/**
 * The `stead` command line: `stead ctl …` reads and changes the cluster through the admin API. Parsing is
 * commander's; each command fetches what it shows, then prints a table (default) or the admin API's JSON
 * (`--json`). The commands that change the cluster are in operations.ts.
 */
import { newToken, parseScopes, tokenFileEntry } from '@stead/core';
import { loadRequestSigner, RequestIdentityError } from '@stead/invoker';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { AdminClient, CliError, type ClusterView } from './admin-client.ts';
import {
  type CommonOptions,
  configCommands,
  logCommands,
  metadataCommands,
  nodeCommands,
  partitionCommands,
  snapshotCommands,
} from './operations.ts';
import { rolesHelp } from './roles.ts';
import { scheduleCommands } from './schedules.ts';
import { renderLog, renderLogs, renderPartitions, renderStatus } from './views.ts';

export const DEFAULT_ADDRESS = 'http://127.0.0.1:9070';

/** Where the command line writes (the process's stdout/stderr, or a buffer in tests). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** How often a waiting command polls the admin API (default 1 s). */
  pollMs?: number;
}

/** Exit status of a usage error (unknown command or option, missing argument), apart from failures (1). */
export const USAGE_EXIT = 2;

/** Runs the command line `argv` (without `node` and the script); resolves to the process exit status. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  try {
    await program(io).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : USAGE_EXIT;
    if (e instanceof CliError) {
      io.err(`stead: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

export function program(io: Io): Command {
  const root = new Command('stead')
    .description('Stead: a durable execution engine for the Restate SDKs')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(add --help for usage)')
    .usage('<role> [settings] | ctl <command> | schedules <command>')
    .addHelpText('after', rolesHelp());
  const ctl = root
    .command('ctl')
    .description('inspect and operate a Stead cluster (or a one-process server) via its admin API');
  const show = (cmd: Command, view: (c: ClusterView) => string) =>
    common(cmd).action(async (o: CommonOptions) => {
      const c = await client(o).cluster();
      io.out(`${o.json ? JSON.stringify(c, null, 2) : view(c)}\n`);
    });
  show(ctl.command('status').description('the controller, nodes, partitions and logs at a glance'), renderStatus);
  const ctx = { out: io.out, err: io.err, client, common, pollMs: io.pollMs ?? 1000 };
  configCommands(ctl, ctx);
  nodeCommands(ctl.command('nodes').description('the nodes of the cluster'), ctx);
  const partitions = ctl.command('partitions').description('the partition table');
  show(partitions.command('list').description('replicas, leader, epoch'), renderPartitions);
  partitionCommands(partitions, ctx);
  const logs = ctl.command('logs').description('the partition logs');
  show(logs.command('list').description('segments, sequencer and trim point of each log'), (c) =>
    c.logs.length === 0 ? 'no logs' : renderLogs(c),
  );
  common(
    logs
      .command('describe')
      .description("every segment of one log's chain")
      .argument('<log>', 'a partition number or a log id'),
  ).action(async (which: string, o: CommonOptions) => {
    const admin = client(o);
    const l = await admin.log(await logOf(admin, which));
    io.out(`${o.json ? JSON.stringify(l, null, 2) : renderLog(l)}\n`);
  });
  logCommands(logs, ctx, logOf);
  metadataCommands(ctl, ctx);
  snapshotCommands(ctl, ctx);
  scheduleCommands(root.command('schedules').description('durable cron schedules (admin API /schedules)'), ctx);
  requestIdentityCommands(root, io);
  authCommands(root, io);
  return root;
}

/** `stead request-identity public-key --file key.pem`: the id to list in an SDK endpoint's identityKeys. */
function requestIdentityCommands(root: Command, io: Io): void {
  root
    .command('request-identity')
    .description('the key Stead signs its requests to deployments with (--request-identity-private-key-pem-file)')
    .command('public-key')
    .description("print the public key id (publickeyv1_…) of an Ed25519 private key, for the SDKs' identityKeys")
    .requiredOption('--file <pem>', 'the PEM private key (openssl genpkey -algorithm ed25519 -out key.pem)')
    .action((o: { file: string }) => {
      try {
        io.out(`${loadRequestSigner(o.file).keyId}\n`);
      } catch (e) {
        if (e instanceof RequestIdentityError) throw new CliError(e.message);
        throw e;
      }
    });
}

/** `stead auth token create`: a new token, printed once, and the entry to add to the token file. */
function authCommands(root: Command, io: Io): void {
  const auth = root.command('auth').description('bearer tokens of the admin API and the ingress');
  const token = auth.command('token').description('tokens and their token-file entries');
  token
    .command('create')
    .description(
      'make a random token and print it (once: only its hash is kept) with the entry to add to the "tokens" list of the --auth-tokens-file',
    )
    .requiredOption('--name <name>', 'a name for the token (shown in 403 answers and logs)')
    .requiredOption(
      '--scopes <scopes>',
      'comma-separated: admin:read, admin:write, ingress:invoke, ingress:attach',
      (v) => {
        const scopes = parseScopes(v);
        if (typeof scopes === 'string') throw new InvalidArgumentError(scopes);
        return scopes;
      },
    )
    .option('--json', 'print {"token", "entry"} as JSON')
    .action((o: { name: string; scopes: ReturnType<typeof parseScopes>; json?: boolean }) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(o.name))
        throw new CliError("--name: expected 1-128 letters, digits, '.', '_', '@' or '-'", USAGE_EXIT);
      const t = newToken();
      const entry = tokenFileEntry(o.name, t, o.scopes as Exclude<typeof o.scopes, string>);
      if (o.json) return io.out(`${JSON.stringify({ token: t, entry: JSON.parse(entry) })}\n`);
      io.out(
        `token (shown once; give it to the client, e.g. RESTATE_AUTH_TOKEN=...):\n${t}\n\nentry to add to the "tokens" list of the token file:\n${entry}\n`,
      );
    });
}

/** The options every command takes. */
function common(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <url>', 'the admin API').default(DEFAULT_ADDRESS))
    .addOption(new Option('--token <token>', 'bearer token, when the admin API requires one').env('RESTATE_AUTH_TOKEN'))
    .option('--json', 'print the admin API answer as JSON instead of a table');
}

function client(o: CommonOptions): AdminClient {
  if (!/^https?:\/\//.test(o.address)) throw new CliError(`--address ${o.address}: expected an http(s):// URL`);
  return new AdminClient({ address: o.address, token: o.token });
}

/** A log id, or a partition number whose log `GET /cluster` names. */
function logOf(admin: AdminClient, which: string): Promise<string> {
  return /^\d+$/.test(which) ? logOfPartition(admin, Number(which)) : Promise.resolve(which);
}

async function logOfPartition(admin: AdminClient, partition: number): Promise<string> {
  const c = await admin.cluster();
  const log = c.logs.find((l) => l.partition === partition);
  if (!log) throw new CliError(`no partition ${partition}: the cluster has ${c.logs.length} partition logs`);
  return log.log;
}
