/** One alerting rule in Prometheus' rule-file format. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** How long the condition must hold before the alert fires. */
  readonly for: string;
  readonly labels: { readonly severity: 'warning' | 'critical' } & Record<string, string>;
  readonly annotations: { readonly summary: string; readonly description: string; readonly dashboard: string };
}

export interface AlertGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

const dashboardLink = (uid: string) => `/d/${uid}`;

/**
 * The platform's alerts: slow or failing services, a consumer falling behind, a relay or a
 * breaker stuck. Thresholds follow the service objectives: p95 under 500 ms, under 1% 5xx.
 * Probe routes are left out: a failing readiness check is Kubernetes' business, not an outage.
 */
export function alertGroups(): AlertGroup[] {
  return [
    {
      name: 'taskmesh-http',
      rules: [
        {
          alert: 'TaskmeshHighLatencyP95',
          expr: 'histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket{route!~"/health/.*|unmatched"}[5m]))) > 0.5',
          for: '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary: '{{ $labels.service }}: p95 latency above 500 ms',
            description:
              'The 95th percentile of request duration of {{ $labels.service }} has been {{ $value | humanizeDuration }} for 5 minutes.',
            dashboard: dashboardLink('taskmesh-overview'),
          },
        },
        {
          alert: 'TaskmeshHigh5xxRatio',
          expr:
            'sum by (service) (rate(http_request_duration_seconds_count{route!~"/health/.*", status_code=~"5.."}[5m]))' +
            ' / sum by (service) (rate(http_request_duration_seconds_count{route!~"/health/.*"}[5m])) > 0.01',
          for: '5m',
          labels: { severity: 'critical' },
          annotations: {
            summary: '{{ $labels.service }}: more than 1% of requests fail with 5xx',
            description: '{{ $value | humanizePercentage }} of the requests to {{ $labels.service }} have answered 5xx for 5 minutes.',
            dashboard: dashboardLink('taskmesh-overview'),
          },
        },
      ],
    },
    {
      name: 'taskmesh-kafka',
      rules: [
        {
          alert: 'TaskmeshConsumerLagGrowing',
          // Growing over 10 minutes and not back at zero: a consumer that only blips behind and
          // catches up does not page anyone.
          expr: 'sum by (group, topic) (kafka_consumer_lag) > 0' + ' and deriv(sum by (group, topic) (kafka_consumer_lag)[10m:1m]) > 0',
          for: '10m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Consumer group {{ $labels.group }} keeps falling behind on {{ $labels.topic }}',
            description: 'The lag of {{ $labels.group }} on {{ $labels.topic }} has grown for 10 minutes and is now {{ $value }} messages.',
            dashboard: dashboardLink('taskmesh-kafka'),
          },
        },
        {
          alert: 'TaskmeshDeadLetters',
          expr: 'sum(increase(analytics_dead_letters_total[15m])) > 0',
          for: '0m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Analytics sent events to its dead-letter topic',
            description: '{{ $value }} events went to analytics.dlq in the last 15 minutes; they are not counted until replayed.',
            dashboard: dashboardLink('taskmesh-kafka'),
          },
        },
        {
          alert: 'TaskmeshOutboxStuck',
          expr: 'min_over_time(sum(task_outbox_backlog)[10m:1m]) > 0',
          for: '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Task events are not being published',
            description:
              'The task outbox has not been empty for 15 minutes ({{ $value }} pending): the relay is stuck or Kafka refuses writes.',
            dashboard: dashboardLink('taskmesh-kafka'),
          },
        },
      ],
    },
    {
      name: 'taskmesh-gateway',
      rules: [
        {
          alert: 'TaskmeshCircuitBreakerOpen',
          expr: 'max by (upstream) (gateway_circuit_breaker_state) == 2',
          for: '1m',
          labels: { severity: 'critical' },
          annotations: {
            summary: 'The gateway breaker for {{ $labels.upstream }} is open',
            description: 'Requests to {{ $labels.upstream }} are failed fast at the gateway: the upstream is down or too slow.',
            dashboard: dashboardLink('taskmesh-gateway'),
          },
        },
      ],
    },
  ];
}
