/** The Prometheus release the suite evaluates the rules with, and the image the cluster runs. */
export const PROMETHEUS_VERSION = '3.16.0';

/** The job that scrapes the platform's processes, in the cluster and locally. */
export const SERVICES_JOB = 'taskmesh';

/** A process scraped at a fixed address (the local run: no Kubernetes to discover pods). */
export interface StaticTarget {
  /** `host:port` serving `/metrics`. */
  readonly address: string;
  /** The workload's name, the `app` label pod discovery sets from `app.kubernetes.io/name`. */
  readonly app: string;
}

/** How Prometheus finds the processes: pods of a namespace, or fixed addresses. */
export type ServiceDiscovery = { readonly kubernetesNamespace: string } | { readonly targets: readonly StaticTarget[] };

export interface PrometheusConfigOptions {
  readonly discovery: ServiceDiscovery;
  /** Globs of rule files, relative to the configuration file or absolute. */
  readonly ruleFiles: readonly string[];
  /** Where Prometheus scrapes itself, e.g. `localhost:9090`. */
  readonly selfAddress: string;
  /** Scrape and rule-evaluation interval. @default '15s' */
  readonly interval?: string;
  /** More `scrape_configs` entries, appended after the platform's. @default [] */
  readonly extraScrapeConfigs?: readonly object[];
}

/**
 * Pod discovery in one namespace: pods annotated `prometheus.io/scrape: "true"`, scraped on their
 * `prometheus.io/port` and `prometheus.io/path`, labelled with `app`, `namespace` and `pod`.
 */
function kubernetesJob(namespace: string): object {
  return {
    job_name: SERVICES_JOB,
    kubernetes_sd_configs: [{ role: 'pod', namespaces: { names: [namespace] } }],
    relabel_configs: [
      { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], action: 'keep', regex: 'true' },
      { source_labels: ['__meta_kubernetes_pod_phase'], action: 'drop', regex: 'Succeeded|Failed' },
      {
        source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_path'],
        action: 'replace',
        target_label: '__metrics_path__',
        regex: '(.+)',
      },
      {
        source_labels: ['__address__', '__meta_kubernetes_pod_annotation_prometheus_io_port'],
        action: 'replace',
        regex: '([^:]+)(?::\\d+)?;(\\d+)',
        replacement: '$1:$2',
        target_label: '__address__',
      },
      { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'], target_label: 'app' },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    ],
  };
}

/** The same job over fixed addresses, each labelled with its `app` as pod discovery would. */
function staticJob(targets: readonly StaticTarget[]): object {
  return {
    job_name: SERVICES_JOB,
    static_configs: targets.map((t) => ({ targets: [t.address], labels: { app: t.app } })),
  };
}

/**
 * Prometheus' configuration file (JSON, which Prometheus reads as YAML): the platform's scrape
 * job, Prometheus scraping itself, and the rule files. The cluster and the local run both take it
 * from here and differ only in how the processes are found.
 */
export function prometheusConfig(options: PrometheusConfigOptions): object {
  const interval = options.interval ?? '15s';
  const { discovery } = options;
  return {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: [...options.ruleFiles],
    scrape_configs: [
      'kubernetesNamespace' in discovery ? kubernetesJob(discovery.kubernetesNamespace) : staticJob(discovery.targets),
      { job_name: 'prometheus', static_configs: [{ targets: [options.selfAddress] }] },
      ...(options.extraScrapeConfigs ?? []),
    ],
  };
}
