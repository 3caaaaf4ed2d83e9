/** What each `stead ctl` command prints for a human: pure functions of the admin API's answers. */
import type { ClusterView, LogView, NodeView, SegmentView } from './admin-client.ts';
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
    ['Nodes', nodes ? `${nodes.filter((n) => n.alive).length} of ${nodes.length} alive` : noNodes(c)],
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

export function renderNodes(nodes: readonly NodeView[]): string {
  return renderTable(
    ['NODE', 'ROLES', 'ADDRESS', 'ALIVE', 'DRAINING'],
    nodes.map((n) => [n.id, n.roles, n.address, yesNo(n.alive), yesNo(n.draining)]),
  );
}

/** `nodes list`: the table, or why there is none. */
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
