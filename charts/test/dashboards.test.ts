// The Grafana dashboards: committed JSON up to date with charts/src/dashboards.ts, the role and instance
// variables, and every panel query valid PromQL over the engine metrics, filtered by both variables.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { DASHBOARD_DIR, DATASOURCE_VAR, dashboardFiles, METRICS } from '../src/dashboards.ts';
import { panelQueries } from '../src/panel-queries.ts';

interface Dashboard {
  uid: string;
  templating: { list: { name: string; type: string; query: unknown; multi?: boolean; includeAll?: boolean }[] };
  panels: { type: string; title: string; datasource?: { uid: string }; targets?: { expr: string; refId: string }[] }[];
}

const FILES = ['overview.json', 'internals.json'];
const committed = (name: string) => readFileSync(join(DASHBOARD_DIR, name), 'utf8');
const dashboards = FILES.map((name) => [name, JSON.parse(committed(name)) as Dashboard] as const);
const queries = (d: Dashboard) => panelQueries(d);

/** What is wrong with the PromQL `expr` (Grafana's variables replaced by values), or undefined. */
function promqlProblem(expr: string): string | undefined {
  const text = expr.replaceAll('$__rate_interval', '5m');
  let at: number | undefined;
  parser.parse(text).iterate({
    enter: (n) => {
      if (n.type.isError && at === undefined) at = n.from;
    },
  });
  return at === undefined ? undefined : `syntax error at ${at}: …${text.slice(at, at + 30)}`;
}

describe('dashboards', () => {
  it('are the JSON that charts/src/dashboards.ts builds (run it after a change)', () => {
    const built = dashboardFiles();
    expect(Object.keys(built).sort()).toEqual([...FILES].sort());
    for (const name of FILES) expect([name, committed(name)]).toEqual([name, built[name]]);
  });

  it.each(dashboards)('%s has the variables component (role) and node (instance), several or all', (_name, d) => {
    const byName = Object.fromEntries(d.templating.list.map((v) => [v.name, v]));
    expect(byName.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(byName.component).toMatchObject({ type: 'query', multi: true, includeAll: true });
    expect(byName.node).toMatchObject({ type: 'query', multi: true, includeAll: true });
    expect(String(byName.component.query)).toMatch(/^label_values\(stead_[a-z_]+, component\)$/);
    expect(String(byName.node.query)).toMatch(/^label_values\(stead_[a-z_]+\{component=~"\$component"\}, node\)$/);
  });

  it.each(dashboards)('%s: every panel queries Prometheus with a non-empty, valid expr', (_name, d) => {
    const panels = d.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(8);
    for (const p of panels) {
      expect([p.title, p.datasource?.uid, (p.targets ?? []).length > 0]).toEqual([p.title, DATASOURCE_VAR, true]);
      for (const t of p.targets ?? []) {
        expect([p.title, t.expr.trim() !== '', promqlProblem(t.expr)]).toEqual([p.title, true, undefined]);
      }
    }
  });

  it('every metric the dashboards may use is documented in docs/METRICS.md with its type', () => {
    const doc = readFileSync(new URL('../../docs/METRICS.md', import.meta.url), 'utf8');
    const documented = new Map<string, string>();
    for (const [, name, type] of doc.matchAll(/^\| `(stead_[a-z0-9_]+)` \| ([a-z]+)/gm)) documented.set(name!, type!);
    expect(Object.fromEntries(Object.keys(METRICS).map((n) => [n, documented.get(n)]))).toEqual(METRICS);
  });

  it.each(dashboards)('%s: every selector is a contract metric filtered by component and node', (_name, d) => {
    for (const { panel, expr } of queries(d)) {
      const selectors = [...expr.matchAll(/\b(stead_[a-z_]+)(\{[^}]*\})?/g)];
      expect([panel, selectors.length > 0]).toEqual([panel, true]);
      for (const [, name, labels] of selectors) {
        const base = name.replace(/_bucket$/, '') as keyof typeof METRICS;
        const type = METRICS[base];
        expect([panel, name, type !== undefined]).toEqual([panel, name, true]);
        // Histograms are read through their buckets, counters through rate().
        if (type === 'histogram') expect([panel, name]).toEqual([panel, `${base}_bucket`]);
        else expect([panel, name]).toEqual([panel, base]);
        expect([panel, name, labels]).toEqual([
          panel,
          name,
          expect.stringContaining('component=~"$component", node=~"$node"'),
        ]);
      }
      for (const m of expr.matchAll(/\b(stead_[a-z_]+_total)\b/g)) {
        expect([panel, expr.includes(`rate(${m[1]}{`)]).toEqual([panel, true]);
      }
    }
  });

  it('cover requests, latency, errors, invocations and partitions (overview) and the internals', () => {
    const used = (file: string) => {
      const d = dashboards.find(([name]) => name === file)![1];
      return new Set(
        queries(d).flatMap(({ expr }) => [...expr.matchAll(/\b(stead_[a-z_]+?)(?:_bucket)?\{/g)].map((m) => m[1])),
      );
    };
    expect([...used('overview.json')].sort()).toEqual(
      [
        'stead_ingress_requests_total',
        'stead_ingress_request_duration_seconds',
        'stead_invocations_started_total',
        'stead_invocations_completed_total',
        'stead_invocations_failed_total',
        'stead_invocations_retried_total',
        'stead_invoker_running_invocations',
        'stead_invoker_attempt_duration_seconds',
        'stead_partition_replicas',
        'stead_partition_applied_lag_records',
      ].sort(),
    );
    expect([...used('internals.json')].sort()).toEqual(
      [
        'stead_log_append_duration_seconds',
        'stead_log_append_batch_records',
        'stead_log_server_store_duration_seconds',
        'stead_log_server_stored_bytes_total',
        'stead_log_server_records_total',
        'stead_metadata_commit_duration_seconds',
        'stead_metadata_is_leader',
        'stead_controller_active',
        'stead_snapshot_age_seconds',
        'stead_invoker_waiting_invocations',
        'stead_partition_backlog_records',
        'stead_ingress_refused_requests',
        'stead_process_cpu_seconds_total',
        'stead_process_resident_memory_bytes',
      ].sort(),
    );
  });
});
