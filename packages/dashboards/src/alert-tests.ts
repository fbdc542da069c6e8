import { alertGroups, type AlertRule } from './alerts.js';

/**
 * Unit tests of the alerting rules, for `promtool test rules`: for every alert, series that must
 * fire it (with its labels and only after its `for`) and series that must not: the edge just
 * under the threshold, a burst shorter than `for`, and no data at all.
 *
 * Series are sampled every 15 s, as the platform scrapes, and rules are evaluated every 15 s.
 */

/** What a case shows about its alert. `brief-spike` applies only to alerts with a `for`. */
export type CaseKind = 'fires' | 'under-threshold' | 'brief-spike' | 'no-data';

/** One moment of a case: exactly these alerts of the case's name are firing. */
export interface Expectation {
  /** Since the first sample, e.g. `5m30s`. */
  readonly at: string;
  readonly firing: readonly {
    /** Labels beyond `alertname` and the rule's own (`severity`). */
    readonly labels: Readonly<Record<string, string>>;
    readonly summary: string;
    readonly description: string;
  }[];
}

export interface AlertCase {
  readonly alert: string;
  readonly kind: CaseKind;
  /** "when …, then …". */
  readonly name: string;
  /** `[series, values]` in promtool's notation, one sample per 15 s. */
  readonly series: readonly (readonly [string, string])[];
  readonly expect: readonly Expectation[];
}

const STEP_SECONDS = 15;

/** Steps of 15 s in a duration such as `5m30s`. */
export function steps(duration: string): number {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  if (!m || duration === '') throw new Error(`not a duration in minutes and seconds: ${duration}`);
  return (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) / STEP_SECONDS;
}

/**
 * A counter from 0 in promtool's expanding notation: each `[by, duration]` segment adds `by` per
 * sample for that long. `counter([10, '3m'], [0, '5m'])` rises for 3 minutes, then stays.
 */
export function counter(...segments: [by: number, duration: string][]): string {
  let value = 0;
  const parts = ['0'];
  for (const [by, duration] of segments) {
    const n = steps(duration);
    parts.push(n === 1 ? `${value + by}` : `${value + by}+${by}x${n - 1}`);
    value += by * n;
  }
  return parts.join(' ');
}

/** A gauge holding each `[value, duration]` in turn, from the first sample. */
export function gauge(...segments: [value: number, duration: string][]): string {
  return segments.map(([value, duration]) => (steps(duration) === 1 ? `${value}` : `${value}x${steps(duration) - 1}`)).join(' ');
}

const silent = (...at: string[]): Expectation[] => at.map((t) => ({ at: t, firing: [] }));

/** The buckets of one request histogram series, with each bucket's counter. */
function histogram(labels: string, buckets: Record<string, string>): [string, string][] {
  return Object.entries(buckets).map(([le, values]) => [`http_request_duration_seconds_bucket{${labels}, le="${le}"}`, values]);
}

const TASKS = 'service="task", route="/tasks", method="GET", status_code="200"';
const PROBE = 'service="auth", route="/health/ready", method="GET", status_code="200"';

/** Requests per 15 s: all under 250 ms, or all between 500 ms and 1 s (p95 975 ms). */
const fast = (duration: string): [number, string][] => [[10, duration]];
const none = (duration: string): [number, string][] => [[0, duration]];

const latencyCases: AlertCase[] = [
  {
    alert: 'TaskmeshHighLatencyP95',
    kind: 'fires',
    name: 'when every request of task takes between 500 ms and 1 s, then the alert fires for task after 5 minutes, and probes do not count',
    series: [
      ...histogram(TASKS, {
        '0.25': counter(...none('12m')),
        '0.5': counter(...none('12m')),
        '1': counter(...fast('12m')),
        '+Inf': counter(...fast('12m')),
      }),
      // As slow, but a readiness probe: left out.
      ...histogram(PROBE, {
        '0.25': counter(...none('12m')),
        '0.5': counter(...none('12m')),
        '1': counter(...fast('12m')),
        '+Inf': counter(...fast('12m')),
      }),
    ],
    expect: [
      ...silent('1m', '5m'),
      {
        at: '5m30s',
        firing: [
          {
            labels: { service: 'task' },
            summary: 'task: p95 latency above 500 ms',
            description: 'The 95th percentile of request duration of task has stayed above 500 ms for 5 minutes; it is now 975ms.',
          },
        ],
      },
    ],
  },
  {
    alert: 'TaskmeshHighLatencyP95',
    kind: 'under-threshold',
    name: 'when 96% of the requests take under 500 ms (p95 497 ms), then nothing fires',
    series: histogram(TASKS, {
      '0.25': counter(...none('12m')),
      '0.5': counter([96, '12m']),
      '1': counter([100, '12m']),
      '+Inf': counter([100, '12m']),
    }),
    expect: silent('5m30s', '11m'),
  },
  {
    alert: 'TaskmeshHighLatencyP95',
    kind: 'brief-spike',
    name: 'when requests are slow for 3 minutes and then fast again, then nothing fires',
    series: histogram(TASKS, {
      '0.25': counter([0, '3m'], [10, '9m']),
      '0.5': counter([0, '3m'], [10, '9m']),
      '1': counter(...fast('12m')),
      '+Inf': counter(...fast('12m')),
    }),
    expect: silent('3m', '5m30s', '8m', '11m'),
  },
  {
    alert: 'TaskmeshHighLatencyP95',
    kind: 'no-data',
    name: 'when task serves no request, or exposes no histogram at all, then nothing fires',
    series: histogram(TASKS, { '0.25': gauge([5, '12m']), '0.5': gauge([5, '12m']), '1': gauge([5, '12m']), '+Inf': gauge([5, '12m']) }),
    expect: silent('5m30s', '11m'),
  },
];

const count = (labels: string) => `http_request_duration_seconds_count{${labels}}`;
const ok = 'service="task", route="/tasks", method="POST", status_code="201"';
const failed = 'service="task", route="/tasks", method="POST", status_code="500"';

const errorCases: AlertCase[] = [
  {
    alert: 'TaskmeshHigh5xxRatio',
    kind: 'fires',
    name: 'when 2% of the requests to task fail with 500, then the alert fires for task after 5 minutes, and failing probes do not count',
    series: [
      [count(ok), counter([980, '12m'])],
      [count(failed), counter([20, '12m'])],
      [count('service="auth", route="/auth/login", method="POST", status_code="200"'), counter([100, '12m'])],
      [count('service="auth", route="/health/ready", method="GET", status_code="503"'), counter([100, '12m'])],
    ],
    expect: [
      ...silent('1m', '5m'),
      {
        at: '5m30s',
        firing: [
          {
            labels: { service: 'task' },
            summary: 'task: more than 1% of requests fail with 5xx',
            description: 'More than 1% of the requests to task have answered 5xx for 5 minutes; over the last minute 2%.',
          },
        ],
      },
    ],
  },
  {
    alert: 'TaskmeshHigh5xxRatio',
    kind: 'under-threshold',
    name: 'when 0.9% of the requests fail, then nothing fires',
    series: [
      [count(ok), counter([991, '12m'])],
      [count(failed), counter([9, '12m'])],
    ],
    expect: silent('5m30s', '11m'),
  },
  {
    alert: 'TaskmeshHigh5xxRatio',
    kind: 'brief-spike',
    name: 'when every request fails for 2 minutes and then none does, then nothing fires',
    series: [
      [count(ok), counter([0, '2m'], [1000, '10m'])],
      [count(failed), counter([1000, '2m'], [0, '10m'])],
    ],
    expect: silent('2m', '5m30s', '8m', '11m'),
  },
  {
    alert: 'TaskmeshHigh5xxRatio',
    kind: 'no-data',
    name: 'when task serves no request (0 / 0), then nothing fires',
    series: [
      [count(ok), gauge([7, '12m'])],
      [count(failed), gauge([3, '12m'])],
    ],
    expect: silent('5m30s', '11m'),
  },
];

const lag = (partition: number) =>
  `kafka_consumer_lag{service="analytics", group="analytics", topic="task.events", partition="${partition}"}`;

const lagCases: AlertCase[] = [
  {
    alert: 'TaskmeshConsumerLagGrowing',
    kind: 'fires',
    name: 'when the lag of one partition grows by 2 every 15 s, then the alert fires for the group and topic after 10 minutes',
    series: [
      [lag(0), counter([2, '13m'])],
      [lag(1), gauge([10, '13m'])],
    ],
    expect: [
      ...silent('5m', '10m30s'),
      {
        at: '11m30s',
        firing: [
          {
            labels: { group: 'analytics', topic: 'task.events' },
            summary: 'Consumer group analytics keeps falling behind on task.events',
            // 10 on partition 1 and 2 × 46 samples on partition 0.
            description: 'The lag of analytics on task.events has grown for 10 minutes and is now 102 messages.',
          },
        ],
      },
    ],
  },
  {
    alert: 'TaskmeshConsumerLagGrowing',
    kind: 'under-threshold',
    name: 'when the lag stays at 50 without growing (a derivative of exactly 0), then nothing fires',
    series: [[lag(0), gauge([50, '25m'])]],
    expect: silent('11m', '24m'),
  },
  {
    alert: 'TaskmeshConsumerLagGrowing',
    kind: 'brief-spike',
    name: 'when the lag grows for 5 minutes and the consumer then catches up, then nothing fires',
    series: [[lag(0), `${counter([2, '5m'])} ${gauge([0, '15m'])}`]],
    expect: silent('5m', '10m', '15m', '19m'),
  },
  {
    alert: 'TaskmeshConsumerLagGrowing',
    kind: 'brief-spike',
    name: 'when the consumer falls behind for 3 minutes and catches up, over and over, then nothing fires',
    series: [[lag(0), Array.from({ length: 5 }, () => `${counter([3, '3m'])} ${gauge([0, '15s'])}`).join(' ')]],
    expect: silent('10m', '15m'),
  },
  {
    alert: 'TaskmeshConsumerLagGrowing',
    kind: 'no-data',
    name: 'when no consumer exposes its lag, then nothing fires',
    series: [],
    expect: silent('11m'),
  },
];

const deadLetters = 'analytics_dead_letters_total{service="analytics"}';

const deadLetterCases: AlertCase[] = [
  {
    alert: 'TaskmeshDeadLetters',
    kind: 'fires',
    name: 'when one event is dead-lettered at 5 minutes, then the alert fires at once and resolves 15 minutes later',
    series: [[deadLetters, `${gauge([0, '5m'])} ${gauge([1, '20m'])}`]],
    expect: [
      ...silent('4m45s'),
      {
        at: '6m',
        firing: [
          {
            labels: {},
            summary: 'Analytics sent events to its dead-letter topic',
            description: 'Events went to analytics.dlq in the last 15 minutes (about 1); they are not counted until replayed.',
          },
        ],
      },
      ...silent('21m'),
    ],
  },
  {
    alert: 'TaskmeshDeadLetters',
    kind: 'under-threshold',
    name: 'when the counter stays at 3, or drops to 0 because analytics restarted, then nothing fires',
    series: [
      [deadLetters, gauge([3, '20m'])],
      ['analytics_dead_letters_total{service="analytics", instance="restarted"}', `${gauge([3, '5m'])} ${gauge([0, '15m'])}`],
    ],
    expect: silent('16m', '19m'),
  },
  {
    alert: 'TaskmeshDeadLetters',
    kind: 'no-data',
    name: 'when analytics exposes no counter, then nothing fires',
    series: [],
    expect: silent('16m'),
  },
];

const backlog = 'task_outbox_backlog{service="task"}';
const published = 'task_outbox_published_total{service="task"}';

const outboxCases: AlertCase[] = [
  {
    alert: 'TaskmeshOutboxStuck',
    kind: 'fires',
    name: 'when 5 events wait and the relay publishes nothing after 2 minutes, then the alert fires 15 minutes after the last publish',
    series: [
      [backlog, gauge([5, '20m'])],
      [published, counter([1, '2m'], [0, '18m'])],
    ],
    expect: [
      ...silent('10m', '16m30s'),
      {
        at: '17m',
        firing: [
          {
            labels: {},
            summary: 'Task events are not being published',
            description:
              '5 task events are waiting and none has been published for 15 minutes: the relay is stuck or Kafka refuses writes.',
          },
        ],
      },
    ],
  },
  {
    alert: 'TaskmeshOutboxStuck',
    kind: 'under-threshold',
    name: 'when events always wait but one is published every 9 minutes, then nothing fires',
    series: [
      [backlog, gauge([5, '30m'])],
      [published, `${gauge([0, '15s'])} ${[1, 2, 3].map((n) => gauge([n, '9m'])).join(' ')} ${gauge([4, '2m45s'])}`],
    ],
    expect: silent('5m', '17m', '29m'),
  },
  {
    alert: 'TaskmeshOutboxStuck',
    kind: 'under-threshold',
    name: 'when a busy relay publishes 50 events every 15 s and 40 always wait, then nothing fires',
    series: [
      [backlog, gauge([40, '20m'])],
      [published, counter([50, '20m'])],
    ],
    expect: silent('5m', '17m'),
  },
  {
    alert: 'TaskmeshOutboxStuck',
    kind: 'brief-spike',
    name: 'when the relay stalls for 14 minutes with events waiting and then publishes again, then nothing fires',
    series: [
      [backlog, gauge([5, '25m'])],
      [published, counter([1, '2m'], [0, '14m'], [1, '9m'])],
    ],
    expect: silent('12m', '16m30s', '17m', '20m'),
  },
  {
    alert: 'TaskmeshOutboxStuck',
    kind: 'no-data',
    name: 'when task exposes neither gauge nor counter, then nothing fires',
    series: [],
    expect: silent('17m'),
  },
];

const breaker = (upstream: string, instance: string) =>
  `gateway_circuit_breaker_state{service="gateway", upstream="${upstream}", instance="${instance}"}`;

const breakerCases: AlertCase[] = [
  {
    alert: 'TaskmeshCircuitBreakerOpen',
    kind: 'fires',
    name: 'when one of two gateways holds the task breaker open, then the alert fires for task after 1 minute',
    series: [
      [breaker('task', 'gateway-a'), gauge([2, '3m'])],
      [breaker('task', 'gateway-b'), gauge([0, '3m'])],
      [breaker('auth', 'gateway-a'), gauge([0, '3m'])],
    ],
    expect: [
      ...silent('45s'),
      {
        at: '1m15s',
        firing: [
          {
            labels: { upstream: 'task' },
            summary: 'The gateway breaker for task is open',
            description: 'Requests to task are failed fast at the gateway: the upstream is down or too slow.',
          },
        ],
      },
    ],
  },
  {
    alert: 'TaskmeshCircuitBreakerOpen',
    kind: 'under-threshold',
    name: 'when the breaker stays half-open, then nothing fires',
    series: [[breaker('task', 'gateway-a'), gauge([1, '5m'])]],
    expect: silent('2m', '4m'),
  },
  {
    alert: 'TaskmeshCircuitBreakerOpen',
    kind: 'brief-spike',
    name: 'when the breaker opens for 45 s and then closes, then nothing fires',
    series: [[breaker('task', 'gateway-a'), `${gauge([2, '45s'])} ${gauge([1, '15s'])} ${gauge([0, '3m'])}`]],
    expect: silent('30s', '1m', '2m'),
  },
  {
    alert: 'TaskmeshCircuitBreakerOpen',
    kind: 'no-data',
    name: 'when no gateway exposes breaker states, then nothing fires',
    series: [],
    expect: silent('2m'),
  },
];

const up = (app: string, instance: string, job = 'taskmesh') => `up{job="${job}", app="${app}", instance="${instance}"}`;

const targetCases: AlertCase[] = [
  {
    alert: 'TaskmeshTargetDown',
    kind: 'fires',
    name: 'when task stops answering its scrape after a minute, then the alert fires for that target after 2 minutes',
    series: [
      [up('task', '10.0.0.7:3002'), `${gauge([1, '1m'])} ${gauge([0, '4m'])}`],
      [up('task', '10.0.0.8:3002'), gauge([1, '5m'])],
      [up('gateway', '10.0.0.9:8080'), gauge([1, '5m'])],
    ],
    expect: [
      ...silent('2m45s'),
      {
        at: '3m15s',
        firing: [
          {
            labels: { job: 'taskmesh', app: 'task', instance: '10.0.0.7:3002' },
            summary: 'task at 10.0.0.7:3002 does not answer its scrape',
            description:
              'Prometheus has not read /metrics of task at 10.0.0.7:3002 for 2 minutes: the process is down, hung or unreachable, and the other alerts cannot see it.',
          },
        ],
      },
    ],
  },
  {
    alert: 'TaskmeshTargetDown',
    kind: 'under-threshold',
    name: 'when every target of the platform answers, and only a target of another job fails, then nothing fires',
    series: [
      [up('task', '10.0.0.7:3002'), gauge([1, '5m'])],
      [up('node', '10.0.0.1:9100', 'node-exporter'), gauge([0, '5m'])],
    ],
    expect: silent('3m', '4m45s'),
  },
  {
    alert: 'TaskmeshTargetDown',
    kind: 'brief-spike',
    name: 'when a target misses its scrapes for 1 minute 45 s (a restart) and answers again, then nothing fires',
    series: [[up('task', '10.0.0.7:3002'), `${gauge([1, '1m'])} ${gauge([0, '1m45s'])} ${gauge([1, '3m'])}`]],
    expect: silent('2m', '3m', '5m'),
  },
  {
    alert: 'TaskmeshTargetDown',
    kind: 'no-data',
    name: 'when no target is known (pods gone from discovery), then nothing fires: Kubernetes reports missing replicas',
    series: [],
    expect: silent('3m'),
  },
];

/** Every case, by alert. */
export function alertCases(): AlertCase[] {
  return [...latencyCases, ...errorCases, ...lagCases, ...deadLetterCases, ...outboxCases, ...breakerCases, ...targetCases];
}

/**
 * The cases as a `promtool test rules` file, reading the rules from `ruleFile` (next to it).
 * Expected annotations are complete: promtool compares them exactly, templates rendered.
 */
export function promtoolRuleTests(ruleFile = 'alerts.yaml'): object {
  const rules = new Map<string, AlertRule>(alertGroups().flatMap((g) => g.rules.map((r) => [r.alert, r] as const)));
  return {
    rule_files: [ruleFile],
    evaluation_interval: `${STEP_SECONDS}s`,
    tests: alertCases().map((c) => {
      const rule = rules.get(c.alert);
      if (!rule) throw new Error(`a test case names ${c.alert}, which is no alert`);
      return {
        name: `${c.alert} [${c.kind}] ${c.name}`,
        interval: `${STEP_SECONDS}s`,
        input_series: c.series.map(([series, values]) => ({ series, values })),
        alert_rule_test: c.expect.map((e) => ({
          eval_time: e.at,
          alertname: c.alert,
          exp_alerts: e.firing.map((f) => ({
            exp_labels: { ...rule.labels, ...f.labels },
            exp_annotations: {
              summary: f.summary,
              description: f.description,
              runbook_url: rule.annotations.runbook_url,
              dashboard: rule.annotations.dashboard,
            },
          })),
        })),
      };
    }),
  };
}
