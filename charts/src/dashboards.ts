// The Grafana dashboards of the chart (charts/stead/dashboards/*.json), built with the typed builders of
// @grafana/grafana-foundation-sdk. Every panel query is a PromQL `expr` over the engine metrics below, filtered by
// the dashboard variables `component` (the role) and `node` (the instance).
//
//   node charts/src/dashboards.ts            writes the JSON files
//   node charts/src/dashboards.ts --check    exits 1 when a committed file differs from what this builds
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DashboardBuilder,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** The engine metrics the dashboards may use (the metrics table of issue 15), by Prometheus type. */
export const METRICS = {
  stead_ingress_requests_total: 'counter',
  stead_ingress_request_duration_seconds: 'histogram',
  stead_ingress_refused_requests: 'gauge',
  stead_invocations_started_total: 'counter',
  stead_invocations_completed_total: 'counter',
  stead_invocations_failed_total: 'counter',
  stead_invocations_retried_total: 'counter',
  stead_invoker_running_invocations: 'gauge',
  stead_invoker_waiting_invocations: 'gauge',
  stead_invoker_attempt_duration_seconds: 'histogram',
  stead_partition_applied_lag_records: 'gauge',
  stead_partition_replicas: 'gauge',
  stead_partition_backlog_records: 'gauge',
  stead_log_append_duration_seconds: 'histogram',
  stead_log_append_batch_records: 'histogram',
  stead_log_server_store_duration_seconds: 'histogram',
  stead_log_server_stored_bytes_total: 'counter',
  stead_log_server_records_total: 'counter',
  stead_metadata_commit_duration_seconds: 'histogram',
  stead_metadata_is_leader: 'gauge',
  stead_snapshot_age_seconds: 'gauge',
  stead_controller_active: 'gauge',
  stead_process_resident_memory_bytes: 'gauge',
  stead_process_cpu_seconds_total: 'counter',
} as const;

type Metric = keyof typeof METRICS;

export const DASHBOARD_DIR = new URL('../stead/dashboards/', import.meta.url).pathname;

/** Grafana's reference to the `datasource` variable (not a JS template: Grafana expands it). */
export const DATASOURCE_VAR = '$' + '{datasource}';
const DATASOURCE = { type: 'prometheus', uid: DATASOURCE_VAR };
/** The variables' filter, in every selector of every query. */
const SCOPE = 'component=~"$component", node=~"$node"';

/** `metric{component, node[, extra]}` */
function sel(metric: Metric | `${Metric}_bucket`, extra = ''): string {
  return `${metric}{${SCOPE}${extra ? `, ${extra}` : ''}}`;
}

const rate = (metric: Metric | `${Metric}_bucket`, extra = '') => `rate(${sel(metric, extra)}[$__rate_interval])`;

/** The q-quantile of a histogram over every series in scope (`by` keeps more labels than `le`). */
function quantile(q: number, metric: Metric, by: string[] = []): string {
  return `histogram_quantile(${q}, sum by (${['le', ...by].join(', ')}) (${rate(`${metric}_bucket`)}))`;
}

interface Query {
  expr: string;
  legend: string;
}

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  /** Width in grid columns (24 = the whole row); default 12. */
  span?: number;
}

/**
 * `expr`, or a single 0 when it has no series: a panel of errors stays a flat line, not "no data", while there
 * are none.
 */
function orZero(expr: string): string {
  return `${expr} or (0 * absent(${expr}))`;
}

/** Two queries: the median and the 99th percentile of a histogram. */
function latency(metric: Metric, by: string[] = []): Query[] {
  const suffix = by.map((l) => ` {{${l}}}`).join('');
  return [
    { expr: quantile(0.5, metric, by), legend: `p50${suffix}` },
    { expr: quantile(0.99, metric, by), legend: `p99${suffix}` },
  ];
}

function panel(id: number, spec: PanelSpec): PanelBuilder {
  const p = new PanelBuilder()
    .id(id)
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .height(8)
    .span(spec.span ?? 12)
    .fillOpacity(10);
  spec.queries.forEach((q, i) => {
    p.withTarget(
      new DataqueryBuilder()
        .datasource(DATASOURCE)
        .refId(String.fromCharCode(65 + i))
        .expr(q.expr)
        .legendFormat(q.legend)
        .range(),
    );
  });
  return p;
}

/** The `component` (role) and `node` (instance) variables, from the labels every Stead series carries. */
function variables(d: DashboardBuilder): DashboardBuilder {
  const anyMetric: Metric = 'stead_process_cpu_seconds_total';
  const multi = (name: string, label: string, query: string) =>
    new QueryVariableBuilder(name)
      .label(label)
      .datasource(DATASOURCE)
      .query(query)
      .definition(query)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      .allValue('.*');
  return d
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(multi('component', 'Role', `label_values(${anyMetric}, component)`))
    .withVariable(multi('node', 'Instance', `label_values(${anyMetric}{component=~"$component"}, node)`));
}

type Section = [row: string, panels: PanelSpec[]];

function dashboard(uid: string, title: string, description: string, sections: Section[]): object {
  const d = variables(
    new DashboardBuilder(title)
      .uid(uid)
      .description(description)
      .tags(['stead'])
      .editable()
      .refresh('30s')
      .time({ from: 'now-1h', to: 'now' }),
  );
  let id = 1;
  for (const [row, panels] of sections) {
    d.withRow(new RowBuilder(row).id(id++));
    for (const spec of panels) d.withPanel(panel(id++, spec));
  }
  return d.build();
}

export function overview(): object {
  return dashboard('stead-overview', 'Stead / Overview', 'Requests, latency, errors, invocations and partitions.', [
    [
      'Ingress',
      [
        {
          title: 'Requests by status',
          description: 'Ingress HTTP requests answered per second, by status code.',
          unit: 'reqps',
          queries: [{ expr: `sum by (status) (${rate('stead_ingress_requests_total')})`, legend: '{{status}}' }],
        },
        {
          title: 'Request latency',
          description: 'Time from an ingress request to its response.',
          unit: 's',
          queries: latency('stead_ingress_request_duration_seconds'),
        },
        {
          title: 'Errors by status',
          description: 'Ingress answers with a 4xx or 5xx status per second (503 and 429 are overload refusals).',
          unit: 'reqps',
          queries: [
            {
              expr: orZero(`sum by (status) (${rate('stead_ingress_requests_total', 'status=~"[45].."')})`),
              legend: '{{status}}',
            },
          ],
        },
        {
          title: 'Error ratio',
          description: 'Share of ingress requests answered with a 5xx status.',
          unit: 'percentunit',
          queries: [
            {
              expr:
                `(sum(${rate('stead_ingress_requests_total', 'status=~"5.."')}) or vector(0)) / ` +
                `sum(${rate('stead_ingress_requests_total')})`,
              legend: '5xx',
            },
          ],
        },
      ],
    ],
    [
      'Invocations',
      [
        {
          title: 'Invocations',
          description:
            'Per second: started (first attempt), completed (a result), failed (terminal, incl. killed and cancelled), retried (an attempt scheduled again).',
          unit: 'ops',
          queries: (['started', 'completed', 'failed', 'retried'] as const).map((what) => ({
            expr: `sum(${rate(`stead_invocations_${what}_total`)})`,
            legend: what,
          })),
        },
        {
          title: 'Running invocations',
          description: 'Attempts running at once, per instance (bounded by --max-concurrent-invocations).',
          unit: 'short',
          queries: [{ expr: `sum by (node) (${sel('stead_invoker_running_invocations')})`, legend: '{{node}}' }],
        },
        {
          title: 'Attempt duration',
          description: 'One attempt from its start to its end, by outcome.',
          unit: 's',
          span: 24,
          queries: latency('stead_invoker_attempt_duration_seconds', ['outcome']),
        },
      ],
    ],
    [
      'Partitions',
      [
        {
          title: 'Partition replicas by role',
          description: 'Partitions hosted per instance, as leader or follower.',
          unit: 'short',
          queries: [
            {
              expr: `sum by (node, role) (${sel('stead_partition_replicas')})`,
              legend: '{{node}} {{role}}',
            },
          ],
        },
        {
          title: 'Applied lag',
          description: 'Log tail minus applied offset of each hosted partition (largest over its replicas).',
          unit: 'short',
          queries: [
            {
              expr: `max by (partition) (${sel('stead_partition_applied_lag_records')})`,
              legend: 'partition {{partition}}',
            },
          ],
        },
      ],
    ],
  ]);
}

export function internals(): object {
  return dashboard(
    'stead-internals',
    'Stead / Internals',
    'Log appends and log servers, metadata store, snapshots, queues and processes.',
    [
      [
        'Log',
        [
          {
            title: 'Append latency',
            description: 'An append from accepted to acknowledged, per sequencer (colocated in workers by default).',
            unit: 's',
            queries: latency('stead_log_append_duration_seconds', ['node']),
          },
          {
            title: 'Append batch size',
            description: 'Records per batch sent to the log servers (or written to the local log).',
            unit: 'short',
            queries: [
              { expr: quantile(0.5, 'stead_log_append_batch_records'), legend: 'p50' },
              { expr: quantile(0.99, 'stead_log_append_batch_records'), legend: 'p99' },
            ],
          },
        ],
      ],
      [
        'Log servers',
        [
          {
            title: 'Store latency',
            description: 'A Store request from receipt to durable (synced batch).',
            unit: 's',
            span: 8,
            queries: latency('stead_log_server_store_duration_seconds'),
          },
          {
            title: 'Stored bytes',
            description: 'Payload bytes stored per second, per log server.',
            unit: 'Bps',
            span: 8,
            queries: [{ expr: `sum by (node) (${rate('stead_log_server_stored_bytes_total')})`, legend: '{{node}}' }],
          },
          {
            title: 'Stored records',
            description: 'Records stored per second, per log server.',
            unit: 'ops',
            span: 8,
            queries: [{ expr: `sum by (node) (${rate('stead_log_server_records_total')})`, legend: '{{node}}' }],
          },
        ],
      ],
      [
        'Metadata store',
        [
          {
            title: 'Commit latency',
            description: 'A metadata write from receipt to committed and applied.',
            unit: 's',
            queries: latency('stead_metadata_commit_duration_seconds'),
          },
          {
            title: 'Leader',
            description: '1 for the metadata-store member that leads; 1 for the admin that runs the controller.',
            unit: 'short',
            queries: [
              { expr: `max by (node) (${sel('stead_metadata_is_leader')})`, legend: 'metadata {{node}}' },
              { expr: `max by (node) (${sel('stead_controller_active')})`, legend: 'controller {{node}}' },
            ],
          },
        ],
      ],
      [
        'Snapshots and queues',
        [
          {
            title: 'Snapshot age',
            description: 'Age of the newest snapshot of each led partition.',
            unit: 's',
            queries: [
              {
                expr: `max by (partition) (${sel('stead_snapshot_age_seconds')})`,
                legend: 'partition {{partition}}',
              },
            ],
          },
          {
            title: 'Waiting invocations',
            description: 'Attempts waiting for a slot (--max-concurrent-invocations), per instance.',
            unit: 'short',
            queries: [{ expr: `sum by (node) (${sel('stead_invoker_waiting_invocations')})`, legend: '{{node}}' }],
          },
          {
            title: 'Partition backlog',
            description: 'Records appended but not yet applied, per instance (--max-partition-backlog refuses above).',
            unit: 'short',
            queries: [{ expr: `sum by (node) (${sel('stead_partition_backlog_records')})`, legend: '{{node}}' }],
          },
          {
            title: 'Refused requests',
            description:
              'Ingress requests refused as overload (503/429) per second, by the instance leading the partition.',
            unit: 'reqps',
            queries: [{ expr: `sum by (node) (${rate('stead_ingress_refused_requests')})`, legend: '{{node}}' }],
          },
        ],
      ],
      [
        'Processes',
        [
          {
            title: 'CPU',
            description: 'CPU seconds per second of each process.',
            unit: 'percentunit',
            queries: [
              {
                expr: `sum by (component, node) (${rate('stead_process_cpu_seconds_total')})`,
                legend: '{{component}} {{node}}',
              },
            ],
          },
          {
            title: 'Resident memory',
            description: 'Resident set size of each process.',
            unit: 'bytes',
            queries: [
              {
                expr: `sum by (component, node) (${sel('stead_process_resident_memory_bytes')})`,
                legend: '{{component}} {{node}}',
              },
            ],
          },
        ],
      ],
    ],
  );
}

/** File name → JSON text of every dashboard. */
export function dashboardFiles(): Record<string, string> {
  return {
    'overview.json': `${JSON.stringify(overview(), null, 2)}\n`,
    'internals.json': `${JSON.stringify(internals(), null, 2)}\n`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [name, text] of Object.entries(dashboardFiles())) {
    const path = join(DASHBOARD_DIR, name);
    if (!check) writeFileSync(path, text);
    else if (readFileSync(path, 'utf8') !== text) {
      process.stderr.write(`${path} is out of date: run node charts/src/dashboards.ts\n`);
      stale++;
    }
  }
  process.exitCode = stale > 0 ? 1 : 0;
}
