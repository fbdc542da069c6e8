import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** The uid Grafana's provisioned Prometheus data source has (see `grafanaDataSources`). */
export const PROMETHEUS_UID = 'prometheus';
/** The uid of the provisioned trace back end (Jaeger). */
export const TRACES_UID = 'jaeger';

export const prometheusSource: common.DataSourceRef = { type: 'prometheus', uid: PROMETHEUS_UID };

/** The `service` variable every dashboard filters by. */
export function serviceVariable(metric = 'http_request_duration_seconds_count'): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder('service')
    .label('Service')
    .datasource(prometheusSource)
    .query({ query: `label_values(${metric}, service)`, refId: 'service' })
    .definition(`label_values(${metric}, service)`)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.+')
    .current({ text: ['All'], value: ['$__all'], selected: true });
}

export function query(expr: string, legend: string, refId = 'A'): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder().datasource(prometheusSource).expr(expr).legendFormat(legend).range().refId(refId);
}

export interface SeriesPanel {
  readonly title: string;
  readonly description: string;
  readonly unit: string;
  /** `[expr, legend]` pairs. */
  readonly queries: readonly (readonly [string, string])[];
  /** A red line at this value (an alert threshold). */
  readonly threshold?: number;
  /** @default 12 (half the width) */
  readonly width?: number;
  readonly stacked?: boolean;
  readonly min?: number;
}

export function series(p: SeriesPanel): timeseries.PanelBuilder {
  const panel = new timeseries.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(prometheusSource)
    .unit(p.unit)
    .height(8)
    .span(p.width ?? 12)
    .lineWidth(1)
    .fillOpacity(p.stacked ? 30 : 10)
    .showPoints(common.VisibilityMode.Never)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(['mean', 'max', 'lastNotNull']),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
  if (p.min !== undefined) panel.min(p.min);
  if (p.stacked) panel.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (p.threshold !== undefined) {
    panel
      .thresholds(
        new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
          { value: null, color: 'transparent' },
          { value: p.threshold, color: 'red' },
        ]),
      )
      .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed));
  }
  p.queries.forEach(([expr, legend], i) => panel.withTarget(query(expr, legend, String.fromCharCode(65 + i))));
  return panel;
}

/** A state over time, e.g. a circuit breaker: closed, half-open, open. */
export function states(p: {
  title: string;
  description: string;
  expr: string;
  legend: string;
  mapping: Record<string, { text: string; color: string }>;
}): statetimeline.PanelBuilder {
  const options: Record<string, dashboard.ValueMappingResult> = {};
  Object.entries(p.mapping).forEach(([value, m], index) => (options[value] = { text: m.text, color: m.color, index }));
  return new statetimeline.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(prometheusSource)
    .height(8)
    .span(24)
    .showValue(common.VisibilityMode.Auto)
    .mergeValues(true)
    .mappings([{ type: dashboard.MappingType.ValueToText, options }])
    .withTarget(query(p.expr, p.legend));
}

/** Links to the other dashboards of the platform, in every dashboard's header. */
export function platformLinks(): dashboard.DashboardLinkBuilder {
  return new dashboard.DashboardLinkBuilder('Taskmesh')
    .type(dashboard.DashboardLinkType.Dashboards)
    .tags(['taskmesh'])
    .asDropdown(true)
    .includeVars(true)
    .keepTime(true);
}

export function platformDashboard(uid: string, title: string, description: string): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['taskmesh'])
    .editable()
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(platformLinks());
}
