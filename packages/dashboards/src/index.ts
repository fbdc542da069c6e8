/**
 * Every Grafana dashboard of the platform, keyed by file name (`overview.json`, ...), ready to be
 * put into a ConfigMap that Grafana's dashboard provider loads.
 */
export function grafanaDashboards(): Record<string, object> {
  return {};
}

/** Prometheus alerting rules in the rule-file format: `{ groups: [{ name, rules }] }`. */
export function prometheusAlertRules(): { groups: object[] } {
  return { groups: [] };
}
