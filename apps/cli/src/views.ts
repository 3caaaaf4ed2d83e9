/** What each `stead ctl` command prints for a human: pure functions of the admin API's answers. */
import type {
  ClusterView,
  ConfigView,
  LogView,
  MembersView,
  MetadataValueView,
  NodeView,
  ReplicationView,
  SegmentView,
} from './admin-client.ts';
import { renderFields, renderTable } from './table.ts';

/** Why the node list is unknown: only the admin that runs the active controller knows who is alive. */
function noNodes(c: ClusterView): string {
  const holder = c.controller.lease_holder;
  if (c.controller.active) return `unknown (the controller in ${c.controller.node} has not finished a round yet)`;
  return holder === undefined
    ? `unknown (no active controller; ${c.controller.node} answered)`
    : `unknown (the active controller runs in ${holder}; ask that admin)`;
}

function controllerLine(c: ClusterView): string {
  const { node, active, term, lease_holder } = c.controller;
  if (active) return term === undefined ? `${node} (active)` : `${node} (active, term ${term})`;
  return lease_holder === undefined ? `none (${node} is on standby)` : `${lease_holder} (${node} is on standby)`;
}

export function renderStatus(c: ClusterView): string {
  const nodes = c.controller.nodes;
  const t = c.partition_table;
  const led = t?.placements.filter((p) => p.leader !== undefined).length ?? 0;
  const fields: [string, string][] = [
    ['Controller', controllerLine(c)],
    ['Nodes', nodes ? nodeCount(c, nodes) : noNodes(c)],
    [
      'Partitions',
      t
        ? `${t.partitions}, replication ${t.replication}, ${led} of ${t.partitions} with a leader`
        : 'no partition table yet',
    ],
  ];
  const unavailable = c.controller.unavailable_partitions ?? [];
  if (unavailable.length > 0) fields.push(['Unavailable', unavailable.join(',')]);
  const parts = [renderFields(fields)];
  if (nodes && nodes.length > 0) parts.push(renderNodes(nodes));
  if (c.logs.length > 0) parts.push(renderLogs(c, ['LOG', 'PARTITION', 'SEQUENCER', 'SEGMENTS']));
  return parts.join('\n\n');
}

function nodeCount(c: ClusterView, nodes: readonly NodeView[]): string {
  if (nodes.some((n) => n.alive === undefined)) return `${nodes.length} registered (alive: ${noNodes(c)})`;
  return `${nodes.filter((n) => n.alive).length} of ${nodes.length} alive`;
}

export function renderNodes(nodes: readonly NodeView[]): string {
  return renderTable(
    ['NODE', 'ROLES', 'ADDRESS', 'ALIVE', 'DRAINING'],
    nodes.map((n) => [n.id, n.roles, n.address, maybe(n.alive), yesNo(n.draining)]),
  );
}

/** `nodes list` without the metadata members: the table, or why there is none. */
export function renderNodeList(c: ClusterView): string {
  return c.controller.nodes ? renderNodes(c.controller.nodes) : `Nodes: ${noNodes(c)}`;
}

export function renderPartitions(c: ClusterView): string {
  const t = c.partition_table;
  if (!t) return 'no partition table yet (the controller has not written one)';
  return renderTable(
    ['PARTITION', 'REPLICAS', 'LEADER', 'EPOCH'],
    t.placements.map((p) => [p.partition, p.replicas, p.leader, p.epoch]),
  );
}

type LogColumn = 'PARTITION' | 'LOG' | 'SEGMENTS' | 'SEQUENCER' | 'TRIM POINT';

export function renderLogs(
  c: ClusterView,
  columns: readonly LogColumn[] = ['PARTITION', 'LOG', 'SEGMENTS', 'SEQUENCER', 'TRIM POINT'],
): string {
  const pick = (l: ClusterView['logs'][number], col: LogColumn): unknown => {
    switch (col) {
      case 'PARTITION':
        return l.partition;
      case 'LOG':
        return l.log;
      case 'SEGMENTS':
        return l.kind === 'local' ? 'local' : l.segments;
      case 'SEQUENCER':
        return l.sequencer;
      case 'TRIM POINT':
        return l.trim_point;
    }
  };
  return renderTable(
    columns,
    c.logs.map((l) => columns.map((col) => pick(l, col))),
  );
}

export function renderLog(l: LogView): string {
  const head = renderFields([
    ['Log', l.log],
    ['Trim point', l.trim_point],
    ['Segments', `${l.segments.length}${l.sealed ? ' (the log is sealed)' : ''}`],
  ]);
  const table = renderTable(
    ['INDEX', 'BASE', 'LOGLET', 'SEQUENCER', 'INSTANCE', 'NODESET', 'REPLICATION', 'SEALED TAIL'],
    l.segments.map((s) => [
      s.index,
      s.base,
      s.loglet,
      s.sequencer.id,
      s.sequencer.instance,
      nodeset(s),
      `{${s.replication.scope}: ${s.replication.count}}`,
      s.sealed_tail ?? 'open',
    ]),
  );
  return `${head}\n\n${table}`;
}

function nodeset(s: SegmentView): string[] {
  return s.nodeset.map((m) => (m.zone ? `${m.id}@${m.zone}` : m.id));
}

function yesNo(b: boolean): string {
  return b ? 'yes' : 'no';
}

export function renderConfig(c: ConfigView): string {
  return renderFields([
    ['Partition replication', replication(c.partition_replication)],
    ['Log replication', replication(c.log_replication)],
  ]);
}

function replication(r: ReplicationView): string {
  return `{${r.scope}: ${r.count}}`;
}

export function renderMembers(m: MembersView): string {
  const head = renderFields([
    ['Leader', m.leader ? `${m.leader.id} (${m.leader.address})` : 'none'],
    ['Term', String(m.term)],
  ]);
  const table = renderTable(
    ['MEMBER', 'ADDRESS', 'ROLE'],
    m.members.map((x) => [x.id, x.address, x.id === m.leader?.id ? 'leader' : x.learner ? 'learner' : 'voter']),
  );
  return `${head}\n\n${table}`;
}

export function renderMetadataValue(v: MetadataValueView): string {
  const head = renderFields([
    ['Key', v.key],
    ['Version', String(v.version)],
    ['Encoding', v.encoding],
  ]);
  return `${head}\n\n${v.value}`;
}

/** One row of `nodes list`: a node with every role it plays, from whichever sources know it. */
export interface NodeRow {
  id: string;
  roles: string[];
  address?: string;
  zone?: string;
  alive?: boolean;
  draining?: boolean;
}

/**
 * Every node: the controller's (workers and other registered processes), the log servers and sequencers of
 * `log_nodes` when the admin reports them, and the metadata store's members. A node known to several sources is
 * one row with the union of its roles.
 */
export function allNodes(c: ClusterView, members?: MembersView): NodeRow[] {
  const rows = new Map<string, NodeRow>();
  const merge = (r: NodeRow) => {
    const have = rows.get(r.id);
    if (!have) {
      rows.set(r.id, { ...r, roles: [...r.roles] });
      return;
    }
    for (const role of r.roles) if (!have.roles.includes(role)) have.roles.push(role);
    have.address ??= r.address;
    have.zone ??= r.zone;
    have.alive ??= r.alive;
    have.draining = have.draining === true || r.draining === true ? true : (have.draining ?? r.draining);
  };
  for (const n of c.controller.nodes ?? []) merge(n);
  // `alive: null`: the admin does not know (it probes log servers only, and only while its controller is active).
  for (const n of c.log_nodes ?? [])
    merge({
      id: n.id,
      roles: [n.kind],
      address: n.address,
      zone: n.zone,
      alive: n.alive ?? undefined,
      draining: n.draining,
    });
  for (const m of members?.members ?? []) merge({ id: m.id, roles: ['metadata-server'], address: m.address });
  return [...rows.values()];
}

export function renderAllNodes(rows: readonly NodeRow[]): string {
  return renderTable(
    ['NODE', 'ROLES', 'ADDRESS', 'ZONE', 'ALIVE', 'DRAINING'],
    rows.map((n) => [n.id, n.roles, n.address, n.zone, maybe(n.alive), maybe(n.draining)]),
  );
}

/** What is left on a draining node; undefined when nothing is (drained). */
export function drainLeft(c: ClusterView, id: string): string | undefined {
  const placements = c.partition_table?.placements ?? [];
  const replicas = placements.filter((p) => p.replicas.includes(id)).length;
  const leaders = placements.filter((p) => p.leader === id).length;
  const segments = c.log_nodes?.find((n) => n.id === id)?.segments ?? 0;
  if (replicas + leaders + segments === 0) return undefined;
  const parts = [plural(replicas, 'replica'), plural(leaders, 'leader')];
  if (segments > 0) parts.push(plural(segments, 'segment'));
  return `${id}: ${parts.join(', ')} left`;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function maybe(b: boolean | undefined): string | undefined {
  return b === undefined ? undefined : yesNo(b);
}
