// The PromQL queries of a Grafana dashboard's panels (panels inside collapsed rows included), shared by the
// dashboards' static test and the e2e test that runs them against a real Prometheus.

interface PanelJson {
  title?: string;
  targets?: { expr?: string }[];
  panels?: PanelJson[];
}

/** Every panel query of dashboard JSON `dashboard`, with its panel's title. */
export function panelQueries(dashboard: { panels?: PanelJson[] }): { panel: string; expr: string }[] {
  const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
  return panels.flatMap((p) =>
    (p.targets ?? []).filter((t) => t.expr).map((t) => ({ panel: p.title ?? '?', expr: t.expr as string })),
  );
}
