import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { platformDashboard, serviceVariable, series, states } from './panels.js';

const svc = 'service=~"$service"';
/** Kubernetes probes are answered in microseconds and a failing readiness is not an outage. */
const served = `${svc}, route!~"/health/.*"`;
const w = '[$__rate_interval]';

/** `histogram_quantile` of a histogram, aggregated by `by` (plus `le`). */
const quantile = (q: number, metric: string, by: string, filter = served) =>
  `histogram_quantile(${q}, sum by (${by}, le) (rate(${metric}_bucket{${filter}}${w})))`;

/** Requests per second, errors and p95/p99 per service and per route. */
export function overviewDashboard(): dashboard.DashboardBuilder {
  const requests = `http_request_duration_seconds_count{${served}}`;
  const failed = `http_request_duration_seconds_count{${served}, status_code=~"5.."}`;
  return platformDashboard(
    'taskmesh-overview',
    'Taskmesh / Overview',
    'Request rate, errors and latency of the gateway and every service, per service and per route',
  )
    .withVariable(serviceVariable())
    .withRow(new dashboard.RowBuilder('Services'))
    .withPanel(
      series({
        title: 'Request rate',
        description: 'Requests per second answered by each service, probes and scrapes left out',
        unit: 'reqps',
        queries: [[`sum by (service) (rate(${requests}${w}))`, '{{service}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: '5xx ratio',
        description: 'Share of answers with a 5xx status; the alert fires above 1% for 5 minutes',
        unit: 'percentunit',
        queries: [[`sum by (service) (rate(${failed}${w})) / sum by (service) (rate(${requests}${w}))`, '{{service}}']],
        threshold: 0.01,
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'p95 latency',
        description: 'The alert fires when p95 stays above 500 ms for 5 minutes',
        unit: 's',
        queries: [[quantile(0.95, 'http_request_duration_seconds', 'service'), '{{service}}']],
        threshold: 0.5,
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'p99 latency',
        description: '99th percentile of request duration per service',
        unit: 's',
        queries: [[quantile(0.99, 'http_request_duration_seconds', 'service'), '{{service}}']],
        min: 0,
      }),
    )
    .withRow(new dashboard.RowBuilder('Routes'))
    .withPanel(
      series({
        title: 'Request rate by route',
        description: 'Routes are templates such as /tasks/:id, never raw paths',
        unit: 'reqps',
        queries: [[`sum by (service, method, route) (rate(${requests}${w}))`, '{{service}} {{method}} {{route}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Errors by route and status',
        description: '4xx and 5xx answers per second',
        unit: 'reqps',
        queries: [
          [
            `sum by (service, method, route, status_code) (rate(http_request_duration_seconds_count{${served}, status_code=~"[45].."}${w}))`,
            '{{service}} {{method}} {{route}} {{status_code}}',
          ],
        ],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'p95 latency by route',
        description: '95th percentile of request duration per route',
        unit: 's',
        queries: [[quantile(0.95, 'http_request_duration_seconds', 'service, method, route'), '{{service}} {{method}} {{route}}']],
        threshold: 0.5,
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'p99 latency by route',
        description: '99th percentile of request duration per route',
        unit: 's',
        queries: [[quantile(0.99, 'http_request_duration_seconds', 'service, method, route'), '{{service}} {{method}} {{route}}']],
        min: 0,
      }),
    )
    .withRow(new dashboard.RowBuilder('Data stores'))
    .withPanel(
      series({
        title: 'MongoDB connections',
        description: 'Pooled connections in use against the pool bound, and operations waiting for one',
        unit: 'short',
        queries: [
          [`sum by (service) (mongodb_pool_connections{${svc}, state="in_use"})`, '{{service}} in use'],
          [`sum by (service) (mongodb_pool_max_connections{${svc}})`, '{{service}} max'],
          [`sum by (service) (mongodb_pool_waiting_checkouts{${svc}})`, '{{service}} waiting'],
        ],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Task outbox backlog',
        description: 'Task documents whose event is not yet published; it should return to zero within seconds',
        unit: 'short',
        queries: [
          ['sum(task_outbox_backlog)', 'pending'],
          ['sum(rate(task_outbox_published_total[$__rate_interval]))', 'published/s'],
        ],
        min: 0,
      }),
    );
}

/** Consumer lag, throughput and dead letters. */
export function kafkaDashboard(): dashboard.DashboardBuilder {
  return platformDashboard(
    'taskmesh-kafka',
    'Taskmesh / Kafka',
    'Consumer lag, produce and consume throughput, dead letters and the analytics consumer',
  )
    .withRow(new dashboard.RowBuilder('Consumers'))
    .withPanel(
      series({
        title: 'Consumer lag by group and topic',
        description: 'Messages behind the newest, as of the latest fetch; the alert fires when it keeps growing',
        unit: 'short',
        queries: [['sum by (group, topic) (kafka_consumer_lag)', '{{group}} {{topic}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Consumer lag by partition',
        description: 'One line per partition, so a stuck partition stands out',
        unit: 'short',
        queries: [['max by (group, topic, partition) (kafka_consumer_lag)', '{{group}} {{topic}}/{{partition}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Produced',
        description: 'Messages acknowledged by the brokers per second, by producing service and topic',
        unit: 'short',
        queries: [[`sum by (service, topic) (rate(kafka_messages_produced_total${w}))`, '{{service}} → {{topic}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Consumed',
        description: 'Messages handled successfully per second, by consumer group and topic',
        unit: 'short',
        queries: [[`sum by (group, topic) (rate(kafka_messages_consumed_total${w}))`, '{{group}} ← {{topic}}']],
        min: 0,
      }),
    )
    .withRow(new dashboard.RowBuilder('Dead letters and analytics'))
    .withPanel(
      series({
        title: 'Dead letters',
        description: 'Events given up on, per second: by the analytics consumer, and everything produced to a .dlq topic',
        unit: 'short',
        queries: [
          [`sum(rate(analytics_dead_letters_total${w}))`, 'analytics'],
          [`sum by (topic) (rate(kafka_messages_produced_total{topic=~".+\\\\.dlq"}${w}))`, '{{topic}}'],
        ],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Analytics events',
        description: 'Events processed per second by type and outcome, and duplicates skipped',
        unit: 'short',
        queries: [
          [`sum by (type, outcome) (rate(analytics_events_processed_total${w}))`, '{{type}} {{outcome}}'],
          [`sum(rate(analytics_dedup_hits_total${w}))`, 'duplicates'],
        ],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Analytics processing time',
        description: 'p50, p95 and p99 of the time to apply one event',
        unit: 's',
        queries: [
          [`histogram_quantile(0.5, sum by (le) (rate(analytics_event_processing_seconds_bucket${w})))`, 'p50'],
          [`histogram_quantile(0.95, sum by (le) (rate(analytics_event_processing_seconds_bucket${w})))`, 'p95'],
          [`histogram_quantile(0.99, sum by (le) (rate(analytics_event_processing_seconds_bucket${w})))`, 'p99'],
        ],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Task outbox',
        description: 'Events waiting in task documents, and the relay publishing them',
        unit: 'short',
        queries: [
          ['sum(task_outbox_backlog)', 'pending'],
          [`sum(rate(task_outbox_published_total${w}))`, 'published/s'],
        ],
        min: 0,
      }),
    );
}

/** Rate limits, circuit breakers and upstream latency as the gateway sees them. */
export function gatewayDashboard(): dashboard.DashboardBuilder {
  const gw = 'service="gateway"';
  return platformDashboard(
    'taskmesh-gateway',
    'Taskmesh / Gateway',
    'Rate-limit rejections, circuit breakers and upstream latency at the gateway',
  )
    .withRow(new dashboard.RowBuilder('Protection'))
    .withPanel(
      states({
        title: 'Circuit breakers',
        description: 'One lane per upstream; the alert fires when one stays open',
        expr: 'max by (upstream) (gateway_circuit_breaker_state)',
        legend: '{{upstream}}',
        mapping: {
          '0': { text: 'closed', color: 'green' },
          '1': { text: 'half-open', color: 'yellow' },
          '2': { text: 'open', color: 'red' },
        },
      }),
    )
    .withPanel(
      series({
        title: 'Rate-limit rejections',
        description: 'Requests answered 429, per second, by limit bucket',
        unit: 'reqps',
        queries: [[`sum by (bucket) (rate(gateway_rate_limit_rejections_total${w}))`, '{{bucket}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Gateway answers by status',
        description: 'Everything the gateway answered, per second, by status code',
        unit: 'reqps',
        queries: [[`sum by (status_code) (rate(http_request_duration_seconds_count{${gw}}${w}))`, '{{status_code}}']],
        stacked: true,
        min: 0,
      }),
    )
    .withRow(new dashboard.RowBuilder('Upstreams'))
    .withPanel(
      series({
        title: 'Upstream p95 latency',
        description: 'Time from the gateway to each service and back',
        unit: 's',
        queries: [[`histogram_quantile(0.95, sum by (upstream, le) (rate(gateway_upstream_duration_seconds_bucket${w})))`, '{{upstream}}']],
        threshold: 0.5,
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Upstream p99 latency',
        description: '99th percentile of upstream calls',
        unit: 's',
        queries: [[`histogram_quantile(0.99, sum by (upstream, le) (rate(gateway_upstream_duration_seconds_bucket${w})))`, '{{upstream}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Upstream calls by status',
        description: 'Calls per second to each upstream by status code',
        unit: 'reqps',
        queries: [[`sum by (upstream, status_code) (rate(gateway_upstream_duration_seconds_count${w}))`, '{{upstream}} {{status_code}}']],
        min: 0,
        width: 24,
      }),
    );
}

/** Event loop, memory and CPU of every Node.js process. */
export function runtimeDashboard(): dashboard.DashboardBuilder {
  return platformDashboard(
    'taskmesh-runtime',
    'Taskmesh / Runtime',
    'Event-loop lag, heap, RSS, CPU and garbage collection of every process',
  )
    .withVariable(serviceVariable('process_resident_memory_bytes'))
    .withRow(new dashboard.RowBuilder('Event loop'))
    .withPanel(
      series({
        title: 'Event-loop lag p99',
        description: 'How late timers fire; above ~100 ms requests queue behind synchronous work',
        unit: 's',
        queries: [[`max by (service, instance) (nodejs_eventloop_lag_p99_seconds{${svc}})`, '{{service}} {{instance}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Event-loop lag mean',
        description: 'Mean event-loop delay per process',
        unit: 's',
        queries: [[`max by (service, instance) (nodejs_eventloop_lag_mean_seconds{${svc}})`, '{{service}} {{instance}}']],
        min: 0,
      }),
    )
    .withRow(new dashboard.RowBuilder('Memory and CPU'))
    .withPanel(
      series({
        title: 'Heap used',
        description: 'V8 heap in use against the heap size it has reserved',
        unit: 'bytes',
        queries: [
          [`sum by (service, instance) (nodejs_heap_size_used_bytes{${svc}})`, '{{service}} {{instance}} used'],
          [`sum by (service, instance) (nodejs_heap_size_total_bytes{${svc}})`, '{{service}} {{instance}} total'],
        ],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Resident memory',
        description: 'RSS per process; compare with the container memory limit',
        unit: 'bytes',
        queries: [[`sum by (service, instance) (process_resident_memory_bytes{${svc}})`, '{{service}} {{instance}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'CPU',
        description: 'CPU seconds per second (1 = one full core)',
        unit: 'short',
        queries: [[`sum by (service, instance) (rate(process_cpu_seconds_total{${svc}}${w}))`, '{{service}} {{instance}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Garbage collection',
        description: 'Share of time spent in GC pauses, by kind',
        unit: 'percentunit',
        queries: [[`sum by (service, kind) (rate(nodejs_gc_duration_seconds_sum{${svc}}${w}))`, '{{service}} {{kind}}']],
        min: 0,
      }),
    )
    .withPanel(
      series({
        title: 'Handles and file descriptors',
        description: 'Active libuv handles and open file descriptors; a steady climb is a leak',
        unit: 'short',
        queries: [
          [`sum by (service, instance) (nodejs_active_handles_total{${svc}})`, '{{service}} {{instance}} handles'],
          [`sum by (service, instance) (process_open_fds{${svc}})`, '{{service}} {{instance}} fds'],
        ],
        min: 0,
        width: 24,
      }),
    );
}
