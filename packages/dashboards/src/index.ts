import { alertGroups, type AlertGroup, type AlertOptions } from './alerts.js';
import { gatewayDashboard, kafkaDashboard, overviewDashboard, runtimeDashboard } from './dashboards.js';

export { alertGroups, RUNBOOK_DOC, runbookUrl, type AlertGroup, type AlertOptions, type AlertRule } from './alerts.js';
export { alertCases, promtoolRuleTests, type AlertCase, type CaseKind, type Expectation } from './alert-tests.js';
export {
  PROMETHEUS_VERSION,
  SERVICES_JOB,
  prometheusConfig,
  type PrometheusConfigOptions,
  type ServiceDiscovery,
  type StaticTarget,
} from './prometheus.js';
export { METRICS, TARGET_LABELS, type MetricName, type MetricSpec, type MetricSource, type MetricType } from './metrics.js';
export { PROMETHEUS_UID, TRACES_UID } from './panels.js';
export {
  grafanaDataSources,
  grafanaDashboardProvider,
  jaegerDataSource,
  otelCollectorConfig,
  type CollectorOptions,
  type DataSourceUrls,
  type GrafanaDataSource,
} from './provisioning.js';

/** Plain JSON: no builder instances, no `undefined` fields. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

interface DashboardJson {
  panels?: { id?: number }[];
  links?: { placement?: string }[];
  annotations?: { list?: unknown[] };
  templating?: { list?: unknown[] };
}

/**
 * What the builders leave to Grafana's importer: unique panel ids (stable links to a panel),
 * the list fields older Grafana versions expect, and header links shown in the header itself.
 */
function finish(built: object): object {
  const d = plain(built) as DashboardJson;
  d.panels?.forEach((panel, i) => (panel.id = i + 1));
  d.links?.forEach((link) => delete link.placement);
  d.annotations = { list: d.annotations?.list ?? [] };
  d.templating = { list: d.templating?.list ?? [] };
  return d;
}

/**
 * Every Grafana dashboard of the platform, keyed by file name (`overview.json`, ...), ready to be
 * put into a ConfigMap that Grafana's dashboard provider loads. The same input always gives the
 * same output, byte for byte once serialized.
 */
export function grafanaDashboards(): Record<string, object> {
  return {
    'overview.json': finish(overviewDashboard().build()),
    'kafka.json': finish(kafkaDashboard().build()),
    'gateway.json': finish(gatewayDashboard().build()),
    'runtime.json': finish(runtimeDashboard().build()),
  };
}

/** Prometheus alerting rules in the rule-file format: `{ groups: [{ name, rules }] }`. */
export function prometheusAlertRules(options: AlertOptions = {}): { groups: AlertGroup[] } {
  return plain({ groups: alertGroups(options) });
}

/**
 * Every rule file Prometheus loads, by file name. The cluster mounts them from a ConfigMap into
 * the folder its configuration names; the local run writes them next to its configuration.
 */
export function prometheusRuleFiles(options: AlertOptions = {}): Record<string, object> {
  return { 'alerts.yaml': prometheusAlertRules(options) };
}
