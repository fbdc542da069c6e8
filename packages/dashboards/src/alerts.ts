import { SERVICES_JOB } from './prometheus.js';

/** One alerting rule in Prometheus' rule-file format. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** How long the condition must hold before the alert fires. */
  readonly for: string;
  readonly labels: { readonly severity: 'warning' | 'critical' } & Record<string, string>;
  readonly annotations: {
    readonly summary: string;
    readonly description: string;
    /** What to do: a section of docs/observability.md. */
    readonly runbook_url: string;
    readonly dashboard: string;
  };
}

export interface AlertGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

const dashboardLink = (uid: string) => `/d/${uid}`;

/**
 * Where the runbooks live: one section per alert, headed with the alert's name. Relative to the
 * repository; a fork that publishes its docs passes the published address instead.
 */
export const RUNBOOK_DOC = 'docs/observability.md';

/** The section of the runbook document about `alert` (GitHub's anchor for a heading). */
export const runbookUrl = (alert: string, doc: string = RUNBOOK_DOC) => `${doc}#${alert.toLowerCase()}`;

export interface AlertOptions {
  /** The runbook document's address. @default RUNBOOK_DOC */
  readonly runbookDoc?: string;
}

/** A rule as written below: its runbook link is derived from its name. */
type RuleSpec = Omit<AlertRule, 'annotations'> & { readonly annotations: Omit<AlertRule['annotations'], 'runbook_url'> };

/**
 * The platform's alerts: slow or failing services, a consumer falling behind, a relay or a
 * breaker stuck, a process that cannot be scraped. Thresholds follow the service objectives: p95 under 500 ms, under 1% 5xx.
 * Probe routes are left out: a failing readiness check is Kubernetes' business, not an outage.
 *
 * Rate windows are shorter than `for`: a condition read over a 5-minute window stays true for 5
 * minutes after a 30-second burst, so `for: 5m` over `[5m]` would page for any burst. Over `[1m]`
 * the condition has to hold for 5 minutes itself. The rule tests (`alert-tests.ts`) show both.
 */
export function alertGroups(options: AlertOptions = {}): AlertGroup[] {
  const groups: { name: string; rules: RuleSpec[] }[] = [
    {
      name: 'taskmesh-http',
      rules: [
        {
          alert: 'TaskmeshHighLatencyP95',
          expr: 'histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket{route!~"/health/.*|unmatched"}[1m]))) > 0.5',
          for: '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary: '{{ $labels.service }}: p95 latency above 500 ms',
            description:
              'The 95th percentile of request duration of {{ $labels.service }} has stayed above 500 ms for 5 minutes; it is now {{ $value | humanizeDuration }}.',
            dashboard: dashboardLink('taskmesh-overview'),
          },
        },
        {
          alert: 'TaskmeshHigh5xxRatio',
          expr:
            'sum by (service) (rate(http_request_duration_seconds_count{route!~"/health/.*", status_code=~"5.."}[1m]))' +
            ' / sum by (service) (rate(http_request_duration_seconds_count{route!~"/health/.*"}[1m])) > 0.01',
          for: '5m',
          labels: { severity: 'critical' },
          annotations: {
            summary: '{{ $labels.service }}: more than 1% of requests fail with 5xx',
            description:
              'More than 1% of the requests to {{ $labels.service }} have answered 5xx for 5 minutes; over the last minute {{ $value | humanizePercentage }}.',
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
            // increase() extrapolates to the window's edges: whole events read better.
            description:
              'Events went to analytics.dlq in the last 15 minutes (about {{ $value | printf "%.0f" }}); they are not counted until replayed.',
            dashboard: dashboardLink('taskmesh-kafka'),
          },
        },
        {
          alert: 'TaskmeshOutboxStuck',
          // Stuck means events wait and none leaves: a busy relay keeps a backlog at every scrape
          // and must not page, a relay that has published nothing for 10 minutes must.
          expr: 'sum(task_outbox_backlog) > 0 and sum(increase(task_outbox_published_total[10m])) == 0',
          for: '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Task events are not being published',
            description:
              '{{ $value }} task events are waiting and none has been published for 15 minutes: the relay is stuck or Kafka refuses writes.',
            dashboard: dashboardLink('taskmesh-kafka'),
          },
        },
      ],
    },
    {
      name: 'taskmesh-targets',
      rules: [
        {
          alert: 'TaskmeshTargetDown',
          // Every other alert stays quiet without data: this one says the data stopped coming.
          expr: `up{job="${SERVICES_JOB}"} == 0`,
          for: '2m',
          labels: { severity: 'critical' },
          annotations: {
            summary: '{{ $labels.app }} at {{ $labels.instance }} does not answer its scrape',
            description:
              'Prometheus has not read /metrics of {{ $labels.app }} at {{ $labels.instance }} for 2 minutes: the process is down, hung or unreachable, and the other alerts cannot see it.',
            dashboard: dashboardLink('taskmesh-runtime'),
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
  return groups.map((g) => ({
    name: g.name,
    rules: g.rules.map(({ annotations: { summary, description, dashboard }, ...rule }) => ({
      ...rule,
      annotations: { summary, description, runbook_url: runbookUrl(rule.alert, options.runbookDoc), dashboard },
    })),
  }));
}
