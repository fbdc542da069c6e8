/**
 * Every metric the dashboards and alerts read, with the process that exposes it. The names are
 * the platform's contract: services and shared packages expose exactly these.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * Who exposes a metric: the shared packages (every process using them), one service, or
 * Prometheus itself for each target it scrapes (`up`).
 */
export type MetricSource = 'shared' | 'gateway' | 'task' | 'analytics' | 'prometheus';

export interface MetricSpec {
  readonly type: MetricType;
  /** Labels the process sets itself (`service` comes from the registry's default labels). */
  readonly labels: readonly string[];
  readonly source: MetricSource;
  /** Where it comes from, for people reading the catalogue. */
  readonly from: string;
}

const shared = (type: MetricType, labels: string[], from: string): MetricSpec => ({
  type,
  labels: ['service', ...labels],
  source: 'shared',
  from,
});
const own = (source: MetricSource, type: MetricType, labels: string[]): MetricSpec => ({
  type,
  labels: ['service', ...labels],
  source,
  from: `${source} service`,
});

export const METRICS = {
  http_request_duration_seconds: shared('histogram', ['route', 'method', 'status_code'], '@taskmesh/service-kit'),

  process_cpu_seconds_total: shared('counter', [], 'prom-client default metrics'),
  process_resident_memory_bytes: shared('gauge', [], 'prom-client default metrics'),
  process_open_fds: shared('gauge', [], 'prom-client default metrics'),
  nodejs_eventloop_lag_p99_seconds: shared('gauge', [], 'prom-client default metrics'),
  nodejs_eventloop_lag_mean_seconds: shared('gauge', [], 'prom-client default metrics'),
  nodejs_heap_size_used_bytes: shared('gauge', [], 'prom-client default metrics'),
  nodejs_heap_size_total_bytes: shared('gauge', [], 'prom-client default metrics'),
  nodejs_gc_duration_seconds: shared('histogram', ['kind'], 'prom-client default metrics'),
  nodejs_active_handles_total: shared('gauge', [], 'prom-client default metrics'),

  kafka_messages_produced_total: shared('counter', ['topic'], '@taskmesh/kafka'),
  kafka_messages_consumed_total: shared('counter', ['topic', 'group'], '@taskmesh/kafka'),
  kafka_consumer_lag: shared('gauge', ['topic', 'partition', 'group'], '@taskmesh/kafka'),

  mongodb_pool_connections: shared('gauge', ['state'], '@taskmesh/mongo'),
  mongodb_pool_max_connections: shared('gauge', [], '@taskmesh/mongo'),
  mongodb_pool_waiting_checkouts: shared('gauge', [], '@taskmesh/mongo'),

  task_outbox_backlog: own('task', 'gauge', []),
  task_outbox_published_total: own('task', 'counter', []),

  analytics_events_processed_total: own('analytics', 'counter', ['type', 'outcome']),
  analytics_dedup_hits_total: own('analytics', 'counter', []),
  analytics_dead_letters_total: own('analytics', 'counter', []),
  analytics_event_processing_seconds: own('analytics', 'histogram', []),

  gateway_upstream_duration_seconds: own('gateway', 'histogram', ['upstream', 'status_code']),
  gateway_rate_limit_rejections_total: own('gateway', 'counter', ['bucket']),
  gateway_circuit_breaker_state: own('gateway', 'gauge', ['upstream']),

  up: { type: 'gauge', labels: [], source: 'prometheus', from: 'Prometheus, per scrape target: 1 scraped, 0 failed' },
} satisfies Record<string, MetricSpec>;

export type MetricName = keyof typeof METRICS;

/**
 * Labels that Prometheus adds to every series at scrape time, not exposed by the process (`app`
 * from the workload's name, see `prometheusConfig`).
 */
export const TARGET_LABELS = ['instance', 'job', 'app', 'namespace', 'pod', 'container'] as const;
