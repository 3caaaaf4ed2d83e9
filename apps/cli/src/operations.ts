/**
 * The `stead ctl` commands that change the cluster: config, drain/undrain/remove a node, move a replica or a
 * leadership, seal a log's segment or trim a log, read and write the metadata store. Commands whose effect the
 * controller carries out later wait for it (unless `--no-wait`), printing what is left once a second.
 */
import { readFileSync } from 'node:fs';
import { parseDuration } from '@stead/core';
import type { Command } from 'commander';
import { type AdminClient, CliError, type ClusterView, type PlacementView } from './admin-client.ts';
import { renderTable } from './table.ts';
import { allNodes, drainLeft, renderAllNodes, renderConfig, renderMembers, renderMetadataValue } from './views.ts';

/** Where the commands write, how they reach the admin API, and how often they poll while waiting. */
export interface OperationsContext {
  out(text: string): void;
  err(text: string): void;
  /** Resolves the options every command takes (`--address`, `--json`) to a client. */
  client(o: CommonOptions): AdminClient;
  /** Adds those options to a command. */
  common(cmd: Command): Command;
  pollMs: number;
}

export interface CommonOptions {
  address: string;
  json?: boolean;
  /** Bearer token for an admin API with authentication on (--token or RESTATE_AUTH_TOKEN). */
  token?: string;
}

interface WaitOptions extends CommonOptions {
  wait: boolean;
  timeout: string;
}

function waitOptions(cmd: Command, defaultTimeout: string): Command {
  return cmd
    .option('--no-wait', 'return once the admin accepted the request, without waiting for the result')
    .option('--timeout <duration>', 'how long to wait for the result (e.g. 90s, 5m)', defaultTimeout);
}

function timeoutMs(text: string): number {
  const d = parseDuration(text);
  if ('error' in d) throw new CliError(`--timeout ${text}: ${d.error}`);
  return d.ms;
}

/**
 * Polls `GET /cluster` until `left` says nothing is left (undefined), printing each new progress line (to
 * stderr with --json, so that stdout stays JSON). Fails after the timeout with the last progress line.
 */
async function waitUntil(
  ctx: OperationsContext,
  admin: AdminClient,
  o: WaitOptions,
  what: string,
  left: (c: ClusterView) => string | undefined,
): Promise<ClusterView> {
  const limitMs = timeoutMs(o.timeout);
  const started = Date.now();
  const say = o.json ? ctx.err : ctx.out;
  let last: string | undefined;
  for (;;) {
    const c = await admin.cluster();
    const line = left(c);
    if (line === undefined) return c;
    if (line !== last) say(`${line}\n`);
    last = line;
    if (Date.now() - started >= limitMs)
      throw new CliError(`timed out after ${o.timeout} waiting for ${what} (${line})`);
    await new Promise((r) => setTimeout(r, ctx.pollMs));
  }
}

function print(ctx: OperationsContext, o: CommonOptions, json: unknown, human: string): void {
  ctx.out(`${o.json ? JSON.stringify(json, null, 2) : human}\n`);
}

export function configCommands(ctl: Command, ctx: OperationsContext): void {
  const config = ctl.command('config').description('the cluster-wide settings (replication of partitions and logs)');
  ctx
    .common(config.command('get').description('the replication of partitions and of new log segments'))
    .action(async (o: CommonOptions) => {
      const c = await ctx.client(o).config();
      print(ctx, o, c, renderConfig(c));
    });
  ctx
    .common(
      config
        .command('set')
        .description('change the replication; the controller adds or removes replicas within a second or so')
        .option('--partition-replication <r>', 'workers per partition: a count, node:N or {zone: N}')
        .option('--log-replication <r>', 'copies of each record of new log segments: a count, node:N or {zone: N}'),
    )
    .action(async (o: CommonOptions & { partitionReplication?: string; logReplication?: string }) => {
      if (o.partitionReplication === undefined && o.logReplication === undefined)
        throw new CliError('config set: give --partition-replication and/or --log-replication');
      const c = (await ctx.client(o).send('PATCH', '/cluster/config', {
        partition_replication: o.partitionReplication,
        log_replication: o.logReplication,
      })) as Parameters<typeof renderConfig>[0];
      print(ctx, o, c, renderConfig(c));
    });
}

export function nodeCommands(nodes: Command, ctx: OperationsContext): void {
  ctx
    .common(nodes.command('list').description('every node: workers, log servers, sequencers, metadata members'))
    .action(async (o: CommonOptions) => {
      const admin = ctx.client(o);
      const c = await admin.cluster();
      // The one-process server has no members to list (400): the node list stands without them.
      const members = await admin.members().catch(() => undefined);
      const rows = allNodes(c, members);
      print(ctx, o, rows, rows.length > 0 ? renderAllNodes(rows) : 'no nodes registered');
    });
  ctx
    .common(
      waitOptions(
        nodes
          .command('drain')
          .description('move replicas, leaderships and log segments off a node, then wait until it holds none')
          .argument('<id>', 'the node id'),
        '5m',
      ),
    )
    .action(async (id: string, o: WaitOptions) => {
      const admin = ctx.client(o);
      const answer = await admin.send('POST', `/cluster/nodes/${encodeURIComponent(id)}/drain`);
      if (!o.wait) return print(ctx, o, answer, `${id} draining`);
      await waitUntil(ctx, admin, o, `${id} to drain`, (c) => drainLeft(c, id));
      print(ctx, o, answer, `${id} drained`);
    });
  ctx
    .common(
      nodes
        .command('prestop')
        .description(
          "a Kubernetes pod's preStop hook: when the node's StatefulSet was scaled below it, drain it and wait until it holds nothing; otherwise return at once",
        )
        .argument('<id>', 'the node id (the pod name)')
        .option('--timeout <duration>', 'how long to wait for the drain (e.g. 240s)', '240s'),
    )
    .action(async (id: string, o: WaitOptions) => {
      const admin = ctx.client(o);
      const answer = (await admin.send('POST', `/cluster/nodes/${encodeURIComponent(id)}/prestop`)) as PrestopAnswer;
      if (!answer.leaving)
        return print(ctx, o, answer, `${id} is not leaving (${notLeaving(answer)}): nothing to drain`);
      (o.json ? ctx.err : ctx.out)(
        `${id} is leaving (ordinal ${answer.ordinal} >= ${answer.desired_replicas} replicas of ${answer.statefulset}): draining\n`,
      );
      const c = await waitUntil(ctx, admin, { ...o, wait: true }, `${id} to drain`, (c) =>
        scaledBackIn(c, id) ? undefined : drainLeft(c, id),
      );
      print(ctx, o, answer, scaledBackIn(c, id) ? `${id} no longer leaving (scaled back in)` : `${id} drained`);
    });
  ctx
    .common(
      nodes.command('undrain').description('let a drained node take replicas again').argument('<id>', 'the node id'),
    )
    .action(async (id: string, o: CommonOptions) => {
      const answer = await ctx.client(o).send('POST', `/cluster/nodes/${encodeURIComponent(id)}/undrain`);
      print(ctx, o, answer, `${id} no longer draining`);
    });
  ctx
    .common(
      nodes
        .command('remove')
        .description('forget a node that holds nothing (drain it first); refused while it holds replicas or is alive')
        .argument('<id>', 'the node id')
        .option('--force', 'remove a dead node even if it still holds replicas or was not drained'),
    )
    .action(async (id: string, o: CommonOptions & { force?: boolean }) => {
      const query = o.force ? '?force=true' : '';
      const answer = await ctx.client(o).send('DELETE', `/cluster/nodes/${encodeURIComponent(id)}${query}`);
      print(ctx, o, answer, `${id} removed`);
    });
}

/** `POST /cluster/nodes/{id}/prestop`. */
interface PrestopAnswer {
  leaving: boolean;
  node: string;
  statefulset?: string;
  ordinal?: number;
  desired_replicas?: number;
  reason?: string;
}

function notLeaving(a: PrestopAnswer): string {
  if (a.reason) return a.reason;
  return `ordinal ${a.ordinal} < ${a.desired_replicas} replicas of ${a.statefulset}`;
}

/** The active controller's admin says the node is neither scaled away nor draining any more (a scale-up undid it). */
function scaledBackIn(c: ClusterView, id: string): boolean {
  const n = c.controller.nodes?.find((x) => x.id === id) ?? c.log_nodes?.find((x) => x.id === id);
  return c.controller.active && n?.scaled_away === false && n.draining === false;
}

function placement(c: ClusterView, p: number): PlacementView | undefined {
  return c.partition_table?.placements.find((x) => x.partition === p);
}

function partitionNumber(text: string): number {
  if (!/^\d+$/.test(text)) throw new CliError(`partition '${text}': expected a partition number`);
  return Number(text);
}

export function partitionCommands(partitions: Command, ctx: OperationsContext): void {
  ctx
    .common(
      waitOptions(
        partitions
          .command('move')
          .description('move a replica to another worker (added there first, then removed here)')
          .argument('<partition>', 'the partition number')
          .requiredOption('--from <worker>', 'the worker holding the replica')
          .requiredOption('--to <worker>', 'the worker to hold it'),
        '2m',
      ),
    )
    .action(async (which: string, o: WaitOptions & { from: string; to: string }) => {
      const p = partitionNumber(which);
      const admin = ctx.client(o);
      const answer = await admin.send('POST', `/cluster/partitions/${p}/move`, { from: o.from, to: o.to });
      if (!o.wait) return print(ctx, o, answer, `partition ${p}: move from ${o.from} to ${o.to} requested`);
      const c = await waitUntil(ctx, admin, o, `partition ${p} to move`, (c) => {
        const r = placement(c, p)?.replicas ?? [];
        if (r.includes(o.to) && !r.includes(o.from)) return undefined;
        return `partition ${p}: replicas ${r.join(',') || '-'} (${r.includes(o.to) ? `removing ${o.from}` : `adding ${o.to}`})`;
      });
      print(ctx, o, placement(c, p), `partition ${p}: replicas ${placement(c, p)!.replicas.join(',')}`);
    });
  ctx
    .common(
      waitOptions(
        partitions
          .command('transfer-leader')
          .description('make a replica the leader (the epoch grows by one); balancing keeps it within ±1 leaderships')
          .argument('<partition>', 'the partition number')
          .requiredOption('--to <worker>', 'a worker holding a replica of the partition'),
        '2m',
      ),
    )
    .action(async (which: string, o: WaitOptions & { to: string }) => {
      const p = partitionNumber(which);
      const admin = ctx.client(o);
      const answer = await admin.send('POST', `/cluster/partitions/${p}/transfer-leader`, { to: o.to });
      if (!o.wait) return print(ctx, o, answer, `partition ${p}: leadership transfer to ${o.to} requested`);
      const c = await waitUntil(ctx, admin, o, `${o.to} to lead partition ${p}`, (c) => {
        const now = placement(c, p);
        return now?.leader === o.to ? undefined : `partition ${p}: leader ${now?.leader ?? '-'}, moving to ${o.to}`;
      });
      const now = placement(c, p)!;
      print(ctx, o, now, `partition ${p}: leader ${now.leader} (epoch ${now.epoch})`);
    });
}

export function logCommands(logs: Command, ctx: OperationsContext, logOf: LogResolver): void {
  ctx
    .common(
      logs
        .command('seal')
        .description('seal the open segment of a log; a new one starts (the log stays writable)')
        .argument('<log>', 'a partition number or a log id'),
    )
    .action(async (which: string, o: CommonOptions) => {
      const admin = ctx.client(o);
      const log = await logOf(admin, which);
      const answer = (await admin.send('POST', `/cluster/logs/${encodeURIComponent(log)}/seal-segment`)) as {
        segments: number;
        open_segment: { index: number; base: string };
      };
      print(
        ctx,
        o,
        answer,
        `${log}: segment ${answer.open_segment.index} open from offset ${answer.open_segment.base} (${answer.segments} segments)`,
      );
    });
  ctx
    .common(
      logs
        .command('trim')
        .description(
          'drop the records of a log below an offset (capped at the tail). The admin does not check that every ' +
            "replica of the partition has applied them: that is the operator's responsibility (a replica that " +
            'has not, must then be rebuilt from a snapshot)',
        )
        .argument('<log>', 'a partition number or a log id')
        .requiredOption('--to <offset>', 'the first offset to keep'),
    )
    .action(async (which: string, o: CommonOptions & { to: string }) => {
      if (!/^\d+$/.test(o.to)) throw new CliError(`--to ${o.to}: expected an offset (a whole number)`);
      const admin = ctx.client(o);
      const log = await logOf(admin, which);
      const answer = (await admin.send('POST', `/cluster/logs/${encodeURIComponent(log)}/trim`, { to: o.to })) as {
        trim_point: string;
      };
      print(ctx, o, answer, `${log}: trimmed below ${answer.trim_point}`);
    });
}

export type LogResolver = (admin: AdminClient, which: string) => Promise<string>;

/** A value given as text, or `@file` (sent as UTF-8 text when it is, else base64). */
function valueArgument(text: string): { value: string; encoding: 'utf8' | 'base64' } {
  if (!text.startsWith('@')) return { value: text, encoding: 'utf8' };
  let bytes: Buffer;
  try {
    bytes = readFileSync(text.slice(1));
  } catch (e) {
    throw new CliError(`cannot read ${text.slice(1)}: ${(e as Error).message}`);
  }
  try {
    return { value: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf8' };
  } catch {
    return { value: bytes.toString('base64'), encoding: 'base64' };
  }
}

export function metadataCommands(ctl: Command, ctx: OperationsContext): void {
  const metadata = ctl.command('metadata').description('the metadata store: its keys and its Raft members');
  ctx
    .common(metadata.command('get').description('a value and its version').argument('<key>', 'e.g. cluster/config'))
    .action(async (key: string, o: CommonOptions) => {
      const v = await ctx.client(o).metadata(key);
      print(ctx, o, v, renderMetadataValue(v));
    });
  ctx
    .common(
      metadata
        .command('put')
        .description('write a value')
        .argument('<key>', 'the key')
        .argument('<value>', 'the value, or @file to read it from a file')
        .option('--version <n>', 'write only if the key is at this version (0: only if it does not exist)')
        .option('--force', 'write a key the cluster keeps itself (cluster/…, logs/…, schema): this can break it'),
    )
    .action(async (key: string, text: string, o: CommonOptions & { version?: string; force?: boolean }) => {
      if (o.version !== undefined && !/^\d+$/.test(o.version))
        throw new CliError(`--version ${o.version}: expected a whole number`);
      const answer = (await ctx.client(o).send('PUT', `/cluster/metadata/${encodeURIComponent(key)}`, {
        ...valueArgument(text),
        version: o.version === undefined ? undefined : Number(o.version),
        force: o.force === true,
      })) as { version: number };
      print(ctx, o, answer, `${key}: version ${answer.version}`);
    });
  ctx
    .common(metadata.command('members').description('the Raft members and their leader'))
    .action(async (o: CommonOptions) => {
      const m = await ctx.client(o).members();
      print(ctx, o, m, renderMembers(m));
    });
}

/** One snapshot as the admin API shows it. */
interface SnapshotView {
  partition: number;
  id: string;
  applied_offset: string;
  created_at: string;
  node: string;
  size_bytes: number;
  entries: number;
  duration_ms: number;
  location: string;
}

interface SnapshotsView {
  snapshots: SnapshotView[];
  failures: { partition: number; error: string }[];
}

function renderSnapshots(v: SnapshotsView): string {
  const rows = v.snapshots.map((s) => [
    s.partition,
    s.applied_offset,
    s.created_at,
    s.node,
    mib(s.size_bytes),
    s.entries,
    `${s.duration_ms} ms`,
    s.location,
  ]);
  const table =
    rows.length === 0
      ? 'no snapshots'
      : renderTable(['PARTITION', 'APPLIED OFFSET', 'CREATED', 'NODE', 'SIZE', 'ENTRIES', 'TOOK', 'LOCATION'], rows);
  const failed = v.failures.map((f) => `partition ${f.partition}: ${f.error}`);
  return [table, ...failed].join('\n');
}

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function partitionsOption(cmd: Command): Command {
  return cmd.option(
    '--partition <n...>',
    'only these partitions (repeat or list them: --partition 0 3); default every partition',
  );
}

function partitionList(values: string[] | undefined): number[] | undefined {
  if (values === undefined) return undefined;
  return values
    .flatMap((v) => v.split(','))
    .map((v) => {
      if (!/^\d+$/.test(v.trim())) throw new CliError(`--partition ${v}: expected a partition number`);
      return Number(v.trim());
    });
}

export function snapshotCommands(ctl: Command, ctx: OperationsContext): void {
  const snapshots = ctl.command('snapshots').description('partition snapshots (the bucket or snapshot directory)');
  ctx
    .common(
      partitionsOption(
        snapshots
          .command('create')
          .description('snapshot partitions now (each by its leader) and archive them; waits until archived'),
      ),
    )
    .option('--timeout <duration>', 'how long to wait for the snapshots to be archived', '10m')
    .action(async (o: CommonOptions & { partition?: string[]; timeout: string }) => {
      const partitions = partitionList(o.partition);
      const admin = ctx.client(o).withTimeout(timeoutMs(o.timeout));
      const answer = (await admin.send(
        'POST',
        '/cluster/snapshots',
        partitions ? { partitions } : {},
      )) as SnapshotsView;
      print(ctx, o, answer, renderSnapshots(answer));
      if (answer.failures.length > 0)
        throw new CliError(`${answer.failures.length} of ${answer.failures.length + answer.snapshots.length} failed`);
    });
  ctx
    .common(partitionsOption(snapshots.command('list').description('the archived snapshots, newest first')))
    .action(async (o: CommonOptions & { partition?: string[] }) => {
      const partitions = partitionList(o.partition);
      const query = partitions ? `?partition=${partitions.join(',')}` : '';
      const answer = (await ctx.client(o).get(`/cluster/snapshots${query}`)) as SnapshotsView;
      print(ctx, o, answer, renderSnapshots(answer));
    });
}
